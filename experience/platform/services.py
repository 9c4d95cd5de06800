"""What the public platform (网络平台) and the display screens show of the selected works.

A work is public once its campaign's 公示 has started (``screening.publication.started``:
from ``starts_on`` 00:00 Beijing time, and for good after the period, when the selection
is final), while it is
selected (``screening.decisions``: an applied 入选 in the latest round it took part in)
and not withdrawn for a cause (``Withdrawal``: it leaves at once).

What is shown of a work is what the call for works makes public: its title, its unit's
name, its category, its summary, its text, its photos as the worker's screen-size
previews and thumbnails (upright, without EXIF or GPS) with their captions, its video (the
playable copy when the worker made one; otherwise the original, which the worker found
browsers play as it is) and the video's poster. Never the contact, the credit code, the
unit's account, the form scan, an original photo or a text's uploaded file: a file is
served only when it is one of a public work's ``ShownWork`` files (``public_file``).

Lists run a fixed number of queries whatever the number of works (the count, one page
of works with their units, the page's files).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, has_request_context, url_for
from sqlalchemy.orm import joinedload

from experience.campaigns.models import Campaign
from experience.core import clock, files
from experience.extensions import db
from experience.screening.models import BlindCopy, CopyState, Decision, Entry, Outcome, Round, Withdrawal
from experience.screening.publication import publication_of, started
from experience.units.models import Unit
from experience.works.models import CAPTION_COLUMNS, FileCheck, FileKind, Work, WorkCategory, WorkFile

#: works on one page of the public list: a phone's page stays small
PAGE_SIZE = 20
#: the longest search text taken (a title is at most 200; nobody types more to search)
QUERY_MAX = 50
#: the files of a work that may ever be public: never a form scan
_SHOWABLE = (FileKind.ORIGINAL, FileKind.PREVIEW_SCREEN, FileKind.THUMBNAIL, FileKind.POSTER, FileKind.PLAYABLE)
#: the categories in the order the lists show them
CATEGORY_ORDER = list(WorkCategory)


@dataclass(frozen=True)
class ShownFile:
    """A file as the public sees it: its id and its address (``?v=``: the same bytes for ever)."""

    id: int
    url: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class ShownPhoto:
    #: the screen-size preview (at most 1920 px on its long side)
    screen: ShownFile
    #: the small version for lists (at most 480 px), if made
    thumbnail: ShownFile | None
    #: the caption the unit published with the photo (附件1 二.(二)), by CAPTION_COLUMNS
    caption: dict[str, str]


@dataclass(frozen=True)
class ShownVideo:
    #: what browsers play: the playable copy, or the original that plays as it is — in
    #: either case sent as its screening copy (``BlindCopy``: the same streams, without the
    #: tags a phone writes, its location among them), never the unit's file itself
    file: ShownFile
    poster: ShownFile | None
    duration_s: float | None


@dataclass(frozen=True)
class ShownWork:
    """A public work, ready to show: no personal data, only public files."""

    id: int
    number: str
    title: str
    unit_name: str
    category: WorkCategory
    summary: str
    #: a text work's text ("" in lists, which do not show it)
    body: str
    photos: tuple[ShownPhoto, ...] = ()
    video: ShownVideo | None = None
    campaign_id: int = 0
    #: file id → (storage key, content type) of what its address sends
    sent: tuple[tuple[int, str, str], ...] = ()

    @property
    def cover(self) -> ShownFile | None:
        """The small picture for lists: the first photo's thumbnail, or the video's poster."""
        if self.photos:
            return self.photos[0].thumbnail or self.photos[0].screen
        return self.video.poster if self.video else None

    @property
    def share_image(self) -> ShownFile | None:
        """The picture for a shared link's card: the first photo's preview, or the poster."""
        if self.photos:
            return self.photos[0].screen
        return self.video.poster if self.video else None

    def file_ids(self) -> set[int]:
        """Every file this work shows: the only ones served to the public."""
        ids: set[int] = set()
        for photo in self.photos:
            ids.add(photo.screen.id)
            if photo.thumbnail:
                ids.add(photo.thumbnail.id)
        if self.video:
            ids.add(self.video.file.id)
            if self.video.poster:
                ids.add(self.video.poster.id)
        return ids


@dataclass(frozen=True)
class PublicPage:
    """One page of the public list."""

    works: list[ShownWork]
    page: int
    pages: int
    #: how many works match the search, per category (all categories, whatever is chosen)
    counts: dict[WorkCategory, int] = field(default_factory=dict)
    category: WorkCategory | None = None
    query: str = ""

    @property
    def total(self) -> int:
        """How many works match the search in the chosen category (all when none is)."""
        if self.category is not None:
            return self.counts.get(self.category, 0)
        return sum(self.counts.values())


# -- When and which works are public ------------------------------------------------------------


def _selected_ids(campaign_id: int) -> sa.Select:
    """The ids of the campaign's selected works, as ``decisions.selected_works`` finds them
    (an applied 入选 in the latest round each took part in), as a subquery for SQL."""
    latest = (
        sa.select(Entry.work_id, sa.func.max(Round.position).label("position"))
        .join(Round, Round.id == Entry.round_id)
        .where(Round.campaign_id == campaign_id)
        .group_by(Entry.work_id)
        .subquery()
    )
    return (
        sa.select(Entry.work_id)
        .join(Round, Round.id == Entry.round_id)
        .join(latest, sa.and_(latest.c.work_id == Entry.work_id, latest.c.position == Round.position))
        .join(Decision, sa.and_(Decision.entry_id == Entry.id, Decision.pass_no == Entry.pass_no))
        .where(
            Round.campaign_id == campaign_id,
            Decision.outcome == Outcome.SELECTED,
            Decision.applied_at.is_not(None),
        )
    )


def _public_filter(campaign_id: int) -> list:
    """The conditions on ``Work`` of a public work of the campaign (its 公示 started)."""
    return [
        Work.campaign_id == campaign_id,
        Work.id.in_(_selected_ids(campaign_id)),
        Work.id.not_in(sa.select(Withdrawal.work_id)),
    ]


def _order():
    """By category (text, photo, video), then work number."""
    by_category = sa.case(*[(Work.category == c, i) for i, c in enumerate(CATEGORY_ORDER)])
    return [by_category, Work.number, Work.id]


def _search(query: str) -> sa.ColumnElement[bool]:
    """The title, summary, number or unit name contains the text (LIKE, its wildcards escaped)."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return sa.or_(
        Work.title.ilike(pattern, escape="\\"),
        Work.summary.ilike(pattern, escape="\\"),
        Work.number.ilike(pattern, escape="\\"),
        Work.unit_id.in_(sa.select(Unit.id).where(Unit.name.ilike(pattern, escape="\\"))),
    )


