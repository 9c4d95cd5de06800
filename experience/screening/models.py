"""Screening (筛选) of the submitted works: rounds, experts, assignments, scores, decisions.

The notice (四.(二)): 服务认证作品经过筛选后，将在网络平台和服务认证现场体验活动期间展示.
The secretariat screens in rounds (初评 → 终评 by default). A round has its criteria with
weights (附件1 二), a score scale, how many experts score each work, which works enter, and
whether it is blind (the submitting unit hidden from the experts).

- ``Round``: one round of a campaign, in order (``position``); draft → open → closed.
- ``Criterion``: what experts score in a round, with its weight (the weights of a round
  add up to 100).
- ``Expert``: what screening knows of a ``reviewer`` account beyond ``User``: the credit
  code of the expert's unit (the unit's name is ``User.organisation``) and the categories
  the expert scores (empty: all).
- ``Entry``: a work in a round. ``pass_no`` counts its passes: a work returned for
  revision (退回修改) and sent again re-enters the same round with the next pass; what
  happened in earlier passes stays as history.
- ``Assignment``: one expert scoring one entry in one pass. Only ``active`` ones count;
  a declared conflict, a removal by hand, or a later pass ends one (``ended_at``) and
  keeps it.
- ``CriterionScore``: one criterion's score of an assignment.
- ``Decision``: what the secretariat decided for an entry's pass (进入下一轮 / 入选 /
  未入选 / 退回修改): held ``pending`` until one bulk action applies every pending
  decision of the round together; units hear of it only then.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experience.accounts.models import User
from experience.campaigns.models import Campaign
from experience.core.models import enum_column
from experience.extensions import db
from experience.works.models import Work, WorkCategory


class RoundState(enum.Enum):
    #: being set up by the secretariat; experts see nothing of it
    DRAFT = "draft"
    #: works entered and assigned; experts score
    OPEN = "open"
    #: scoring ended: scores are final, decisions may still be made and applied
    CLOSED = "closed"

    @property
    def label(self):
        return ROUND_STATE_LABELS[self]


ROUND_STATE_LABELS = {
    RoundState.DRAFT: _l("Being set up"),
    RoundState.OPEN: _l("Scoring"),
    RoundState.CLOSED: _l("Scoring closed"),
}


class EntryRule(enum.Enum):
    """Which works enter a round when it opens."""

    #: every submitted work of the campaign
    ALL_SUBMITTED = "all_submitted"
    #: the works the previous round advanced (进入下一轮, applied)
    ADVANCED = "advanced"

    @property
    def label(self):
        return ENTRY_RULE_LABELS[self]


ENTRY_RULE_LABELS = {
    EntryRule.ALL_SUBMITTED: _l("All submitted works"),
    EntryRule.ADVANCED: _l("Works advanced from the previous round"),
}


class Round(db.Model):
    """One screening round of a campaign (初评, 复评, 终评…)."""

    __tablename__ = "screening_round"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"))
    #: 1, 2, 3…: the order of the rounds in the campaign
    position: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(40))
    state: Mapped[RoundState] = enum_column("state", RoundState, default=RoundState.DRAFT)
    #: scores run from 0 to this (whole numbers)
    scale_max: Mapped[int] = mapped_column(default=10)
    #: how many experts score each work
    experts_per_work: Mapped[int] = mapped_column(default=3)
    entry_rule: Mapped[EntryRule] = enum_column("entry_rule", EntryRule, length=20, default=EntryRule.ALL_SUBMITTED)
    #: the submitting unit is hidden from the experts (names, files' metadata, the 登记表)
    blind: Mapped[bool] = mapped_column(default=True)
    #: no expert scores a work of a unit of the expert's own province
    exclude_same_province: Mapped[bool] = mapped_column(default=False)
    #: experts score only the categories their profile names (``Expert.categories``)
    by_category: Mapped[bool] = mapped_column(default=False)
    #: experts disagree strongly on a work when their weighted totals (0–100) are further
    #: apart than this
    disagreement_points: Mapped[int] = mapped_column(default=20)
    created_at: Mapped[datetime]
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    campaign: Mapped[Campaign] = relationship()
    criteria: Mapped[list[Criterion]] = relationship(
        back_populates="round", cascade="all, delete-orphan", order_by="Criterion.position"
    )

    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "position"),
        sa.CheckConstraint("scale_max BETWEEN 1 AND 100", name="scale_max_range"),
        sa.CheckConstraint("experts_per_work BETWEEN 1 AND 20", name="experts_per_work_range"),
    )

    def __repr__(self) -> str:
        return f"<Round {self.id} {self.position} {self.name!r} {self.state.value}>"


class Criterion(db.Model):
    """What experts score in a round, and how much it weighs (percent of the total)."""

    __tablename__ = "screening_criterion"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("screening_round.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(60))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    #: percent; a round's weights add up to 100 (checked when the round opens)
    weight: Mapped[int]

    round: Mapped[Round] = relationship(back_populates="criteria")

    __table_args__ = (sa.CheckConstraint("weight BETWEEN 0 AND 100", name="weight_range"),)


class Expert(db.Model):
    """An expert (评审专家): a ``reviewer`` account, and what screening needs to know of them."""

    __tablename__ = "screening_expert"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    #: 统一社会信用代码 of the expert's unit, normalised; "" when the unit has none
    credit_code: Mapped[str] = mapped_column(sa.String(18), default="", index=True)
    #: WorkCategory values the expert scores when a round assigns by category; empty: all
    categories: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    def scores_category(self, category: WorkCategory) -> bool:
        return not self.categories or category.value in self.categories


class Entry(db.Model):
    """A work in a round."""

    __tablename__ = "screening_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("screening_round.id", ondelete="CASCADE"))
    work_id: Mapped[int] = mapped_column(sa.ForeignKey("work.id", ondelete="CASCADE"), index=True)
    #: 1 on entering; the next number each time the work re-enters after 退回修改
    pass_no: Mapped[int] = mapped_column(default=1)
    entered_at: Mapped[datetime]

    round: Mapped[Round] = relationship()
    work: Mapped[Work] = relationship()

    __table_args__ = (sa.UniqueConstraint("round_id", "work_id"),)


class AssignmentState(enum.Enum):
    ACTIVE = "active"
    #: the expert declared a conflict of interest; the entry was reassigned
    CONFLICT = "conflict"
    #: the secretariat took it away by hand
    REMOVED = "removed"
    #: the work re-entered after 退回修改: this pass's scores are history
    SUPERSEDED = "superseded"

    @property
    def label(self):
        return ASSIGNMENT_STATE_LABELS[self]


ASSIGNMENT_STATE_LABELS = {
    AssignmentState.ACTIVE: _l("Assigned"),
    AssignmentState.CONFLICT: _l("Conflict of interest declared"),
    AssignmentState.REMOVED: _l("Removed by the secretariat"),
    AssignmentState.SUPERSEDED: _l("Earlier version (history)"),
}


class Assignment(db.Model):
    """One expert scoring one entry in one pass."""

    __tablename__ = "screening_assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("screening_entry.id", ondelete="CASCADE"))
    #: the entry's round, kept here so an expert's list is one indexed read
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("screening_round.id", ondelete="CASCADE"))
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    pass_no: Mapped[int] = mapped_column(default=1)
    state: Mapped[AssignmentState] = enum_column("state", AssignmentState, default=AssignmentState.ACTIVE)
    assigned_at: Mapped[datetime]
    #: None when the automatic assignment made it; the secretary who added it by hand
    assigned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: the expert's comment on the work (optional)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    #: when every criterion had a score (None: not complete)
    scored_at: Mapped[datetime | None]
    #: a declared conflict's reason, or why the secretariat removed it
    end_reason: Mapped[str] = mapped_column(sa.Text, default="")
    ended_at: Mapped[datetime | None]

    entry: Mapped[Entry] = relationship()
    round: Mapped[Round] = relationship()
    expert: Mapped[User] = relationship(foreign_keys=[expert_id])
    scores: Mapped[list[CriterionScore]] = relationship(back_populates="assignment", cascade="all, delete-orphan")

    __table_args__ = (
        sa.Index("ix_screening_assignment_expert_id_round_id", "expert_id", "round_id"),
        sa.Index("ix_screening_assignment_entry_id_pass_no", "entry_id", "pass_no"),
        # the round's pages (loads, progress, results) read its assignments by state
        sa.Index("ix_screening_assignment_round_id_state", "round_id", "state"),
        # one active place per expert on a pass, whatever path adds it
        sa.Index(
            "uq_screening_assignment_active",
            "entry_id",
            "pass_no",
            "expert_id",
            unique=True,
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        ),
        sa.CheckConstraint("state <> 'active' OR ended_at IS NULL", name="active_not_ended"),
    )

    def __repr__(self) -> str:
        return f"<Assignment {self.id} entry {self.entry_id} expert {self.expert_id} {self.state.value}>"


class CriterionScore(db.Model):
    __tablename__ = "screening_score"

    assignment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("screening_assignment.id", ondelete="CASCADE"), primary_key=True
    )
    criterion_id: Mapped[int] = mapped_column(
        sa.ForeignKey("screening_criterion.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[int]
    updated_at: Mapped[datetime]

    assignment: Mapped[Assignment] = relationship(back_populates="scores")
    criterion: Mapped[Criterion] = relationship()

    __table_args__ = (sa.CheckConstraint("value >= 0", name="value_not_negative"),)


class Outcome(enum.Enum):
    #: 进入下一轮
    ADVANCE = "advance"
    #: 入选
    SELECTED = "selected"
    #: 未入选
    NOT_SELECTED = "not_selected"
    #: 退回修改: the collection's return, with a reopen date
    RETURN = "return"

    @property
    def label(self):
        return OUTCOME_LABELS[self]


OUTCOME_LABELS = {
    Outcome.ADVANCE: _l("Advance to the next round"),
    Outcome.SELECTED: _l("Selected"),
    Outcome.NOT_SELECTED: _l("Not selected"),
    Outcome.RETURN: _l("Returned for revision"),
}


class Decision(db.Model):
    """The secretariat's decision on one pass of an entry: pending until applied together."""

    __tablename__ = "screening_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("screening_entry.id", ondelete="CASCADE"))
    pass_no: Mapped[int]
    outcome: Mapped[Outcome] = enum_column("outcome", Outcome)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    #: 退回修改: the last day the unit may send the work again
    reopen_until: Mapped[date | None]
    decided_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    decided_at: Mapped[datetime]
    #: None while pending
    applied_at: Mapped[datetime | None]
    applied_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    entry: Mapped[Entry] = relationship()
    decided_by: Mapped[User] = relationship(foreign_keys=[decided_by_id])

    __table_args__ = (
        sa.UniqueConstraint("entry_id", "pass_no"),
        sa.CheckConstraint("(outcome = 'return') = (reopen_until IS NOT NULL)", name="reopen_only_for_return"),
        sa.CheckConstraint("(applied_at IS NULL) = (applied_by_id IS NULL)", name="applied_by_whom"),
    )

    @property
    def pending(self) -> bool:
        return self.applied_at is None


