"""Near-duplicates across the works of a campaign: a flag for a person, never a refusal.

Three kinds of hit, all between two works of the same campaign that were submitted:

- **the same file**: two originals with the same SHA-256 (``WorkFile.sha256``, computed
  while the bytes were stored);
- **a near-identical image**: two photos whose 64-bit perceptual hashes (pHash, by
  ``imagehash``) differ in at most ``IMAGE_DISTANCE`` bits;
- **a video sharing frames**: at least ``SHARED_FRAMES`` of one video's sampled frames
  each within ``IMAGE_DISTANCE`` of a different frame of the other.

When a work is submitted (``works.submission.submitted``), a background job
(``FINGERPRINT_JOB``) hashes its photos (the upright screen preview the checks made, or the
original) and up to ``FRAMES`` frames spread over its video, and replaces the work's
``Fingerprint`` rows. The search reads the campaign's fingerprints in one query, builds a
``HashIndex`` over them once and asks it once per fingerprint: the cost grows with the
number of fingerprints, not with its square.

Imagehash (with numpy and scipy) and PyAV are loaded in the worker only: the pages import
this module for its search, which needs neither.
"""

from __future__ import annotations

import io
import itertools
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from PIL import Image, ImageOps, ImageStat

from experience.accounts.models import User
from experience.core import clock, jobs, uploads
from experience.extensions import db
from experience.screening.models import Fingerprint, FingerprintKind
from experience.works import submission
from experience.works.media import av
from experience.works.models import FileCheck, FileKind, Work, WorkCategory, WorkFile, WorkState

FINGERPRINT_JOB = "screening_fingerprints"

#: The largest pHash distance (bits of 64) still taken for the same picture. Measured here
#: on photo-like scenes drawn with Pillow (tests/screening/test_duplicates.py's ``scene``:
#: sky and ground gradients, buildings with windows, shapes, a caption, blur and grain):
#: - 160 re-saves (JPEG quality 50–85, resized to 50–95 %) against the original at quality
#:   92: 0–2 bits (mean 0.1); brightness and contrast +10 %: 0–2;
#: - a crop of 3 % on every side (20 scenes): 2–10 bits (mean 5);
#: - 520 pairs of *different* scenes with the same layout: 16–44 bits (mean 29; none ≤ 15).
#: 8 is four times the widest re-save and takes most light crops, while staying half the
#: closest pair of different photos; pHash's usual advice (about 10 or less for the same
#: picture) agrees. The index below works for any value up to 11 unchanged.
IMAGE_DISTANCE = 8
#: frames sampled per video, evenly over its length (a 3-minute video: one every 22 s)
FRAMES = 8
#: two videos sharing this many frames are flagged (one alike frame is a title card or a logo)
SHARED_FRAMES = 2
#: a frame this flat (grey-level standard deviation) is a black or white screen, which every
#: video has and which says nothing about the content: not hashed
FLAT_FRAME_STDDEV = 6.0


class _ImageHash:
    """imagehash (numpy, scipy, PyWavelets: some 80 MB per process) loaded at the first
    use, in the worker."""

    def __getattr__(self, name: str):
        import imagehash

        return getattr(imagehash, name)


imagehash = _ImageHash()


# -- The index -------------------------------------------------------------------------------

_CHUNKS = 4
_CHUNK_BITS = 64 // _CHUNKS
_CHUNK_MASK = (1 << _CHUNK_BITS) - 1


def distance(a: int, b: int) -> int:
    """Hamming distance of two 64-bit hashes."""
    return (a ^ b).bit_count()


def _flips(bits: int, radius: int) -> list[int]:
    """Every mask of ``bits`` bits with at most ``radius`` bits set."""
    return [sum(1 << b for b in chosen) for r in range(radius + 1) for chosen in itertools.combinations(range(bits), r)]