def clean_query(q: str | None) -> str:
    return " ".join((q or "").split())[:QUERY_MAX]


# -- Lists -----------------------------------------------------------------------------------------


def works_for_events(campaign: Campaign, now: datetime | None = None) -> list[ShownWork]:
    """The campaign's works the display screens may play: selected, their 公示 started, not
    withdrawn, by category then number, each with its display-ready media. Empty before
    the 公示 starts."""
    now = now or clock.now()
    if not started(publication_of(campaign), now):
        return []
    works = list(
        db.session.scalars(
            sa.select(Work).where(*_public_filter(campaign.id)).options(joinedload(Work.unit)).order_by(*_order())
        )
    )
    return _shown(works, with_body=True)


def public_works(
    campaign: Campaign,
    now: datetime,
    category: WorkCategory | None = None,
    q: str | None = None,
    page: int = 1,
) -> PublicPage | None:
    """One page of the campaign's public works (PAGE_SIZE), in a category and matching a
    search if given; None before the 公示 starts. A page past the last shows the last."""
    if not started(publication_of(campaign), now):
        return None
    query = clean_query(q)
    conditions = _public_filter(campaign.id)
    if query:
        conditions.append(_search(query))
    counts = {c: 0 for c in CATEGORY_ORDER}
    for cat, count in db.session.execute(
        sa.select(Work.category, sa.func.count(Work.id)).where(*conditions).group_by(Work.category)
    ):
        counts[cat] = count
    if category is not None:
        conditions.append(Work.category == category)
    total = counts[category] if category is not None else sum(counts.values())
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    works = list(
        db.session.scalars(
            sa.select(Work)
            .where(*conditions)
            .options(joinedload(Work.unit), sa.orm.defer(Work.body))
            .order_by(*_order())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    return PublicPage(
        works=_shown(works, with_body=False), page=page, pages=pages, counts=counts, category=category, query=query
    )


def public_work(work_id: int, now: datetime) -> ShownWork | None:
    """The work as the public sees it, or None when it is not public (not selected, its 公示
    not started, withdrawn, or no such work)."""
    work = db.session.scalar(sa.select(Work).where(Work.id == work_id).options(joinedload(Work.unit)))
    if work is None or not started(publication_of(work.campaign), now):
        return None
    public = db.session.scalar(sa.select(Work.id).where(Work.id == work_id, *_public_filter(work.campaign_id)))
    if public is None:
        return None
    return _shown([work], with_body=True)[0]


def public_file(work_id: int, file_id: int, now: datetime) -> tuple[str, str] | None:
    """(storage key, content type) of what the file's public address sends, if the public
    may have it: one of the files a public work shows."""
    shown = public_work(work_id, now)
    if shown is None or file_id not in shown.file_ids():
        return None
    return next(((key, kind) for i, key, kind in shown.sent if i == file_id), None)


# -- Display-ready media ------------------------------------------------------------------------


def _shown(works: list[Work], *, with_body: bool) -> list[ShownWork]:
    """The works with their public files, the files of all of them in one query."""
    by_work: dict[int, list[WorkFile]] = {w.id: [] for w in works}
    if by_work:
        for f in db.session.scalars(
            sa.select(WorkFile)
            .where(
                WorkFile.work_id.in_(list(by_work)),
                WorkFile.kind.in_(_SHOWABLE),
                # a playable copy in any state: one being made means the original is not shown
                sa.or_(WorkFile.check_state == FileCheck.PASSED, WorkFile.kind == FileKind.PLAYABLE),
            )
            .order_by(WorkFile.position, WorkFile.id)
        ):
            by_work[f.work_id].append(f)
    ids = [f.id for fs in by_work.values() for f in fs]
    copies = {
        c.file_id: c
        for c in db.session.scalars(
            sa.select(BlindCopy).where(BlindCopy.file_id.in_(ids), BlindCopy.state == CopyState.READY)
        )
    }
    return [_one(w, by_work[w.id], copies, with_body=with_body) for w in works]


def _one(work: Work, work_files: list[WorkFile], copies: dict, *, with_body: bool) -> ShownWork:
    originals = [f for f in work_files if f.kind is FileKind.ORIGINAL and f.storage_key]
    derived = {(f.source_id, f.kind): f for f in work_files if f.source_id is not None}
    photos: list[ShownPhoto] = []
    video = None
    if work.category is WorkCategory.PHOTO:
        for original in originals:
            screen = _file(work, derived.get((original.id, FileKind.PREVIEW_SCREEN)))
            if screen is None:
                continue
            thumb = _file(work, derived.get((original.id, FileKind.THUMBNAIL)))
            photos.append(
                ShownPhoto(screen=screen, thumbnail=thumb, caption={c: getattr(original, c) for c in CAPTION_COLUMNS})
            )
    elif work.category is WorkCategory.VIDEO and originals:
        video = _video(work, originals[0], work_files, derived, copies)
    sent = [
        (p.id, f.storage_key, f.content_type)
        for f in work_files
        for p in [*(x.screen for x in photos), *(x.thumbnail for x in photos if x.thumbnail)]
        if p.id == f.id
    ]
    if video is not None:
        copy = copies[video.file.id]
        sent.append((video.file.id, copy.storage_key, copy.content_type or "video/mp4"))
        if video.poster is not None:
            poster = next(f for f in work_files if f.id == video.poster.id)
            sent.append((poster.id, poster.storage_key, poster.content_type))
    return ShownWork(
        id=work.id,
        number=work.number or "",
        title=work.title,
        unit_name=work.unit.name,
        category=work.category,
        summary=work.summary,
        body=work.body if with_body and work.category is WorkCategory.TEXT else "",
        photos=tuple(photos),
        video=video,
        campaign_id=work.campaign_id,
        sent=tuple(sent),
    )


def _video(
    work: Work, original: WorkFile, work_files: list[WorkFile], derived: dict, copies: dict
) -> ShownVideo | None:
    """The playable copy when the worker made one (a copy still being made, or whose making
    failed, shows nothing); otherwise the original, which the worker found plays as it is
    (``media.needs_playable_copy`` said no)."""
    has_copy = any(f.kind is FileKind.PLAYABLE and f.source_id == original.id for f in work_files)
    source = derived.get((original.id, FileKind.PLAYABLE)) if has_copy else original
    copy = copies.get(source.id) if source is not None else None
    playable = _file(work, source, key=copy.storage_key if copy else None)
    if playable is None or copy is None:  # no clean copy yet: nothing rather than the unit's file
        return None
    poster = _file(work, derived.get((original.id, FileKind.POSTER)))
    return ShownVideo(file=playable, poster=poster, duration_s=original.duration_s)


def _file(work: Work, f: WorkFile | None, *, key: str | None = None) -> ShownFile | None:
    if f is None or not f.storage_key or f.check_state is not FileCheck.PASSED:
        return None
    return ShownFile(id=f.id, url=file_url(work.id, f, key=key), width=f.width, height=f.height)


def file_url(work_id: int, f: WorkFile, *, key: str | None = None) -> str:
    """The public address of a work's file (a path on this site); ``key``: what it sends
    instead of the file itself (its copy), which names the version."""
    values = {"work_id": work_id, "file_id": f.id, "v": files.version(key or f.storage_key)}
    if has_request_context():
        return url_for("platform.file", **values)
    return current_app.url_map.bind("localhost").build("platform.file", values)