def weighted_total(scores: dict[int, int], criteria: list[Criterion], scale_max: int) -> Decimal | None:
    """One expert's weighted total on 0–100: Σ weight × score / scale_max over the
    criteria; None unless every criterion is scored."""
    if any(c.id not in scores for c in criteria):
        return None
    total = sum(Decimal(c.weight) * scores[c.id] for c in criteria) / Decimal(scale_max)
    return total.quantize(Decimal("0.01"))


class CopyState(enum.Enum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class BlindCopy(db.Model):
    """What an expert gets instead of a work's file: a copy under a neutral name with the
    metadata that could name the unit stripped (a JPEG's EXIF/XMP/IPTC, a .docx's core
    and app properties, an MP4's tags). Made once per file by the worker and reused by
    every round; experts never get the original."""

    __tablename__ = "screening_blind_copy"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the work's file it copies (an original, or a video's playable copy)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("work_file.id", ondelete="CASCADE"), unique=True)
    state: Mapped[CopyState] = enum_column("state", CopyState, default=CopyState.PENDING)
    storage_key: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(100), default="")
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    error: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime]
    made_at: Mapped[datetime | None]


# -- Pre-screen, 公示 and withdrawals (issue 19) ---------------------------------------------


class FingerprintKind(enum.Enum):
    #: a photo's perceptual hash (64 bits)
    IMAGE = "image"
    #: one key frame of a video, hashed the same way
    FRAME = "frame"