class HashIndex:
    """Multi-index hashing (Norouzi et al., 2012) over 64-bit hashes: each hash is cut into
    four 16-bit chunks, each chunk a dictionary key. Two hashes within distance ``radius``
    have (by pigeonhole) some chunk within ``radius // 4`` of each other, so a query looks
    up, per chunk, every value that close (137 keys for a radius of 8 to 11) and checks only
    the hashes found there. Its cost depends on how many hashes share a chunk, not on how
    many there are in all."""

    def __init__(self, items: Iterable[tuple[int, object]], radius: int = IMAGE_DISTANCE):
        self.radius = radius
        self._masks = _flips(_CHUNK_BITS, radius // _CHUNKS)
        self._values: list[int] = []
        self._items: list[object] = []
        self._tables: list[dict[int, list[int]]] = [defaultdict(list) for _ in range(_CHUNKS)]
        for value, item in items:
            n = len(self._values)
            self._values.append(value)
            self._items.append(item)
            for i, table in enumerate(self._tables):
                table[(value >> (i * _CHUNK_BITS)) & _CHUNK_MASK].append(n)

    def __len__(self) -> int:
        return len(self._values)

    def near(self, value: int) -> list[tuple[object, int]]:
        """The items whose hash is within the radius of ``value``, with their distance."""
        seen: set[int] = set()
        found = []
        for i, table in enumerate(self._tables):
            chunk = (value >> (i * _CHUNK_BITS)) & _CHUNK_MASK
            for mask in self._masks:
                for n in table.get(chunk ^ mask, ()):
                    if n in seen:
                        continue
                    seen.add(n)
                    d = (self._values[n] ^ value).bit_count()
                    if d <= self.radius:
                        found.append((self._items[n], d))
        return found


# -- What was found --------------------------------------------------------------------------


class HitKind:
    SAME_FILE = "same_file"
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True)
class Hit:
    """One reason two works look alike: ``mine``/``theirs`` are photo positions (from 1) or
    0 for a video; ``distance`` the closest pHash distance (0 for the same file);
    ``frames`` the frames a video shares."""

    kind: str
    mine: int
    theirs: int
    distance: int = 0
    frames: int = 0


@dataclass
class Match:
    """Another work that looks like this one, and why."""

    work: Work
    hits: list[Hit] = field(default_factory=list)


@dataclass
class Pair:
    """Two works of the campaign that look alike (``first.id < second.id``), and why (the
    hits from the first's side)."""

    first: Work
    second: Work
    hits: list[Hit] = field(default_factory=list)


@dataclass(frozen=True)
class _Print:
    work_id: int
    file_id: int
    kind: FingerprintKind
    position: int
    value: int


def _screened_work_ids(campaign_id: int):
    """The campaign's works that are submitted (or were, and came back): a draft is not
    the secretariat's yet."""
    return sa.select(Work.id).where(Work.campaign_id == campaign_id, Work.state != WorkState.NOT_SUBMITTED)


def _prints(campaign_id: int) -> list[_Print]:
    rows = db.session.execute(
        sa.select(
            Fingerprint.work_id, Fingerprint.file_id, Fingerprint.kind, Fingerprint.position, Fingerprint.value
        ).where(
            Fingerprint.campaign_id == campaign_id,
            Fingerprint.work_id.in_(_screened_work_ids(campaign_id)),
        )
    )
    return [_Print(w, f, k, p, int(v, 16)) for w, f, k, p, v in rows]


def _photo_positions(file_ids: Iterable[int]) -> dict[int, int]:
    ids = list(set(file_ids))
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(WorkFile.id, WorkFile.position).where(WorkFile.id.in_(ids))).all())


def _near_hits(prints: list[_Print], queries: list[_Print]) -> dict[tuple[int, int], list[Hit]]:
    """{(querying work, other work): hits} from the fingerprints, one index over them all."""
    index = HashIndex((p.value, p) for p in prints)
    images: dict[tuple[int, int], dict[tuple[int, int], int]] = defaultdict(dict)
    frames: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
    for q in queries:
        for other, d in index.near(q.value):
            if other.work_id == q.work_id or other.kind is not q.kind:
                continue
            key = (q.work_id, other.work_id)
            if q.kind is FingerprintKind.IMAGE:
                pair = (q.file_id, other.file_id)
                images[key][pair] = min(d, images[key].get(pair, 64))
            else:
                frames[key].append((q.position, other.position, d))
    positions = _photo_positions(f for pairs in images.values() for pair in pairs for f in pair)
    hits: dict[tuple[int, int], list[Hit]] = defaultdict(list)
    for key, pairs in images.items():
        for (mine, theirs), d in sorted(pairs.items(), key=lambda kv: (positions.get(kv[0][0], 0), kv[1])):
            hits[key].append(Hit(HitKind.IMAGE, positions.get(mine, 0), positions.get(theirs, 0), d))
    for key, found in frames.items():
        shared = _shared_frames(found)
        if shared >= SHARED_FRAMES:
            hits[key].append(Hit(HitKind.VIDEO, 0, 0, min(d for _, _, d in found), shared))
    return hits


def _shared_frames(found: list[tuple[int, int, int]]) -> int:
    """How many frames of one video are alike to as many *different* frames of the other
    (a greedy matching: a still scene repeated over a video counts once)."""
    used_mine: set[int] = set()
    used_theirs: set[int] = set()
    for mine, theirs, _ in sorted(found, key=lambda f: f[2]):
        if mine not in used_mine and theirs not in used_theirs:
            used_mine.add(mine)
            used_theirs.add(theirs)
    return len(used_mine)


