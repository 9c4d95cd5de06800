"""A work (作品) of the call for works, as 附件2's registration form describes it, and its
stored files.

A ``Work`` belongs to one submitting unit and one campaign. Its files are ``WorkFile``
rows that point into the storage (``core.storage``) by key: the original (the work
itself, kept byte for byte) and what the worker derives from it (previews, a poster, a
playable copy), each with the ``source`` it was made from. No file is ever in the
database.

Two states, kept apart on purpose:

- ``check_state`` (here): where the checks of the work's files stand (draft, processing,
  ready, failed). The worker moves it; every change of the files moves it back.
- ``state`` (``core.submissions.Submission``): not submitted / submitted / returned, with
  the deadline rules. A work may be submitted only when ``check_state`` is ready, its
  declarations are current and its sealed registration form (a ``FORM_SCAN`` file) was
  scanned from the form of its current version (``works.submission``).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experience.accounts.models import User
from experience.campaigns.models import Campaign
from experience.core.models import enum_column
from experience.core.submissions import Submission
from experience.extensions import db
from experience.units.models import Unit


class WorkCategory(enum.Enum):
    """作品类别 (附件1 二)."""

    TEXT = "text"
    PHOTO = "photo"
    VIDEO = "video"

    @property
    def label(self):
        return CATEGORY_LABELS[self]


CATEGORY_LABELS = {
    WorkCategory.TEXT: _l("Text work"),
    WorkCategory.PHOTO: _l("Photo work"),
    WorkCategory.VIDEO: _l("Video work"),
}


class CheckState(enum.Enum):
    """Where the checks of a work's files stand."""

    #: not complete yet (no text, no photo, no video), or nothing sent to be checked
    DRAFT = "draft"
    #: files wait for the worker or are being checked
    PROCESSING = "processing"
    #: every file passed, and the work has what its category needs
    READY = "ready"
    #: a file was refused: the work's page says which, and what to do
    FAILED = "failed"

    @property
    def label(self):
        return CHECK_STATE_LABELS[self]


CHECK_STATE_LABELS = {
    CheckState.DRAFT: _l("Incomplete"),
    CheckState.PROCESSING: _l("Processing"),
    CheckState.READY: _l("Checks passed"),
    CheckState.FAILED: _l("Needs attention"),
}


class WorkState(enum.Enum):
    """Where a work stands with the secretariat (core.submissions)."""

    NOT_SUBMITTED = "not_submitted"
    SUBMITTED = "submitted"
    RETURNED = "returned"

    @property
    def label(self):
        return WORK_STATE_LABELS[self]


WORK_STATE_LABELS = {
    WorkState.NOT_SUBMITTED: _l("Not submitted"),
    WorkState.SUBMITTED: _l("Submitted"),
    WorkState.RETURNED: _l("Returned for changes"),
}


class FileKind(enum.Enum):
    #: the work itself, as the unit uploaded it
    ORIGINAL = "original"
    #: a photo upright at screen size, without metadata
    PREVIEW_SCREEN = "preview_screen"
    #: a photo's small version for lists
    THUMBNAIL = "thumbnail"
    #: a frame of a video, shown before it plays
    POSTER = "poster"
    #: an H.264/AAC copy of a video that browsers would not play as it is
    PLAYABLE = "playable"
    #: the registration form (登记表) printed, sealed and scanned by the unit (PDF or JPG);
    #: ``form_hash`` says which version of the work it was printed from
    FORM_SCAN = "form_scan"


