"""The works secretariat's desk: every work of a campaign, filtered, searched and paged;
the problems worth a look; a selection of works as a zip streamed as it is written; the
list as .xlsx; and, for HQ, how many works stand where (counts only).

The list's time does not follow the number of works: one page is a fixed number of
statements whatever its size (the page's works with their units joined, then their
files and recommendations each in one ``selectin`` query, and one count; the provinces'
names come from one table read once), and
a work's status (``submission.status``) is computed in Python for the page's rows only.
Filters are SQL: the split of a complete, unsubmitted work into "awaiting the sealed
form" and "ready" depends on a hash of its fields and files (``submission.form_hash``),
which no SQL can compute, so the filter offers "complete, not submitted" for the two
together and each row shows which of the two it is.

A zip is written while it is sent: ``zipfile`` writes into a small buffer that the
generator drains after each chunk read from the storage (no seek: the sizes follow each
file in a data descriptor, ZIP64 where a size or an offset needs it), so neither memory
nor disk holds the archive. Its size is bounded before the first byte
(``ZIP_MAX_WORKS``, ``ZIP_MAX_BYTES``).
"""

from __future__ import annotations

import enum
import math
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import defer, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from experience.accounts.models import Province, Role
from experience.campaigns.models import Campaign
from experience.core import audit, clock, jobs, storage, xlsx
from experience.core.errors import RuleError
from experience.core.permissions import rule
from experience.core.uploads import clean_filename
from experience.core.web import small_int
from experience.extensions import db
from experience.units.models import Unit, UnitType
from experience.works import services, submission
from experience.works.models import (
    CheckState,
    FileCheck,
    FileKind,
    Recommendation,
    Work,
    WorkCategory,
    WorkFile,
    WorkState,
)

#: works on a page of the desk
PAGE_SIZE = 100
#: a page number beyond this is taken as this one (no OFFSET of billions)
MAX_PAGE = 10_000
#: longest search text taken (a number, a title's words, a unit's name)
QUERY_MAX = 100

#: a zip holds at most this many works ...
ZIP_MAX_WORKS = 500
#: ... and this many bytes of files (10 GiB: about fifty 3-minute videos, or every photo
#: work of a province). Beyond it the desk asks for a narrower selection: a download of
#: hours that breaks near its end helps nobody.
ZIP_MAX_BYTES = 10 * 1024**3

#: an export of up to this many works is built in the request (0.42 s measured for 1,000
#: on the 2-core machine, rows and workbook); more goes to the job queue with its progress
#: shown (5,000 took 2.4 s: too long to hold a web worker's thread)
EXPORT_SYNC_MAX = 1000
EXPORT_JOB = "works_desk_export"
#: works whose files are loaded at once while an export is built
EXPORT_BATCH = 500