def _same_files(campaign_id: int, work_id: int | None = None) -> dict[tuple[int, int], list[Hit]]:
    """{(work, other work): hits} for originals with equal SHA-256, in both directions."""
    shared = (
        sa.select(WorkFile.sha256)
        .where(
            WorkFile.kind == FileKind.ORIGINAL,
            WorkFile.sha256 != "",
            WorkFile.work_id.in_(_screened_work_ids(campaign_id)),
        )
        .group_by(WorkFile.sha256)
        .having(sa.func.count(sa.distinct(WorkFile.work_id)) > 1)
    )
    if work_id is not None:
        mine = sa.select(WorkFile.sha256).where(WorkFile.work_id == work_id, WorkFile.kind == FileKind.ORIGINAL)
        shared = shared.where(WorkFile.sha256.in_(mine))
    rows = db.session.execute(
        sa.select(WorkFile.sha256, WorkFile.work_id, WorkFile.position, Work.category)
        .join(Work, Work.id == WorkFile.work_id)
        .where(
            WorkFile.kind == FileKind.ORIGINAL,
            WorkFile.sha256.in_(shared),
            WorkFile.work_id.in_(_screened_work_ids(campaign_id)),
        )
        .order_by(WorkFile.work_id, WorkFile.position)
    ).all()
    by_digest: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for digest, wid, position, category in rows:
        # a photo is named by its place in the set; a video or a text is the work's one file
        by_digest[digest].append((wid, position if category is WorkCategory.PHOTO else 0))
    hits: dict[tuple[int, int], list[Hit]] = defaultdict(list)
    for files in by_digest.values():
        for (a, pa), (b, pb) in itertools.permutations(files, 2):
            if a != b:
                hits[(a, b)].append(Hit(HitKind.SAME_FILE, pa, pb))
    return hits


def _merge(*found: dict[tuple[int, int], list[Hit]]) -> dict[tuple[int, int], list[Hit]]:
    """The hits of each pair, the same file first; a near-identical photo, or a video sharing
    frames, that is the same file says nothing more."""
    merged: dict[tuple[int, int], list[Hit]] = defaultdict(list)
    for hits in found:
        for key, items in hits.items():
            merged[key].extend(items)
    for key, items in merged.items():
        same = {(h.mine, h.theirs) for h in items if h.kind == HitKind.SAME_FILE}
        said = {HitKind.IMAGE: same, HitKind.VIDEO: {(0, 0)} & same}
        order = {HitKind.SAME_FILE: 0, HitKind.IMAGE: 1, HitKind.VIDEO: 2}
        merged[key] = sorted(
            (h for h in items if (h.mine, h.theirs) not in said.get(h.kind, ())),
            key=lambda h: (order[h.kind], h.mine, h.theirs),
        )
    return merged


def _works(ids: Iterable[int]) -> dict[int, Work]:
    ids = list(set(ids))
    if not ids:
        return {}
    return {w.id: w for w in db.session.scalars(sa.select(Work).where(Work.id.in_(ids)))}


def matches(work: Work) -> list[Match]:
    """The campaign's other submitted works that look like this one, by work number."""
    prints = _prints(work.campaign_id)
    mine = [p for p in prints if p.work_id == work.id]
    found = _merge(_same_files(work.campaign_id, work.id), _near_hits(prints, mine) if mine else {})
    others = _works(b for a, b in found if a == work.id)
    result = [Match(others[b], hits) for (a, b), hits in found.items() if a == work.id and hits and b in others]
    return sorted(result, key=lambda m: (m.work.number or "", m.work.id))


def fingerprinted(work: Work) -> bool:
    """Whether the work's photos or video frames have been hashed (the job may still run)."""
    return db.session.scalar(sa.select(sa.exists().where(Fingerprint.work_id == work.id))) or False


def campaign_pairs(campaign_id: int) -> list[Pair]:
    """Every pair of the campaign's submitted works that look alike (the secretariat's list)."""
    prints = _prints(campaign_id)
    found = _merge(_same_files(campaign_id), _near_hits(prints, prints))
    keys = [(a, b) for (a, b), hits in found.items() if a < b and hits]
    works = _works(itertools.chain.from_iterable(keys))
    pairs = [Pair(works[a], works[b], found[(a, b)]) for a, b in keys if a in works and b in works]
    return sorted(pairs, key=lambda p: (p.first.number or "", p.second.number or ""))


# -- Fingerprinting, in the worker -------------------------------------------------------------


def image_hash(image: Image.Image) -> str:
    """A picture's pHash as 16 hex digits (the picture as shown: EXIF orientation applied)."""
    image = ImageOps.exif_transpose(image)
    return str(imagehash.phash(image.convert("RGB")))


def photo_hash(data: bytes) -> str:
    """A JPEG's pHash, decoded at a reduced scale (pHash looks at 32×32 pixels)."""
    image = Image.open(io.BytesIO(data))
    image.draft("RGB", (512, 512))
    return image_hash(image)