class FileCheck(enum.Enum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


class Work(Submission, db.Model):
    """A work and its registration form's fields (附件2)."""

    __tablename__ = "work"
    State = WorkState

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"))
    #: 报送单位: the unit whose account created it
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("submitting_unit.id"), index=True)
    #: 作品名称
    title: Mapped[str] = mapped_column(sa.String(200))
    #: 作品类别; fixed once the work has files
    category: Mapped[WorkCategory] = enum_column("category", WorkCategory)
    #: 作品完成时间: a Beijing date from January 1 of the campaign's year, not in the future
    completed_on: Mapped[date]
    #: 联系人 and 联系电话/手机 of this work (the unit's contact by default)
    contact_name: Mapped[str] = mapped_column(sa.String(60))
    #: normalised by core.phone (a mobile's 11 digits, or a landline such as 010-82260862)
    contact_phone: Mapped[str] = mapped_column(sa.String(30))
    #: 作品简介, at most SUMMARY_MAX_CHARS 字 (texts.count_chars)
    summary: Mapped[str] = mapped_column(sa.Text)
    #: a text work's text: typed in, or read from its uploaded file
    body: Mapped[str] = mapped_column(sa.Text, default="")
    check_state: Mapped[CheckState] = enum_column("check_state", CheckState, default=CheckState.DRAFT)
    #: 作品编号 such as 2024-ZP-00123: given when the work's registration form is first
    #: printed (Campaign.works_last_number), never changed or given again
    number: Mapped[str | None] = mapped_column(sa.String(20), unique=True)

    #: The 承诺书 (with the title inserted) and the licence of 附件1 四, accepted together:
    #: who, when, from where, which version of the texts and for which title. An acceptance
    #: is current only for the title it named (``declarations_current``).
    declared_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    declared_at: Mapped[datetime | None]
    declared_ip: Mapped[str] = mapped_column(sa.String(64), default="")
    declaration_version: Mapped[str] = mapped_column(sa.String(20), default="")
    declared_title: Mapped[str] = mapped_column(sa.String(200), default="")

    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    campaign: Mapped[Campaign] = relationship()
    unit: Mapped[Unit] = relationship()
    declared_by: Mapped[User | None] = relationship()
    files: Mapped[list[WorkFile]] = relationship(
        back_populates="work", cascade="all, delete-orphan", order_by="WorkFile.position, WorkFile.id"
    )
    #: every request for the recommendation of the province (推荐单位意见), oldest first
    recommendations: Mapped[list[Recommendation]] = relationship(
        back_populates="work", cascade="all, delete-orphan", order_by="Recommendation.id"
    )

    __table_args__ = (
        sa.Index("ix_work_campaign_id_category", "campaign_id", "category"),
        sa.CheckConstraint("(declared_at IS NULL) = (declared_by_id IS NULL)", name="declared_by_whom"),
    )

    @property
    def province_code(self) -> str:
        """The unit's province: whose staff may read the work (and the audit log's filter)."""
        return self.unit.province_code

    def originals(self) -> list[WorkFile]:
        return [f for f in self.files if f.kind is FileKind.ORIGINAL]

    @property
    def form_scan(self) -> WorkFile | None:
        """The sealed registration form the unit uploaded last (only one is kept)."""
        return next((f for f in self.files if f.kind is FileKind.FORM_SCAN), None)

    @property
    def recommendation(self) -> Recommendation | None:
        """The latest request for the province's recommendation, whatever became of it."""
        return self.recommendations[-1] if self.recommendations else None

    def derived(self, source: WorkFile, kind: FileKind) -> WorkFile | None:
        return next((f for f in self.files if f.source_id == source.id and f.kind is kind), None)

    def __repr__(self) -> str:
        return f"<Work {self.id} {self.category.value} {self.title!r}>"