class Fingerprint(db.Model):
    """What near-duplicate search compares: a 64-bit perceptual hash of a photo, or of one
    of a video's key frames (``position`` orders them). The exact copy is found by the
    file's own SHA-256 (``WorkFile.sha256``)."""

    __tablename__ = "screening_fingerprint"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("work_file.id", ondelete="CASCADE"), index=True)
    #: the file's work and campaign, kept here so that a campaign's hashes are one indexed read
    work_id: Mapped[int] = mapped_column(sa.ForeignKey("work.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"))
    kind: Mapped[FingerprintKind] = enum_column("kind", FingerprintKind)
    position: Mapped[int] = mapped_column(default=0)
    #: 16 hex digits
    value: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime]

    __table_args__ = (sa.Index("ix_screening_fingerprint_campaign_id_kind", "campaign_id", "kind"),)


class Publication(db.Model):
    """公示: the campaign's list of selected works, public from the first to the last of
    its Beijing dates; objections come in during it; after it the selection is final."""

    __tablename__ = "screening_publication"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"), unique=True)
    #: the first and last day of the period (Beijing dates, both included)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    published_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    published_at: Mapped[datetime]

    campaign: Mapped[Campaign] = relationship()

    __table_args__ = (sa.CheckConstraint("ends_on >= starts_on", name="ends_after_start"),)


