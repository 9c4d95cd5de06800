from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experience.core.models import enum_column
from experience.extensions import db


class Province(db.Model):
    """One of the 32 provincial-level units; rows come with the schema (migration)."""

    __tablename__ = "province"

    #: GB/T 2260 code; 66 for 新疆生产建设兵团, which GB/T 2260 does not list
    code: Mapped[str] = mapped_column(sa.String(2), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(20), unique=True)

    @property
    def province_code(self) -> str:
        return self.code


class Role(enum.Enum):
    HQ = "hq"
    SECRETARIAT = "secretariat"
    PROVINCE = "province"
    ORGANIZER = "organizer"
    #: a unit that submits works (作品报送单位); it registers itself (experience/units)
    SUBMITTER = "submitter"
    #: an expert who scores works in screening (评审专家); the secretariat makes the account
    REVIEWER = "reviewer"


#: the roles an administrator gives; a submitting unit's account comes from its own registration
STAFF_ROLES = (Role.HQ, Role.SECRETARIAT, Role.PROVINCE, Role.ORGANIZER)


class User(db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(40), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(60), default="")
    #: the unit the person works for (a local regulator or a certification body)
    organisation: Mapped[str] = mapped_column(sa.String(120), default="")
    role: Mapped[Role] = enum_column("role", Role)
    province_code: Mapped[str | None] = mapped_column(sa.ForeignKey("province.code"), index=True)
    #: a submitter's unit (experience/units); one account per unit
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("submitting_unit.id"), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    must_change_password: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    #: part of the login cookie; replacing it ends every session of this user
    session_token: Mapped[str] = mapped_column(sa.String(32), default=lambda: secrets.token_hex(16))
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]

    province: Mapped[Province | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("(role IN ('hq', 'secretariat')) = (province_code IS NULL)", name="province_matches_role"),
        sa.CheckConstraint("(role = 'submitter') = (unit_id IS NOT NULL)", name="unit_matches_role"),
    )

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    def end_sessions(self) -> None:
        self.session_token = secrets.token_hex(16)

    @property
    def is_hq(self) -> bool:
        return self.role is Role.HQ

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role.value}>"