class WorkFile(db.Model):
    """One stored file of a work: an original, or a file derived from one."""

    __tablename__ = "work_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_id: Mapped[int] = mapped_column(sa.ForeignKey("work.id", ondelete="CASCADE"), index=True)
    kind: Mapped[FileKind] = enum_column("kind", FileKind)
    #: the original this file was made from (None for an original)
    source_id: Mapped[int | None] = mapped_column(sa.ForeignKey("work_file.id", ondelete="CASCADE"), index=True)
    #: the key in core.storage; None once a refused file's bytes are removed, or while a
    #: derived file is still being made
    storage_key: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    #: the name the unit's computer gave it (originals); shown, never used to store
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: hex SHA-256 of the stored bytes, computed while they were written
    sha256: Mapped[str] = mapped_column(sa.String(64), default="")
    #: what the checks found it to be (image/jpeg, video/mp4, …), never what the browser said
    content_type: Mapped[str] = mapped_column(sa.String(100), default="")
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration_s: Mapped[float | None]
    #: the photo's caption (附件1 二.(二)): 创作者, 拍摄时间, 拍摄地点, 画面描述, 关键人物姓名, 重要背景信息
    creator: Mapped[str] = mapped_column(sa.String(100), default="")
    taken_at: Mapped[str] = mapped_column(sa.String(50), default="")
    place: Mapped[str] = mapped_column(sa.String(100), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    key_people: Mapped[str] = mapped_column(sa.String(200), default="")
    background: Mapped[str] = mapped_column(sa.Text, default="")
    #: order of a photo work's photos, from 1
    position: Mapped[int] = mapped_column(default=0)
    check_state: Mapped[FileCheck] = enum_column("check_state", FileCheck, default=FileCheck.PENDING)
    #: the refusal's code (media.MESSAGES, texts.MESSAGES, services.MESSAGES) and its
    #: parameters, so that it is worded in the reader's language when shown
    check_code: Mapped[str] = mapped_column(sa.String(40), default="")
    check_params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    checked_at: Mapped[datetime | None]
    #: a form scan: the short hash of the work's version the scan was accepted for, and
    #: whether its QR code was read (False: accepted unread, flagged for the secretariat)
    form_hash: Mapped[str] = mapped_column(sa.String(16), default="")
    form_read: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]

    work: Mapped[Work] = relationship(back_populates="files")
    source: Mapped[WorkFile | None] = relationship(remote_side=[id])

    @property
    def caption(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in CAPTION_COLUMNS}

    def __repr__(self) -> str:
        return f"<WorkFile {self.id} {self.kind.value} {self.check_state.value}>"


#: the caption's columns, named as media.CAPTION_FIELDS names them
CAPTION_COLUMNS = ("creator", "taken_at", "place", "description", "key_people", "background")


class RecommendationState(enum.Enum):
    #: asked by the unit, waiting for the province
    REQUESTED = "requested"
    #: the province recommends the work (附件2's sentence)
    RECOMMENDED = "recommended"
    #: the province declined, with its reason
    DECLINED = "declined"
    #: the unit took the request back before an answer
    WITHDRAWN = "withdrawn"

    @property
    def label(self):
        return RECOMMENDATION_STATE_LABELS[self]


RECOMMENDATION_STATE_LABELS = {
    RecommendationState.REQUESTED: _l("Requested"),
    RecommendationState.RECOMMENDED: _l("Recommended"),
    RecommendationState.DECLINED: _l("Declined"),
    RecommendationState.WITHDRAWN: _l("Request withdrawn"),
}


class Recommendation(db.Model):
    """推荐单位意见: a unit asks the market regulation department of its province to
    recommend a work; the province's staff recommend it or decline with a reason. Each
    request is its own row (a declined work may be asked for again); the latest counts."""

    __tablename__ = "work_recommendation"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_id: Mapped[int] = mapped_column(sa.ForeignKey("work.id", ondelete="CASCADE"), index=True)
    #: the province asked: the unit's when the request was made
    province_code: Mapped[str] = mapped_column(sa.ForeignKey("province.code"))
    state: Mapped[RecommendationState] = enum_column(
        "state", RecommendationState, default=RecommendationState.REQUESTED
    )
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    requested_at: Mapped[datetime]
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None]
    #: a decline's reason
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    #: which wording of the recommendation was given (the sentence of 附件2, versioned)
    text_version: Mapped[str] = mapped_column(sa.String(20), default="")

    work: Mapped[Work] = relationship(back_populates="recommendations")
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    __table_args__ = (sa.Index("ix_work_recommendation_province_code_state", "province_code", "state"),)

    def __repr__(self) -> str:
        return f"<Recommendation {self.id} work {self.work_id} {self.state.value}>"