class Objection(db.Model):
    """An objection (异议) to a published work, from anyone, during the 公示; only the
    secretariat reads it, and answers it."""

    __tablename__ = "screening_objection"

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(sa.ForeignKey("screening_publication.id", ondelete="CASCADE"))
    work_id: Mapped[int] = mapped_column(sa.ForeignKey("work.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    #: normalised by core.phone
    phone: Mapped[str] = mapped_column(sa.String(30))
    reason: Mapped[str] = mapped_column(sa.Text)
    #: which wording of the personal-information notice the objector accepted
    notice_version: Mapped[str] = mapped_column(sa.String(20))
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime]
    answer: Mapped[str] = mapped_column(sa.Text, default="")
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    answered_at: Mapped[datetime | None]

    work: Mapped[Work] = relationship()

    __table_args__ = (
        sa.Index("ix_screening_objection_publication_id_answered_at", "publication_id", "answered_at"),
        sa.CheckConstraint("(answered_at IS NULL) = (answered_by_id IS NULL)", name="answered_by_whom"),
    )


class Withdrawal(db.Model):
    """A selected work withdrawn for a cause after publication: it leaves the platform and
    the display screens at once."""

    __tablename__ = "screening_withdrawal"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_id: Mapped[int] = mapped_column(sa.ForeignKey("work.id", ondelete="CASCADE"), unique=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    withdrawn_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    withdrawn_at: Mapped[datetime]

    work: Mapped[Work] = relationship()
