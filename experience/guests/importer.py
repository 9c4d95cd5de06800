"""Guest lists (邀请名单) uploaded by province staff, as .xlsx or .csv: read, clean, check.

Pure functions: no database, no request. The view reads the upload, calls
:func:`parse_guest_file`, then :func:`mark_duplicates` with the guests already on the
event's list, shows the rows with their messages, and saves the rows that are ``ok``.

Real files are messy (a title row above the header, full-width digits, phones stored as
numbers, GBK-encoded CSV, categories written with their level such as 市政协委员). What is
safe to normalise is normalised silently; the rest is reported on its row, by the row
number Excel or WPS shows, so staff can find and fix it in their own file.

Every message on a row is a :class:`RowIssue`: a stable ``code`` (for code and tests)
plus a translated text (``str(issue)``) for people.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from experience.core.errors import RuleError
from experience.core.phone import normalize_phone
from experience.core.uploads import MB, check_zip
from experience.events.models import GuestCategory
from experience.guests.models import Salutation

LEVELS = ("national", "province", "city", "county")  # 全国 / 省 / 市 / 县 (区 and 县 both: county)

#: Categories whose guests hold a seat at some level (人大代表, 政协委员).
LEVELLED = frozenset({GuestCategory.NPC_DEPUTY, GuestCategory.CPPCC_MEMBER})

MAX_ROWS = 5000
#: The header must be within the first rows; title rows above it are common.
HEADER_SEARCH_ROWS = 10
MAX_LENGTHS = {"name": 60, "organisation": 120, "title": 60, "note": 500}

# Limits on reading, so that no upload costs much more than a real list: an .xlsx of
# 5,000 guests in the template's columns unpacks to about 3 MB (read in about a second),
# and its longest cell is a note.
#: What the parts of an .xlsx may unpack to together, judged from the zip's directory
#: before openpyxl opens it. openpyxl reads sheet XML at about 2–3 MB a second (measured;
#: the shared strings it holds in memory whole), so this bounds a request to seconds.
XLSX_MAX_TOTAL = 20 * MB
#: Columns read from each row: the template has 7, other systems' exports a few dozen.
MAX_COLUMNS = 50
#: Characters a cell of the list may hold (the longest field, the note, allows 500): a
#: longer one makes its row an error, quoted by its start only and never cleaned whole.
MAX_CELL_CHARS = 2000
#: A header is a few words; a longer cell is no header and is not normalised to find out.
_HEADER_CELL_CHARS = 100

MESSAGES = {
    # Whole-file problems, raised as RuleError(code, message).
    "wrong_type": _l(
        "Please upload the guest list as an .xlsx or .csv file. In Excel or WPS "
        "choose “Save as” and pick “Excel workbook (.xlsx)”."
    ),
    "unreadable": _l(
        "The file could not be read. It may be damaged or saved in an unusual format; "
        "please save it again as .xlsx and upload that."
    ),
    "no_header": _l(
        "No header row found in the first %(rows)s rows. The list needs at least the "
        "columns 姓名 (name) and 类别 (category); the template shows the layout."
    ),
    "too_many_rows": _l("The list has more than %(limit)s guests. Please split it into several files."),
    "too_big_inside": _l(
        "The workbook unpacks to far more than a guest list needs (over %(limit)s MB, or too many or "
        "unusually tightly packed parts), so it was not read. Please copy the guest rows into the template "
        "and upload that."
    ),
    "csv_cell_too_long": _l(
        "Row %(line)s has a cell of more than %(limit)s characters, so the file was not read. Often a "
        'quotation mark (") that is never closed makes the rest of the file one cell; please check that row.'
    ),
    # Problems on one row.
    "name_missing": _l("The name is missing."),
    "too_long": _l("%(field)s is longer than %(limit)s characters."),
    "cell_too_long": _l(
        "%(field)s holds more than %(limit)s characters, far more than a guest list needs; it begins “%(value)s”."
    ),
    "category_missing": _l("The category is missing. If cells were merged, please fill in every row."),
    "category_unknown": _l(
        "Unknown category “%(value)s”. Use one of: 人大代表, 政协委员, 消费者, "
        "新闻媒体, 服务业企业代表, 行业协会代表, 其他."
    ),
    "level_unknown": _l(
        "Level “%(value)s” is not one of national, provincial, city or county level; the guest is imported "
        "without a level."
    ),
    "salutation_unknown": _l(
        "Salutation “%(value)s” is neither 先生 nor 女士; the guest is imported without a salutation."
    ),
    "level_unclear": _l("The level in “%(value)s” is not recognised; the guest is imported without a level."),
    "level_conflict": _l("The level column says “%(column)s” but the category says “%(category)s”."),
    "level_not_applicable": _l("Only NPC deputies and CPPCC members have a level; “%(value)s” is ignored."),
    "phone_invalid": _l("“%(value)s” is not a valid mobile number."),
    "phone_landline": _l("“%(value)s” is a landline; please give the guest's mobile number."),
    "phone_shortened": _l(
        "Excel shortened this phone number to “%(value)s”. Format the column as "
        "text, type the number again and upload the file again."
    ),
    "example_row": _l("This is the template's example row; delete it unless this guest is real."),
    "duplicate_phone": _l("A guest with this mobile number is already on the list."),
    "duplicate_person": _l("A guest with this name and organisation is already on the list."),
    "duplicate_in_file": _l("Appears twice in this file, first at line %(line)s."),
    "same_name": _l(
        "A guest with the same name is already on the list (%(organisation)s); please check it is not the same person."
    ),
    "same_name_in_file": _l("The same name is also at line %(line)s; please check it is not the same person."),
}

FIELD_LABELS = {
    "name": _l("Name"),
    "salutation": _l("Salutation"),
    "category": _l("Category"),
    "level": _l("Level"),
    "organisation": _l("Organisation"),
    "title": _l("Position"),
    "phone": _l("Mobile"),
    "note": _l("Note"),
}


@dataclass(frozen=True)
class RowIssue:
    """One message on an imported row: a stable ``code`` and its parameters."""

    code: str
    params: dict = field(default_factory=dict)

    @property
    def message(self):
        return MESSAGES[self.code]

    def __str__(self) -> str:
        return str(self.message) % self.params if self.params else str(self.message)


@dataclass
class ImportRow:
    """One guest row of the file, cleaned; imported only when it is ``ok``."""

    #: the row number as Excel/WPS shows it (1-based, title and header rows counted)
    line: int
    name: str
    category: GuestCategory | None
    #: one of LEVELS, only for npc_deputy / cppcc_member
    level: str | None
    organisation: str
    #: 职务
    title: str
    #: a normalised 11-digit mobile, or None when the cell was blank
    phone: str | None
    note: str
    #: RowIssues that keep the row from being imported
    errors: list = field(default_factory=list)
    #: RowIssues worth a look; the row is imported
    warnings: list = field(default_factory=list)
    #: 称谓 as the file gives it (先生 / 女士), never guessed
    salutation: Salutation | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


# -- Vocabulary ----------------------------------------------------------------------------
# Keys are compared after match_key(): NFKC, no whitespace, casefolded.

HEADERS = {
    # field: synonyms, best first (when two columns match a field, the better synonym wins,
    # so a 手机 column beats a 联系电话 column that may hold a landline).
    "name": ("姓名", "名字", "嘉宾姓名", "name", "fullname"),
    "salutation": ("称谓", "称呼", "salutation", "formofaddress"),
    "category": ("类别", "嘉宾类别", "身份", "嘉宾身份", "人员类别", "category"),
    "level": ("级别", "层级", "level"),
    # 单位及职务 and the like hold both in one cell: kept whole as the organisation,
    # since splitting "某某局副局长" into unit and title cannot be done reliably.
    "organisation": (
        "单位",
        "工作单位",
        "所在单位",
        "单位名称",
        "单位及职务",
        "单位和职务",
        "单位/职务",
        "单位、职务",
        "单位职务",
        "工作单位及职务",
        "工作单位和职务",
        "工作单位/职务",
        "organisation",
        "organization",
    ),
    "title": ("职务", "职位", "title", "position", "jobtitle"),
    "phone": (
        "手机号码",
        "手机号",
        "手机",
        "mobile",
        "mobilephone",
        "phone",
        "phonenumber",
        "联系电话",
        "电话",
        "联系方式",
        "tel",
    ),
    "note": ("备注", "note", "notes", "remark", "remarks"),
}
_HEADER_LOOKUP = {word: (name, rank) for name, words in HEADERS.items() for rank, word in enumerate(words)}

_CATEGORY_WORDS = {
    GuestCategory.NPC_DEPUTY: ("人大代表", "npcdeputy", "npcdeputies"),
    GuestCategory.CPPCC_MEMBER: ("政协委员", "cppccmember", "cppccmembers"),
    GuestCategory.CONSUMER: ("消费者", "消费者代表", "群众", "consumer", "consumers"),
    GuestCategory.MEDIA: ("新闻媒体", "媒体", "记者", "媒体记者", "新闻记者", "media", "journalist", "journalists"),
    GuestCategory.ENTERPRISE: ("服务业企业代表", "企业代表", "enterprise", "serviceenterpriserepresentatives"),
    GuestCategory.ASSOCIATION: ("行业协会代表", "协会代表", "association", "industryassociationrepresentatives"),
    GuestCategory.OTHER: ("其他", "其它", "other", "others"),
}
_CATEGORY_LOOKUP = {word: cat for cat, words in _CATEGORY_WORDS.items() for word in words}
# The enum's own values and names too ("npc_deputy", "NPC_DEPUTY"), as a system export has them.
_CATEGORY_LOOKUP.update({c.value.replace("_", ""): c for c in GuestCategory})

_LEVEL_WORDS = {
    "national": ("全国", "全国级", "国家", "国家级", "national"),
    "province": ("省", "省级", "自治区", "province", "provincial"),
    "city": ("市", "市级", "地市", "地市级", "地级", "地级市", "city"),
    # 区 (a city district) sits at county level.
    "county": ("县", "县级", "区", "区级", "县区", "区县", "县(区)", "county", "district"),
}
_LEVEL_LOOKUP = {word: level for level, words in _LEVEL_WORDS.items() for word in words}

_SALUTATION_WORDS = {
    Salutation.MR: ("先生", "mr", "mister"),
    Salutation.MS: ("女士", "ms", "mrs", "miss"),
}
_SALUTATION_LOOKUP = {word: s for s, words in _SALUTATION_WORDS.items() for word in words}

# 市政协委员, 全国人大代表, 人大代表(省级): a levelled category with its level before or after it.
_LEVELLED_CATEGORY = re.compile(r"(?P<before>.*?)(?P<word>人大代表|政协委员)(?:\((?P<after>.+)\))?")

# The example row of the template, by column; a row with its name and mobile is flagged so it
# is not imported by mistake.
_EXAMPLE = {
    "姓名": "张三",
    "称谓": "",
    "类别": "人大代表",
    "级别": "省级",
    "单位": "某某省某某局",
    "职务": "副局长",
    "手机号": "13800000000",
    "备注": "示例行，填写前请删除",
}


# -- Reading the file ----------------------------------------------------------------------


class GuestFile(list):
    """The rows of an uploaded guest list, and the header cells the import leaves out
    (shown in the preview, so that no column is dropped without anyone seeing it)."""

    def __init__(self, rows=(), ignored=()):
        super().__init__(rows)
        self.ignored: list[str] = list(ignored)


def parse_guest_file(data: bytes, filename: str) -> GuestFile:
    """The guest rows of an uploaded .xlsx or .csv, each with its errors and warnings.

    Blank rows are skipped; every other row after the header comes back, ``ok`` or not.
    Read within limits (:data:`XLSX_MAX_TOTAL`, :data:`MAX_COLUMNS`, :data:`MAX_CELL_CHARS`,
    :data:`MAX_ROWS`); the caller bounds the size of ``data`` itself.

    :param filename: only consulted for text files: a file whose content is not a
        workbook is read as CSV when it is called ``*.csv``.
    :raises RuleError: ``wrong_type``, ``unreadable``, ``too_big_inside``, ``no_header``,
        ``too_many_rows``, ``csv_cell_too_long``.
    """
    kind = _sniff(data, filename)
    if kind == "xlsx":
        return _parse_xlsx(data)
    return _parse_csv(data)


def _sniff(data: bytes, filename: str) -> str:
    # By content first: people rename files, and "export to Excel" features of other
    # systems produce all sorts of things called .xls or .xlsx.
    if data[:4] == b"PK\x03\x04":
        try:
            # Nothing is unpacked before the zip's directory shows it stays within bounds.
            names = set(check_zip(data, max_total=XLSX_MAX_TOTAL))
        except zipfile.BadZipFile:
            raise RuleError("unreadable", MESSAGES["unreadable"]) from None
        except RuleError:  # too_big_inside, said for a guest list
            raise RuleError("too_big_inside", MESSAGES["too_big_inside"], limit=XLSX_MAX_TOTAL // MB) from None
        if "xl/workbook.xml" in names:
            return "xlsx"
        raise RuleError("wrong_type", MESSAGES["wrong_type"])  # a .docx, a .zip, …
    if not (filename or "").strip().lower().endswith(".csv"):
        raise RuleError("wrong_type", MESSAGES["wrong_type"])
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "csv"  # UTF-16, as Excel writes "Unicode text"
    if b"\x00" in data:
        # Binary content called .csv: an old .xls or an encrypted .xlsx (both OLE2 files,
        # which openpyxl cannot read), a picture, …
        raise RuleError("wrong_type", MESSAGES["wrong_type"])
    return "csv"


def _parse_xlsx(data: bytes) -> list[ImportRow]:
    # openpyxl warns about parts it drops (WPS's styles, extensions, data validation in
    # some files); none of that matters for reading values, and a warning must not turn
    # into an error page. (catch_warnings is process-wide; the reading is short.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds on damaged files
            raise RuleError("unreadable", MESSAGES["unreadable"]) from exc
        try:
            # The active sheet first: that is the one the person saw last. Then the
            # others, in case the file was saved with the 说明 sheet in front.
            sheets = [ws for ws in wb.worksheets if ws is wb.active]
            sheets += [ws for ws in wb.worksheets if ws is not wb.active]
            for ws in sheets:
                # The dimension stored in the file is sometimes wrong (written by other
                # tools); without this openpyxl would cut rows or columns off.
                ws.reset_dimensions()
                # max_col: the cells past it are parsed by openpyxl but never handed over.
                rows = _parse_table(_guarded(ws.iter_rows(values_only=True, max_col=MAX_COLUMNS)))
                if rows is not None:
                    return rows
        finally:
            wb.close()
    raise RuleError("no_header", MESSAGES["no_header"], rows=HEADER_SEARCH_ROWS)


def _parse_csv(data: bytes) -> list[ImportRow]:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    # One CSV record is one row in Excel even when a cell holds a line break, so counting
    # records (not text lines) gives the row number the person sees.
    rows = _parse_table(_guarded(_records(reader)))
    if rows is None:
        raise RuleError("no_header", MESSAGES["no_header"], rows=HEADER_SEARCH_ROWS)
    return rows


def _decode(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise RuleError("unreadable", MESSAGES["unreadable"]) from None
    # UTF-8 (with or without the BOM Excel's "CSV UTF-8" writes), else the Chinese Windows
    # default. Excel and WPS on Chinese Windows save plain "CSV" in the ANSI code page,
    # which is GBK; GB18030 is its superset, so it reads every GBK file the same and also
    # names with rare characters (生僻字) that GBK lacks. UTF-8 is tried first because
    # Chinese text in GBK is almost never valid UTF-8, while the reverse decodes to junk.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RuleError("unreadable", MESSAGES["unreadable"])


def _records(reader) -> Iterator[list[str]]:
    """The CSV reader's records, cut to :data:`MAX_COLUMNS`. The csv module refuses a cell
    over its own field limit (128 K characters, process-wide, left as it is) by raising;
    that is turned into a message naming the row, as it is mostly an unclosed quote."""
    line = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field limit" not in str(exc):
                raise
            raise RuleError(
                "csv_cell_too_long", MESSAGES["csv_cell_too_long"], line=line + 1, limit=MAX_CELL_CHARS
            ) from None
        line += 1
        yield record[:MAX_COLUMNS]


def _delimiter(text: str) -> str:
    """Comma, unless the first lines have more tabs or semicolons (European-locale Excel)."""
    sample = [line for line in text.splitlines()[: HEADER_SEARCH_ROWS + 5] if line.strip()]
    counts = {d: sum(line.count(d) for line in sample) for d in (",", "\t", ";")}
    return max(counts, key=counts.get)  # on a tie the first, the comma


def _guarded(rows: Iterable[Sequence]) -> Iterator[Sequence]:
    """``rows``, with a failure while reading (a damaged sheet, a broken CSV) turned into
    ``unreadable``; errors in our own code below are not hidden this way."""
    it = iter(rows)
    while True:
        try:
            row = next(it)
        except StopIteration:
            return
        except RuleError:
            raise
        except Exception as exc:
            raise RuleError("unreadable", MESSAGES["unreadable"]) from exc
        yield row


def _parse_table(rows: Iterable[Sequence]) -> GuestFile | None:
    """The guest rows of one sheet, or None when it has no header in its first rows."""
    columns = None
    result = GuestFile()
    for line, values in enumerate(rows, start=1):
        if columns is None:
            if line > HEADER_SEARCH_ROWS:
                return None
            columns = _header_columns(values)
            if columns is not None:
                used = set(columns.values())
                result.ignored = [_excerpt(v) for i, v in enumerate(values) if i not in used and _excerpt(v)]
            continue
        cells = {name: values[i] if i < len(values) else None for name, i in columns.items()}
        # A cell over the limit is only quoted, never cleaned whole (that copies it a few times).
        huge = {name for name, v in cells.items() if isinstance(v, str) and len(v) > MAX_CELL_CHARS}
        texts = {name: _excerpt(v) if name in huge else _text(v) for name, v in cells.items()}
        # Blank: every recognised column empty. Ignoring the others matters for templates
        # with a 序号 column numbered down to row 100.
        if not any(texts.values()):
            continue
        # Lists pasted together often repeat the header further down.
        if _header_columns(values) is not None:
            continue
        if len(result) >= MAX_ROWS:
            raise RuleError("too_many_rows", MESSAGES["too_many_rows"], limit=MAX_ROWS)
        result.append(_build_row(line, texts, huge))
    return result if columns is not None else None


def _header_columns(values: Sequence) -> dict[str, int] | None:
    """Field name → column index, when ``values`` is a header row (it has name and category)."""
    found: dict[str, tuple[int, int]] = {}  # field → (rank, index)
    for index, value in enumerate(values):
        if value is None or (isinstance(value, str) and len(value) > _HEADER_CELL_CHARS):
            continue
        # "手机号码(必填)", "*姓名", "姓 名": the words matter, not the decoration.
        word = re.sub(r"\(.*?\)|[*:]", "", match_key(str(value)))
        match = _HEADER_LOOKUP.get(word)
        if match is None:
            continue
        name, rank = match
        if name not in found or rank < found[name][0]:
            found[name] = (rank, index)
    if "name" not in found or "category" not in found:
        return None
    return {name: index for name, (rank, index) in found.items()}


# -- Cleaning one row ----------------------------------------------------------------------

# Full-width digits and Latin letters (and the ideographic space) to ASCII. Not full NFKC:
# that would also turn Chinese punctuation in "某某（集团）有限公司，" into ASCII and ① into 1,
# changing text people typed on purpose. Keys for comparing use full NFKC (see _key).
_NARROW = {
    cp: cp - 0xFEE0 for r in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A)) for cp in range(r[0], r[1] + 1)
} | {0x3000: 0x20}
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CJK = r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<={_CJK})\s+(?={_CJK})")


def _text(value) -> str:
    """A cell as clean text: full-width digits, letters and spaces made ASCII, invisible
    characters removed, runs of whitespace made one space, trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # Excel keeps every number as a double: a phone typed into a number cell comes
        # back as 13812341234.0. Doubles hold integers exactly up to 2**53, so int() is safe.
        value = int(value)
    text = str(value).translate(_NARROW)
    # Text pasted from web pages and chat apps carries zero-width characters.
    text = _INVISIBLE.sub("", text)
    # Kept verbatim, never evaluated: a cell reading "=1+1" is the text "=1+1".
    return " ".join(text.split())


