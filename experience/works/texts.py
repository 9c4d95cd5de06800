"""The rules of a text work (文字类): how its 字 are counted, and reading an uploaded file.

Pure functions over text and bytes: no request, no database. A work is typed in or
uploaded as .txt or .docx; either way it becomes one ``str`` that ``check_text`` judges.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile

import docx
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph
from flask_babel import lazy_gettext as _l

from experience.core.errors import RuleError
from experience.core.uploads import DOCX_MAX_TOTAL, MB, check_zip

#: 附件1 二.(一): a text work is at most 3,000 字
TEXT_MAX_CHARS = 3000
#: an uploaded file's bytes: a .docx carries its pictures and fonts, so it may be far larger
#: than its 3,000 字 (the same bound as any other attached document)
TEXT_FILE_MAX_BYTES = 20 * MB

#: shown wherever a count of 字 is, so that the submitter counts as we do
CHAR_COUNT_RULE = _l("Characters are counted without spaces and line breaks.")

MESSAGES = {
    "text_empty": _l("The text is empty. Please type or upload the work's text."),
    "text_too_long": _l(
        "The text has %(count)s characters; a text work may have at most %(limit)s "
        "(spaces and line breaks are not counted). Please shorten it by %(over)s and submit again."
    ),
    "text_file_type": _l(
        "Only .docx and .txt files can be read. Please save the work as .docx in Word or WPS "
        "(a .doc, .wps or .pdf file too) and upload that, or paste the text."
    ),
    "text_file_empty": _l("The file is empty. Please choose the file with the work's text."),
    "text_file_too_large": _l(
        "The file is larger than %(limit)s MB. Please remove pictures from the document or paste the text."
    ),
    "text_file_unreadable": _l(
        "This .txt file is not readable text. Please save it in Notepad as UTF-8 (or ANSI on a Chinese "
        "Windows) and upload it again, or paste the text."
    ),
    "not_docx": _l(
        "This file is not a real .docx document. Please open it in Word or WPS, save it as .docx and upload it again."
    ),
}

#: characters a text file never holds (tab, line and page breaks aside): their presence means
#: the bytes are something else that happened to decode
_BINARY = {"Cc"}
_TEXT_CONTROLS = set("\t\n\r\f\v\x1c\x1d\x1e\x85")

_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"


def count_chars(text: str) -> int:
    """字数: the characters other than whitespace (Unicode's: the full-width space U+3000
    and every kind of line break included)."""
    return sum(1 for c in text if not c.isspace())


def check_text(text: str) -> str:
    """The work's text, line breaks made uniform and outer whitespace trimmed, once it has
    between 1 and ``TEXT_MAX_CHARS`` 字.

    :raises RuleError: ``text_empty``, or ``text_too_long`` (``count``, ``limit``, ``over``).
    """
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    count = count_chars(text)
    if count == 0:
        raise RuleError("text_empty", MESSAGES["text_empty"])
    if count > TEXT_MAX_CHARS:
        raise RuleError(
            "text_too_long", MESSAGES["text_too_long"], count=count, limit=TEXT_MAX_CHARS, over=count - TEXT_MAX_CHARS
        )
    return text


def read_text_file(data: bytes, filename: str) -> str:
    """The text of an uploaded .txt or .docx, not yet judged (``check_text`` does that).

    A .txt may be UTF-8 (with or without the BOM Notepad writes), GBK/GB18030 (Notepad's
    "ANSI" on a Chinese Windows) or UTF-16 with its BOM (Notepad's "Unicode"). A .docx is
    bounded by ``core.uploads.check_zip`` before anything in it is unpacked; its body's
    paragraphs and table cells are read in order.

    :raises RuleError: ``text_file_type``, ``text_file_empty``, ``text_file_too_large``,
        ``text_file_unreadable``, ``not_docx`` or ``too_big_inside``.
    """
    extension = filename.rsplit(".", 1)[-1].lower() if "." in (filename or "") else ""
    if extension not in ("txt", "docx"):
        raise RuleError("text_file_type", MESSAGES["text_file_type"])
    if not data:
        raise RuleError("text_file_empty", MESSAGES["text_file_empty"])
    if len(data) > TEXT_FILE_MAX_BYTES:
        raise RuleError("text_file_too_large", MESSAGES["text_file_too_large"], limit=TEXT_FILE_MAX_BYTES // MB)
    text = _read_docx(data) if extension == "docx" else _decode_txt(data)
    return unicodedata.normalize("NFC", text)


def _decode_txt(data: bytes) -> str:
    # UTF-8 before GB18030: GB18030 would accept many UTF-8 byte sequences as the wrong
    # characters, while strict UTF-8 almost never accepts GBK text by accident.
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    encodings = ("utf-16",) if utf16 else ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if not any(unicodedata.category(c) in _BINARY and c not in _TEXT_CONTROLS for c in text):
            return text
    raise RuleError("text_file_unreadable", MESSAGES["text_file_unreadable"])


def _read_docx(data: bytes) -> str:
    not_docx = RuleError("not_docx", MESSAGES["not_docx"])
    try:
        names = set(check_zip(data, max_total=DOCX_MAX_TOTAL))
    except zipfile.BadZipFile as e:
        raise not_docx from e
    if "[Content_Types].xml" not in names or "word/document.xml" not in names:
        raise not_docx
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 — a damaged package fails in many ways (a missing
        # part is a KeyError, a stray element an AttributeError, bad XML an XMLSyntaxError):
        # each means the same to the submitter
        raise not_docx from e
    lines = []
    # Every paragraph of the body in order, table cells' included (a merged cell is one
    # w:tc in the XML, so it is read once). A text box is written twice, as the drawing and
    # as a fallback for old readers: only the drawing's copy counts.
    for p in document.element.body.iter(qn("w:p")):
        if any(a.tag == _MC_FALLBACK for a in p.iterancestors()):
            continue
        lines.append(Paragraph(p, document).text)
    return "\n".join(lines)
