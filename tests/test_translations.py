"""The interface is Chinese: every message in the code has a reviewed translation, and the
compiled catalogue the app loads says the same as the one people edit."""

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from experience.config import ROOT

CATALOG = ROOT / "experience" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"


def _source_messages() -> set[str]:
    """What `make translations` extracts, by the same mapping (babel.cfg)."""
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    found = set()
    for folder, method in (("experience", "python"), ("templates", "jinja2")):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, [("**.py", method)] if method == "python" else [("**.html", method)], keywords=keywords
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_has_a_chinese_translation():
    with open(CATALOG / "messages.po", "rb") as f:
        catalog = read_po(f)
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    missing = sorted(_source_messages() - translated)
    assert not missing, f"untranslated (run `make translations` and translate): {missing[:20]}"


def test_compiled_catalogue_matches_the_po():
    def key(m):
        return (m.id if isinstance(m.id, str) else tuple(m.id)), (
            m.string if isinstance(m.string, str) else tuple(m.string)
        )

    with open(CATALOG / "messages.po", "rb") as f:
        po = dict(key(m) for m in read_po(f) if m.id and not m.fuzzy)
    with open(CATALOG / "messages.mo", "rb") as f:
        mo = dict(key(m) for m in read_mo(f) if m.id)
    assert po == mo, "run `make translations` (pybabel compile) after editing the .po"