MESSAGES = {
    "nothing_selected": _l("Please tick the works to download, or download all the works the filters show."),
    "too_many_works": _l(
        "%(count)s works were chosen; a zip holds at most %(limit)s. Please narrow the filters or the selection."
    ),
    "too_large": _l(
        "The files of the works chosen come to %(size)s GB; a zip holds at most %(limit)s GB. Please choose fewer "
        "works, or download the videos in several parts."
    ),
    "nothing_to_download": _l("The works chosen have no files that passed their checks yet."),
    "file_missing": _l(
        "%(count)s file(s) of the works chosen are missing from the storage (the first: %(name)s). Nothing was "
        "downloaded; please tell the system's administrator."
    ),
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


@rule("works_desk")
def _works_desk(user, obj) -> bool:
    """The desk (every work in full, downloads, the export): the works secretariat only."""
    return user.role is Role.SECRETARIAT


# -- Filters -------------------------------------------------------------------------------


class StatusFilter(enum.Enum):
    """What the status filter offers: each one a condition in SQL (see the module's doc)."""

    NOT_SUBMITTED = "not_submitted"
    #: not submitted, and its fields, files or declarations are not complete
    DRAFT = "draft"
    #: not submitted, complete: awaiting the sealed form, or ready to submit
    COMPLETE = "complete"
    SUBMITTED = "submitted"
    RETURNED = "returned"

    @property
    def label(self):
        return STATUS_FILTER_LABELS[self]


STATUS_FILTER_LABELS = {
    StatusFilter.NOT_SUBMITTED: _l("Not submitted (any)"),
    StatusFilter.DRAFT: _l("Not submitted: incomplete"),
    StatusFilter.COMPLETE: _l("Not submitted: complete (awaiting the sealed form, or ready)"),
    StatusFilter.SUBMITTED: _l("Submitted"),
    StatusFilter.RETURNED: _l("Returned for changes"),
}


class Problem(enum.Enum):
    """What deserves the secretariat's look at a work."""

    #: a file was refused by its checks (the work's check_state is FAILED)
    FILES_REFUSED = "files_refused"
    #: the sealed form was accepted but its QR code could not be read
    SCAN_UNREAD = "scan_unread"
    #: first submitted after the campaign's deadline, within an extension
    LATE = "late"
    RETURNED = "returned"

    @property
    def label(self):
        return PROBLEM_LABELS[self]


PROBLEM_LABELS = {
    Problem.FILES_REFUSED: _l("Files refused"),
    Problem.SCAN_UNREAD: _l("Sealed form unread"),
    Problem.LATE: _l("Submitted late"),
    Problem.RETURNED: _l("Returned"),
}
#: the problem filter's choice for "any of them"
ANY_PROBLEM = "any"

#: sort name → its ORDER BY; the id last, so that pages never overlap or skip
SORTS = {
    "newest": (Work.id.desc(),),
    "number": (Work.number.asc().nulls_last(), Work.id.desc()),
    "submitted": (Work.submitted_at.desc().nulls_last(), Work.id.desc()),
    "title": (Work.title.asc(), Work.id.desc()),
    "unit": (Unit.name.asc(), Work.id.desc()),
    "province": (Unit.province_code.asc(), Work.id.desc()),
}
SORT_LABELS = {
    "newest": _l("Newest first"),
    "number": _l("Work number"),
    "submitted": _l("Last submitted first"),
    "title": _l("Title of the work"),
    "unit": _l("Submitting unit"),
    "province": _l("Province"),
}
DEFAULT_SORT = "newest"


def _choice(enum_class: type[enum.Enum], value: str | None):
    try:
        return enum_class(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Filters:
    """The desk's filters, from a query string; a value that is not one of the choices is
    ignored (an old bookmark lists all works rather than failing)."""

    category: WorkCategory | None = None
    province: str | None = None
    unit_type: UnitType | None = None
    status: StatusFilter | None = None
    #: a Problem, or ANY_PROBLEM
    problem: Problem | str | None = None
    q: str = ""
    sort: str = DEFAULT_SORT

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        province = (args.get("province") or "").strip()
        problem = args.get("problem") or ""
        sort = args.get("sort") or DEFAULT_SORT
        return cls(
            category=_choice(WorkCategory, args.get("category")),
            province=province if re.fullmatch(r"\d{2}", province) else None,
            unit_type=_choice(UnitType, args.get("unit_type")),
            status=_choice(StatusFilter, args.get("status")),
            problem=ANY_PROBLEM if problem == ANY_PROBLEM else _choice(Problem, problem),
            q=" ".join((args.get("q") or "").split())[:QUERY_MAX],
            sort=sort if sort in SORTS else DEFAULT_SORT,
        )

    def args(self) -> dict[str, str]:
        """As query arguments, defaults left out: for links, hidden fields and a job's params."""
        values = {
            "category": self.category.value if self.category else "",
            "province": self.province or "",
            "unit_type": self.unit_type.value if self.unit_type else "",
            "status": self.status.value if self.status else "",
            "problem": getattr(self.problem, "value", self.problem) or "",
            "q": self.q,
            "sort": "" if self.sort == DEFAULT_SORT else self.sort,
        }
        return {k: v for k, v in values.items() if v}

    @property
    def any(self) -> bool:
        """Whether anything narrows the list (the sort does not)."""
        return any(k != "sort" for k in self.args())


def _complete() -> sa.ColumnElement[bool]:
    """``submission.complete`` in SQL: checks passed and the declarations current."""
    return sa.and_(
        Work.check_state == CheckState.READY,
        Work.declared_at.is_not(None),
        Work.declaration_version == services.DECLARATION_VERSION,
        Work.declared_title == Work.title,
    )


def _status_condition(status: StatusFilter) -> sa.ColumnElement[bool]:
    not_submitted = Work.state == WorkState.NOT_SUBMITTED
    return {
        StatusFilter.NOT_SUBMITTED: not_submitted,
        StatusFilter.DRAFT: sa.and_(not_submitted, sa.not_(_complete())),
        StatusFilter.COMPLETE: sa.and_(not_submitted, _complete()),
        StatusFilter.SUBMITTED: Work.state == WorkState.SUBMITTED,
        StatusFilter.RETURNED: Work.state == WorkState.RETURNED,
    }[status]


def _problem_conditions() -> dict[Problem, sa.ColumnElement[bool]]:
    unread_scan = (
        sa.select(WorkFile.id)
        .where(WorkFile.work_id == Work.id, WorkFile.kind == FileKind.FORM_SCAN, WorkFile.form_read.is_(False))
        .exists()
    )
    return {
        Problem.FILES_REFUSED: Work.check_state == CheckState.FAILED,
        Problem.SCAN_UNREAD: unread_scan,
        Problem.LATE: Work.late.is_(True),
        Problem.RETURNED: Work.state == WorkState.RETURNED,
    }


def _search_condition(q: str) -> sa.ColumnElement[bool]:
    """The number from its start (exact or a prefix), the title or the unit's name
    anywhere; case-insensitive, and ``%`` or ``_`` typed are matched as themselves."""
    return sa.or_(
        Work.number.istartswith(q, autoescape=True),
        Work.title.icontains(q, autoescape=True),
        Unit.name.icontains(q, autoescape=True),
    )


def _needs_unit(filters: Filters) -> bool:
    return bool(filters.province or filters.unit_type or filters.q or filters.sort in ("unit", "province"))


def matching(campaign: Campaign, filters: Filters, *, join_unit: bool = True) -> sa.Select:
    """The works of ``campaign`` the filters keep (unordered), joined to their units when
    a filter or the sort reads the unit, or when ``join_unit``."""
    stmt = sa.select(Work).where(Work.campaign_id == campaign.id)
    if join_unit or _needs_unit(filters):
        stmt = stmt.join(Unit, Work.unit_id == Unit.id)
    if filters.category:
        stmt = stmt.where(Work.category == filters.category)
    if filters.province:
        stmt = stmt.where(Unit.province_code == filters.province)
    if filters.unit_type:
        stmt = stmt.where(Unit.unit_type == filters.unit_type)
    if filters.status:
        stmt = stmt.where(_status_condition(filters.status))
    if filters.problem == ANY_PROBLEM:
        stmt = stmt.where(sa.or_(*_problem_conditions().values()))
    elif filters.problem:
        stmt = stmt.where(_problem_conditions()[filters.problem])
    if filters.q:
        stmt = stmt.where(_search_condition(filters.q))
    return stmt


def count(campaign: Campaign, filters: Filters) -> int:
    """How many works the filters keep (the unit joined only when a filter needs it)."""
    stmt = matching(campaign, filters, join_unit=False)
    return db.session.scalar(stmt.with_only_columns(sa.func.count(Work.id))) or 0


def _load(ids: list[int]) -> list[Work]:
    """The works of ``ids``, in that order, with what their rows show, in a fixed number of
    statements: the units and the recommendations each in one ``SELECT … WHERE … IN``, the
    files in another (``_attach_files``). The provinces' names come from
    ``province_names``."""
    works = db.session.scalars(
        sa.select(Work).where(Work.id.in_(ids)).options(selectinload(Work.unit), selectinload(Work.recommendations))
    ).all()
    _attach_files(works)
    position = {work_id: n for n, work_id in enumerate(ids)}
    return sorted(works, key=lambda w: position[w.id])


def _attach_files(works: list[Work]) -> None:
    """Give each work the files its row reads, in one query: its sealed form (a problem
    when unread), and the originals only where the status hashes them (complete, not
    submitted: ``submission.status``). A list of 100 photo works would otherwise make an
    object for every photo, preview and thumbnail, the row's largest cost. The collection
    set is partial: these works are for reading a list, never for a change."""
    hashed = [w.id for w in works if w.state is WorkState.NOT_SUBMITTED and submission.complete(w)]
    found: dict[int, list[WorkFile]] = {w.id: [] for w in works}
    if found:
        for f in db.session.scalars(
            sa.select(WorkFile)
            .where(
                WorkFile.work_id.in_(list(found)),
                sa.or_(
                    WorkFile.kind == FileKind.FORM_SCAN,
                    sa.and_(WorkFile.kind == FileKind.ORIGINAL, WorkFile.work_id.in_(hashed)),
                ),
            )
            .options(defer(WorkFile.check_params, raiseload=True))  # a refusal's JSON: no row shows it
            .order_by(WorkFile.position, WorkFile.id)
        ):
            found[f.work_id].append(f)
    for w in works:
        set_committed_value(w, "files", found[w.id])


# -- The page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    work: Work
    status: submission.Status
    problems: list[Problem]
    recommendation: Recommendation | None


def problems_of(work: Work) -> list[Problem]:
    """The problems of a loaded work (its sealed form loaded), as the problem filter finds them."""
    found = []
    if work.check_state is CheckState.FAILED:
        found.append(Problem.FILES_REFUSED)
    scan = work.form_scan
    if scan is not None and not scan.form_read:
        found.append(Problem.SCAN_UNREAD)
    if work.late:
        found.append(Problem.LATE)
    if work.state is WorkState.RETURNED:
        found.append(Problem.RETURNED)
    return found


def row(work: Work) -> Row:
    return Row(work, submission.status(work), problems_of(work), work.recommendation)


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    #: works matching the filters, all pages together
    total: int
    number: int
    pages: int = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "pages", max(1, math.ceil(self.total / PAGE_SIZE)))


def page(campaign: Campaign, filters: Filters, number: int = 1) -> Page:
    """One page of the desk's list: PAGE_SIZE rows at most, in the filters' order.

    The page's ids are chosen first, reading only what the filters and the order need
    (for the default order, the campaign's index alone): sorting whole rows, texts and
    summaries included, took 20 ms for 5,000 works where the ids take 1. Then those
    works are loaded, and nothing else.
    """
    number = min(max(1, number), MAX_PAGE)
    ids = db.session.scalars(
        matching(campaign, filters, join_unit=False)
        .with_only_columns(Work.id)
        .order_by(*SORTS[filters.sort])
        .limit(PAGE_SIZE)
        .offset((number - 1) * PAGE_SIZE)
    ).all()
    works = _load(ids)
    return Page([row(w) for w in works], count(campaign, filters), number)


def rows(campaign: Campaign, filters: Filters, *, progress=lambda done, total: None) -> Iterator[Row]:
    """Every row the filters keep, in their order, EXPORT_BATCH works loaded at a time."""
    ids = db.session.scalars(
        matching(campaign, filters).with_only_columns(Work.id).order_by(*SORTS[filters.sort])
    ).all()
    for start in range(0, len(ids), EXPORT_BATCH):
        chunk = ids[start : start + EXPORT_BATCH]
        loaded = _load(chunk)
        for work in loaded:
            yield row(work)
        progress(start + len(chunk), len(ids))
        for work in loaded:  # with its files and recommendations: a batch done is let go
            db.session.expunge(work)


# -- The .xlsx --------------------------------------------------------------------------------


def export_header() -> list[str]:
    return [
        _("Work number"),
        _("Title of the work"),
        _("Category"),
        _("Submitting unit"),
        _("Unified social credit code"),
        _("Province"),
        _("Type of unit"),
        _("Contact person"),
        _("Contact phone"),
        _("Completed on"),
        _("Status"),
        _("Submitted at (Beijing time)"),
        _("Late"),
        _("Problems"),
        _("Recommendation"),
    ]


def province_names() -> dict[str, str]:
    """Province code → name: 32 rows read once, where loading each row's province would
    cost an object per unit."""
    return dict(db.session.execute(sa.select(Province.code, Province.name)).all())


def export_row(r: Row, provinces: Mapping[str, str]) -> list:
    """A work's line in the .xlsx: the contact's phone in full (only the secretariat
    exports), every text as text (core.xlsx keeps a leading "=" from becoming a formula)."""
    w, unit = r.work, r.work.unit
    submitted = clock.to_beijing(w.submitted_at).strftime("%Y-%m-%d %H:%M") if w.submitted_at else ""
    return [
        w.number or "",
        w.title,
        str(w.category.label),
        unit.name,
        unit.credit_code,
        provinces.get(unit.province_code, unit.province_code),
        str(unit.unit_type.label),
        w.contact_name,
        w.contact_phone,
        w.completed_on.isoformat(),
        str(r.status.label),
        submitted,
        _("yes") if w.late else "",
        "、".join(str(p.label) for p in r.problems),
        str(r.recommendation.state.label) if r.recommendation else "",
    ]


def export_name(campaign: Campaign) -> str:
    return f"works-{campaign.year}.xlsx"


def export_xlsx(campaign: Campaign, filters: Filters, *, progress=lambda done, total: None) -> bytes:
    provinces = province_names()
    lines = [export_row(r, provinces) for r in rows(campaign, filters, progress=progress)]
    return xlsx.workbook([(_("Works"), export_header(), lines)])


def record_export(campaign: Campaign, filters: Filters, works: int, *, actor, now: datetime, ip: str, via: str):
    """The audit entry of an export (personal data leaves the system: who, what, how many)."""
    audit.record(
        "works.export", now=now, actor=actor, target=campaign, ip=ip, works=works, filters=filters.args(), via=via
    )


@jobs.handler(EXPORT_JOB)
def _export_job(job: jobs.Job, progress) -> tuple[bytes, str]:
    campaign = db.session.get(Campaign, job.params["campaign_id"])
    data = export_xlsx(campaign, Filters.from_args(job.params.get("filters") or {}), progress=progress)
    return data, export_name(campaign)


# -- The zip ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZipEntry:
    """One file of the zip: its name inside, and its stored key (or its bytes, for a
    typed text that has no file)."""

    name: str
    size: int
    date_time: tuple[int, int, int, int, int, int]
    key: str | None = None
    data: bytes | None = None
    compress_type: int = zipfile.ZIP_STORED


#: the most characters of a title in a folder's name (the whole path stays well under
#: what Windows' Explorer opens)
_TITLE_IN_NAME = 60


def _name_part(text: str, limit: int) -> str:
    """Text for one part of a path inside the zip: no separator, no control character,
    nothing Windows refuses, no leading or trailing dot (so never ``..``)."""
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"[/\\]", "_", text)
    text = "".join(c for c in text if c.isprintable() and c not in '<>:"|?*')
    return text.strip(". ")[:limit].strip(". ")