def _clean_name(text: str) -> str:
    # Chinese lists pad two-character names to line up with three-character ones
    # ("王　五"); the space is not part of the name. Spaces in "John Smith" stay.
    return _SPACE_BETWEEN_CJK.sub("", text)


def match_key(text: str | None) -> str:
    """For comparing: NFKC, casefolded, all whitespace removed ("北京 市场监管局" is
    "北京市场监管局", "王　五" is "王五")."""
    return "".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def _short(text: str, limit: int = 40) -> str:
    """A cell quoted in a message, cut so one silly cell does not flood the page."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _excerpt(value) -> str:
    """The start of a cell of any length, cleaned and cut as :func:`_short` cuts."""
    return _short(_text(value[:200] if isinstance(value, str) else value))


def _build_row(line: int, texts: dict[str, str], huge: Iterable[str] = ()) -> ImportRow:
    """The row of ``texts``; ``huge`` names the cells over :data:`MAX_CELL_CHARS`, whose
    text is only their excerpt."""
    if huge:
        # Refused as it is: what such a row means is anyone's guess, so nothing else is checked.
        return ImportRow(
            line=line,
            name=_short(texts.get("name", "")),
            category=None,
            level=None,
            organisation=_short(texts.get("organisation", "")),
            title=_short(texts.get("title", "")),
            phone=None,
            note=_short(texts.get("note", "")),
            errors=[
                RowIssue("cell_too_long", {"field": label, "limit": MAX_CELL_CHARS, "value": texts[name]})
                for name, label in FIELD_LABELS.items()
                if name in huge
            ],
        )
    errors: list[RowIssue] = []
    warns: list[RowIssue] = []

    name = _clean_name(texts.get("name", ""))
    if not name:
        errors.append(RowIssue("name_missing"))
    values = {"name": name, **{k: texts.get(k, "") for k in ("organisation", "title", "note")}}
    for field_name, limit in MAX_LENGTHS.items():
        if len(values[field_name]) > limit:
            errors.append(RowIssue("too_long", {"field": FIELD_LABELS[field_name], "limit": limit}))
            # the row is not imported; the preview shows the start of the text, not all of it
            values[field_name] = _short(values[field_name])

    category, level = _category_and_level(texts.get("category", ""), texts.get("level", ""), errors, warns)
    phone = _phone(texts.get("phone", ""), errors)
    salutation = _salutation(texts.get("salutation", ""), warns)

    if (name, phone) == (_EXAMPLE["姓名"], _EXAMPLE["手机号"]):
        warns.append(RowIssue("example_row"))
    return ImportRow(
        line=line,
        name=values["name"],
        category=category,
        level=level,
        organisation=values["organisation"],
        title=values["title"],
        phone=phone,
        note=values["note"],
        errors=errors,
        warnings=warns,
        salutation=salutation,
    )


def _salutation(text: str, warns: list) -> Salutation | None:
    """先生 / 女士 from the salutation column; anything else is dropped with a warning."""
    if not text:
        return None
    found = _SALUTATION_LOOKUP.get(match_key(text).rstrip("."))
    if found is None:
        warns.append(RowIssue("salutation_unknown", {"value": _short(text)}))
    return found


def _category_and_level(category_text: str, level_text: str, errors: list, warns: list):
    """(GuestCategory | None, level | None); problems appended to ``errors``/``warns``."""
    if not category_text:
        errors.append(RowIssue("category_missing"))
        return None, None
    parsed = _parse_category(category_text)
    if parsed is None:
        errors.append(RowIssue("category_unknown", {"value": _short(category_text)}))
        return None, None
    category, from_category, unclear = parsed
    if category not in LEVELLED:
        if level_text:
            warns.append(RowIssue("level_not_applicable", {"value": _short(level_text)}))
        return category, None
    from_column = None
    if level_text:
        from_column = _LEVEL_LOOKUP.get(match_key(level_text))
        if from_column is None:
            # 乡镇 deputies exist too; the guest is still welcome, only the level is dropped.
            warns.append(RowIssue("level_unknown", {"value": _short(level_text)}))
    if from_column and from_category and from_column != from_category:
        errors.append(RowIssue("level_conflict", {"column": _short(level_text), "category": _short(category_text)}))
        return category, None
    if unclear and not from_column:
        # 北京市人大代表, 第十四届全国人大代表: the category is clear, the level is not.
        warns.append(RowIssue("level_unclear", {"value": _short(category_text)}))
    return category, from_column or from_category


def _parse_category(category_text: str):
    """(category, the level written into it, whether that level is unclear), or None.
    市政协委员 gives the level 市; 北京市人大代表 names a level no one can read."""
    key = match_key(category_text)
    category = _CATEGORY_LOOKUP.get(key.replace("_", "").replace("-", ""))
    if category is not None:
        return category, None, False
    m = _LEVELLED_CATEGORY.fullmatch(key)
    if m is None:
        return None
    if m["before"] and m["after"]:
        return _CATEGORY_LOOKUP[m["word"]], None, True
    from_category = _LEVEL_LOOKUP.get(m["before"] or m["after"])
    return _CATEGORY_LOOKUP[m["word"]], from_category, from_category is None


# 1.3812341234E+10: a phone that went through Excel's number formatting.
_SCIENTIFIC = re.compile(r"(\d)\.(\d+)e\+?(\d+)", re.IGNORECASE)


def _phone(text: str, errors: list) -> str | None:
    """The normalised mobile of a phone cell, None when blank or wrong (an error added)."""
    if not text:
        return None
    digits = text
    m = _SCIENTIFIC.fullmatch(text)
    if m:
        # Excel writes a long number in a narrow cell as 1.38123E+10, dropping digits:
        # 13812300000 would look like a valid mobile, so it is only accepted when the
        # mantissa still holds every digit of the number.
        mantissa, exponent = m[1] + m[2], int(m[3])
        if len(mantissa) != exponent + 1:
            errors.append(RowIssue("phone_shortened", {"value": _short(text)}))
            return None
        digits = mantissa
    elif re.fullmatch(r"\d+\.0+", text):
        digits = text.split(".")[0]  # a float written out as text by some exporter
    phone = normalize_phone(digits)
    if phone is None:
        errors.append(RowIssue("phone_invalid", {"value": _short(text)}))
        return None
    if "-" in phone:
        # normalize_phone also accepts landlines; guests are reached on their mobiles.
        errors.append(RowIssue("phone_landline", {"value": _short(text)}))
        return None
    return phone


# -- Duplicates ----------------------------------------------------------------------------


def mark_duplicates(rows: list[ImportRow], existing: list[tuple[str, str, str | None]]) -> None:
    """Add duplicate errors and same-name warnings to ``rows``, in place. Call it once,
    on freshly parsed rows.

    A duplicate is the same mobile, or the same name and organisation (trimmed, NFKC,
    case-insensitive); it is an error. The same name with another organisation is only a
    warning: 张伟 is the most common name in China. A blank organisation makes a duplicate
    only when neither side has a mobile either: nothing then tells the two apart, and
    re-importing the same file must not double its rows (the message asks for a unit).

    Only rows without errors count as the first of a pair, so when the first copy is
    refused for another reason, the second can still be imported.

    :param existing: (name, organisation, phone) of guests already on the event's list.
    """
    phones, people, names = _index_existing(existing)
    seen_phones: dict[str, int] = {}
    seen_people: dict[tuple[str, str], int] = {}
    seen_names: dict[str, int] = {}
    for row in rows:
        name_key, org_key = match_key(row.name), match_key(row.organisation)
        person = (name_key, org_key) if name_key and (org_key or not row.phone) else None
        if error := _duplicate(row.phone, person, phones, people, seen_phones, seen_people):
            row.errors.append(error)
        elif name_key in names:
            row.warnings.append(RowIssue("same_name", {"organisation": _short(names[name_key]) or "—"}))
        elif name_key in seen_names:
            row.warnings.append(RowIssue("same_name_in_file", {"line": seen_names[name_key]}))
        if row.ok and name_key:
            if row.phone:
                seen_phones.setdefault(row.phone, row.line)
            if person:
                seen_people.setdefault(person, row.line)
            seen_names.setdefault(name_key, row.line)


def _duplicate(phone, person, phones, people, seen_phones, seen_people) -> RowIssue | None:
    """The duplicate error of a row: a listed guest first, then an earlier line of the file."""
    if phone and phone in phones:
        return RowIssue("duplicate_phone")
    if person and person in people:
        return RowIssue("duplicate_person")
    if phone and phone in seen_phones:
        return RowIssue("duplicate_in_file", {"line": seen_phones[phone]})
    if person and person in seen_people:
        return RowIssue("duplicate_in_file", {"line": seen_people[person]})
    return None


def _index_existing(existing: list[tuple[str, str, str | None]]):
    """The mobiles, (name, organisation) pairs and names of the guests already listed."""
    phones: set[str] = set()
    people: set[tuple[str, str]] = set()
    names: dict[str, str] = {}  # name key → an organisation with that name, for the message
    for name, organisation, phone in existing:
        name_key, org_key = match_key(name), match_key(organisation)
        normalised = normalize_phone(phone or "")
        if normalised:
            phones.add(normalised)
        if name_key and (org_key or not normalised):
            people.add((name_key, org_key))
        if name_key:
            names.setdefault(name_key, organisation or "")
    return phones, people, names


# -- The template --------------------------------------------------------------------------
# The file is a data format shared by every province, so its Chinese headers and notes are
# fixed here rather than translated with the interface.

TEMPLATE_TITLE = "服务认证体验活动邀请名单"
TEMPLATE_HEADER = tuple(_EXAMPLE)
_TEMPLATE_WIDTHS = (14, 8, 18, 10, 36, 20, 16, 36)
_TEMPLATE_CATEGORIES = ("人大代表", "政协委员", "消费者", "新闻媒体", "服务业企业代表", "行业协会代表", "其他")
#: the levels as the guest form names them (models.LEVEL_LABELS in Chinese): one wording everywhere
_TEMPLATE_LEVELS = ("全国", "省级", "市级", "县级")
_TEMPLATE_SALUTATIONS = ("先生", "女士")
_TEMPLATE_NOTES = (
    ("栏目", "说明"),
    ("姓名", f"必填，不超过{MAX_LENGTHS['name']}字。"),
    (
        "称谓",
        "选填，可填：" + "、".join(_TEMPLATE_SALUTATIONS) + "。印在邀请函的姓名之后；不填则只印姓名。"
        "人大代表、政协委员在邀请函上称“代表”“委员”，无需填写。",
    ),
    (
        "类别",
        "必填，可填：" + "、".join(_TEMPLATE_CATEGORIES) + "。人大代表、政协委员可连同级别一起填写，"
        "如“全国人大代表”“省人大代表”“市政协委员”“县政协委员”“区人大代表”。",
    ),
    (
        "级别",
        "选填，仅人大代表、政协委员填写：" + "、".join(_TEMPLATE_LEVELS) + "（区级的填“县级”）。"
        "与类别中写明的级别不一致时，该行不予导入。",
    ),
    ("单位", f"选填，不超过{MAX_LENGTHS['organisation']}字。"),
    ("职务", f"选填，不超过{MAX_LENGTHS['title']}字。"),
    ("手机号", "选填，须为11位手机号码，不接受座机号码。请保持此列为“文本”格式，以免号码被显示为科学计数法。"),
    ("备注", f"选填，不超过{MAX_LENGTHS['note']}字。"),
    (
        "其他",
        f"标题行可保留，空行将被跳过；每个文件最多{MAX_ROWS}人。同一手机号，或姓名与单位均相同，"
        "视为重复，不予导入。导入前请删除示例行。",
    ),
)


def template_xlsx() -> bytes:
    """The downloadable guest-list template: title, header, one example row, and a 说明 sheet."""
    wb = Workbook()
    ws = wb.active
    ws.title = "邀请名单"
    ws.append([TEMPLATE_TITLE])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(TEMPLATE_HEADER))
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append(list(TEMPLATE_HEADER))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    ws.append(list(_EXAMPLE.values()))
    letter = {name: get_column_letter(i) for i, name in enumerate(TEMPLATE_HEADER, start=1)}
    for name, width in zip(TEMPLATE_HEADER, _TEMPLATE_WIDTHS, strict=True):
        ws.column_dimensions[letter[name]].width = width
    # The phone column is text, so Excel keeps 138… as typed instead of 1.38E+10.
    ws.column_dimensions[letter["手机号"]].number_format = "@"
    ws[f"{letter['手机号']}3"].number_format = "@"
    # Drop-downs as a help only: 市政协委员 and the like must stay possible to type.
    dropdowns = {"称谓": _TEMPLATE_SALUTATIONS, "类别": _TEMPLATE_CATEGORIES, "级别": _TEMPLATE_LEVELS}
    for column, choices in ((letter[name], choices) for name, choices in dropdowns.items()):
        dv = DataValidation(
            type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True, showErrorMessage=False
        )
        dv.add(f"{column}3:{column}{MAX_ROWS + 2}")
        ws.add_data_validation(dv)
    ws.freeze_panes = "A3"

    notes = wb.create_sheet("说明")
    for row in _TEMPLATE_NOTES:
        notes.append(list(row))
    for cell in notes[1]:
        cell.font = Font(bold=True)
    notes.column_dimensions["A"].width = 10
    notes.column_dimensions["B"].width = 100
    for (cell,) in notes.iter_rows(min_col=2, max_col=2):
        cell.alignment = Alignment(wrap_text=True, vertical="top")

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