def video_hashes(path: str | os.PathLike, frames: int = FRAMES) -> list[tuple[int, str]]:
    """(position, pHash) of up to ``frames`` frames at evenly spread times of the video
    (the middle of each of ``frames`` equal parts), upright; flat frames are left out.
    The frames are chosen by time, not by the encoder's key frames, so that a copy encoded
    again (other key frames, other bitrate) yields the same pictures."""
    found = []
    with av.open(os.fspath(path), format="mp4", metadata_errors="ignore") as container:
        video = next(
            (s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None
        )
        if video is None:
            return []
        video.thread_type = "AUTO"
        length = float(container.duration / av.time_base) if container.duration else 0.0
        for position in range(frames):
            at = length * (position + 0.5) / frames
            container.seek(int(at / video.time_base), stream=video, backward=True, any_frame=False)
            frame = None
            for candidate in container.decode(video):
                frame = candidate
                if candidate.time is None or candidate.time >= at:
                    break
            if frame is None:
                continue
            image = frame.to_image()
            if frame.rotation:
                image = image.rotate(frame.rotation, expand=True)
            if ImageStat.Stat(image.convert("L")).stddev[0] < FLAT_FRAME_STDDEV:
                continue
            found.append((position, image_hash(image)))
    return found


def _file_hashes(work: Work) -> list[tuple[int, FingerprintKind, int, str | None]]:
    """(file id, kind, position, storage key to read) of what to hash in the work."""
    wanted = []
    for f in work.originals():
        if f.check_state is not FileCheck.PASSED or not f.storage_key:
            continue
        if work.category is WorkCategory.PHOTO:
            screen = work.derived(f, FileKind.PREVIEW_SCREEN)
            key = screen.storage_key if screen is not None and screen.storage_key else f.storage_key
            wanted.append((f.id, FingerprintKind.IMAGE, f.position, key))
        elif work.category is WorkCategory.VIDEO:
            wanted.append((f.id, FingerprintKind.FRAME, 0, f.storage_key))
    return wanted


@jobs.handler(FINGERPRINT_JOB)
def fingerprint_work(job: jobs.Job, progress) -> tuple[bytes, str]:
    """Hash the work's photos or its video's frames and replace its fingerprints. Files are
    read outside any transaction; the rows are replaced in one short one."""
    work = db.session.get(Work, job.params["work_id"])
    if work is None:
        return b"gone", "fingerprints.txt"
    work_id, campaign_id, wanted = work.id, work.campaign_id, _file_hashes(work)
    db.session.commit()
    rows = []
    for n, (file_id, kind, position, key) in enumerate(wanted, 1):
        try:
            if kind is FingerprintKind.IMAGE:
                with uploads.open_upload(key) as f:
                    rows.append((file_id, kind, position, photo_hash(f.read())))
            else:
                with uploads.local_copy(key) as path:
                    rows.extend((file_id, kind, p, value) for p, value in video_hashes(path))
        except FileNotFoundError:
            continue  # removed meanwhile: the next submission hashes what is there then
        progress(n, len(wanted))
    now = clock.now()
    db.session.execute(sa.delete(Fingerprint).where(Fingerprint.work_id == work_id))
    db.session.add_all(
        Fingerprint(
            file_id=file_id,
            work_id=work_id,
            campaign_id=campaign_id,
            kind=kind,
            position=position,
            value=value,
            created_at=now,
        )
        for file_id, kind, position, value in rows
    )
    db.session.commit()
    return f"{len(rows)} fingerprints".encode(), "fingerprints.txt"


_AFTER_COMMIT = "screening.fingerprints_after_commit"


@submission.submitted.connect
def _on_submitted(work: Work, *, actor: User, now: datetime, first: bool, **_) -> None:
    """Every submission (the files may have changed since the last): the work's
    fingerprints are made again, once the submission is committed."""
    if work.category is WorkCategory.TEXT or not current_app.config["SCREENING_FINGERPRINTS"]:
        return
    job = jobs.start(FINGERPRINT_JOB, owner=actor, now=now, work_id=work.id)
    db.session.info.setdefault(_AFTER_COMMIT, []).append(job.id)


@sa.event.listens_for(db.session, "after_commit")
def _queue_fingerprints(session) -> None:
    due = session.info.pop(_AFTER_COMMIT, None)
    if not due:
        return
    # A session whose transaction just ended runs no SQL; in huey's immediate mode (the
    # tests) the job runs right here, so it gets an app context, hence a session, of its own.
    retry_delay = 0 if jobs.huey.immediate else jobs.RETRY_DELAY
    with current_app.app_context():
        for job_id in due:
            jobs.huey.enqueue(jobs.run_job.s(job_id, retry_delay=retry_delay, priority=jobs.HEAVY))


@sa.event.listens_for(db.session, "after_soft_rollback")
def _forget_fingerprints(session, previous_transaction) -> None:
    session.info.pop(_AFTER_COMMIT, None)