def folder_name(work: Work) -> str:
    """``<number or id>_<title>``, e.g. ``2024-ZP-00007_认证让养老更安心``."""
    title = _name_part(work.title, _TITLE_IN_NAME) or "work"
    return f"{work.number or work.id}_{title}"


def _unique(name: str, taken: set[str]) -> str:
    """``photo.jpg``, then ``photo (2).jpg``: two photos of one work may share a name."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    candidate, n = name, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem} ({n}).{ext}" if dot else f"{stem} ({n})"
    taken.add(candidate.lower())
    return candidate


def _date_time(at: datetime | None) -> tuple[int, int, int, int, int, int]:
    """A zip's time: Beijing wall-clock (the format has no zone), not before 1980."""
    local = clock.to_beijing(at) if at else datetime(1980, 1, 1)
    return (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)


def _servable(f: WorkFile) -> bool:
    """Bytes the desk may hand out: stored, and passed their checks (as ``works.file``)."""
    return bool(f.storage_key) and f.check_state is FileCheck.PASSED


def zip_entries(works: Iterable[Work]) -> list[ZipEntry]:
    """Each work's originals (in their order), the typed text of a text work without a
    file, and the sealed registration form, in one folder per work."""
    entries = []
    for work in works:
        folder, taken = folder_name(work), set()
        originals = [f for f in work.originals() if _servable(f)]
        for f in originals:
            name = _unique(clean_filename(f.filename or f"file-{f.id}"), taken)
            compress = zipfile.ZIP_DEFLATED if f.content_type.startswith("text/") else zipfile.ZIP_STORED
            entries.append(
                ZipEntry(
                    f"{folder}/{name}", f.size, _date_time(f.created_at), key=f.storage_key, compress_type=compress
                )
            )
        if work.category is WorkCategory.TEXT and not originals and work.body.strip():
            data = work.body.encode("utf-8")
            name = _unique(_name_part(_("Text of the work"), 40) + ".txt", taken)
            entries.append(
                ZipEntry(
                    f"{folder}/{name}",
                    len(data),
                    _date_time(work.updated_at),
                    data=data,
                    compress_type=zipfile.ZIP_DEFLATED,
                )
            )
        scan = work.form_scan
        if scan is not None and _servable(scan):
            ext = scan.filename.rpartition(".")[2].lower() if "." in scan.filename else ""
            ext = ext if ext in ("pdf", "jpg", "jpeg") else ("pdf" if "pdf" in scan.content_type else "jpg")
            name = _unique(_name_part(_("Sealed registration form"), 40) + "." + ext, taken)
            entries.append(ZipEntry(f"{folder}/{name}", scan.size, _date_time(scan.created_at), key=scan.storage_key))
    return entries


def selected_works(campaign: Campaign, ticked: list[str]) -> list[Work]:
    """The campaign's works among the ids ticked (at most ZIP_MAX_WORKS of them), by number.

    :raises RuleError: nothing_selected, too_many_works.
    """
    if len(ticked) > ZIP_MAX_WORKS:  # refused before thousands of ids are read
        raise _fail("too_many_works", count=len(ticked), limit=ZIP_MAX_WORKS)
    wanted = sorted({i for i in map(small_int, ticked) if i is not None})
    if not wanted:
        raise _fail("nothing_selected")
    return _load_for_zip(sa.select(Work).where(Work.campaign_id == campaign.id, Work.id.in_(wanted)))


def filtered_works(campaign: Campaign, filters: Filters) -> list[Work]:
    """Every work the filters keep, if they are at most ZIP_MAX_WORKS.

    :raises RuleError: too_many_works, nothing_selected (none kept).
    """
    n = count(campaign, filters)
    if n > ZIP_MAX_WORKS:
        raise _fail("too_many_works", count=n, limit=ZIP_MAX_WORKS)
    if n == 0:
        raise _fail("nothing_selected")
    return _load_for_zip(matching(campaign, filters, join_unit=False))


def _load_for_zip(stmt: sa.Select) -> list[Work]:
    return list(
        db.session.scalars(stmt.options(selectinload(Work.files)).order_by(Work.number.asc().nulls_last(), Work.id))
    )


def check_zip(entries: list[ZipEntry]) -> int:
    """The zip's total bytes of files, within ZIP_MAX_BYTES.

    :raises RuleError: nothing_to_download, file_missing, too_large.
    """
    if not entries:
        raise _fail("nothing_to_download")
    # checked before the answer starts: a file found missing halfway would cut the zip short
    store = storage.current()
    missing = [e.name for e in entries if e.key is not None and not store.exists(e.key)]
    if missing:
        raise _fail("file_missing", name=missing[0], count=len(missing))
    total = sum(e.size for e in entries)
    if total > ZIP_MAX_BYTES:
        gb = 1024**3
        raise _fail("too_large", size=f"{total / gb:.1f}", limit=ZIP_MAX_BYTES // gb)
    return total


def record_download(campaign: Campaign, works: list[Work], entries: list[ZipEntry], *, actor, now, ip, scope: str):
    audit.record(
        "works.download",
        now=now,
        actor=actor,
        target=campaign,
        ip=ip,
        works=len(works),
        files=len(entries),
        bytes=sum(e.size for e in entries),
        scope=scope,
        numbers=[w.number or str(w.id) for w in works][:50],
    )


class _Drain:
    """Where zipfile writes: bytes kept until the generator hands them on. It has no
    ``tell`` or ``seek``, so zipfile streams (sizes in a data descriptor after each
    file) and never goes back."""

    def __init__(self):
        self.buffer = bytearray()

    def write(self, data) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def stream_zip(store: storage.Storage, entries: list[ZipEntry], chunk: int = storage.CHUNK) -> Iterator[bytes]:
    """The zip of ``entries``, chunk by chunk: each stored file read ``chunk`` bytes at a
    time and passed on as soon as it is written, so memory holds about one chunk whatever
    the total. Needs no app context (a streamed response runs after the request's)."""
    drain = _Drain()
    with zipfile.ZipFile(drain, "w", allowZip64=True) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=entry.date_time)
            info.compress_type = entry.compress_type
            info.external_attr = 0o644 << 16
            # the size known in advance decides whether this entry needs ZIP64 fields
            info.file_size = entry.size
            with archive.open(info, "w") as out:
                if entry.data is not None:
                    out.write(entry.data)
                else:
                    with store.open(entry.key) as src:
                        while block := src.read(chunk):
                            out.write(block)
                            if len(drain.buffer) >= chunk:
                                yield drain.take()
            if drain.buffer:
                yield drain.take()
    if drain.buffer:
        yield drain.take()


# -- HQ's counts ------------------------------------------------------------------------------


def state_counts(campaign: Campaign) -> dict[str, dict[WorkState, int]]:
    """How many works each province's units have in each state: {province code: {state: n}}."""
    table: dict[str, dict[WorkState, int]] = {}
    for province, state, n in db.session.execute(
        sa.select(Unit.province_code, Work.state, sa.func.count())
        .join(Unit, Unit.id == Work.unit_id)
        .where(Work.campaign_id == campaign.id)
        .group_by(Unit.province_code, Work.state)
    ):
        table.setdefault(province, {})[state] = n
    return table
