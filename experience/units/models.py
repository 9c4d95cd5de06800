from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experience.accounts.models import Province, User
from experience.core.models import enum_column
from experience.extensions import db


class UnitType(enum.Enum):
    """The 征集对象 of 附件1 一, plus 其他."""

    MARKET_REGULATOR = "market_regulator"
    INDUSTRY_AUTHORITY = "industry_authority"
    ASSOCIATION = "association"
    CERTIFIED_ORGANISATION = "certified_organisation"
    RELATED_ENTERPRISE = "related_enterprise"
    CERTIFICATION_BODY = "certification_body"
    OTHER = "other"

    @property
    def label(self):
        return UNIT_TYPE_LABELS[self]


UNIT_TYPE_LABELS = {
    UnitType.MARKET_REGULATOR: _l("Market regulation department"),
    UnitType.INDUSTRY_AUTHORITY: _l("Industry authority"),
    UnitType.ASSOCIATION: _l("Association or society"),
    UnitType.CERTIFIED_ORGANISATION: _l("Certified organisation"),
    UnitType.RELATED_ENTERPRISE: _l("Related enterprise"),
    UnitType.CERTIFICATION_BODY: _l("Certification body"),
    UnitType.OTHER: _l("Other"),
}


class Unit(db.Model):
    """A unit that submits works (作品报送单位), registered by itself, with its one account
    (``User.unit_id``)."""

    __tablename__ = "submitting_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    #: 统一社会信用代码, normalised (upper case, no spaces) and checked (credit_code.py)
    credit_code: Mapped[str] = mapped_column(sa.String(18), unique=True)
    unit_type: Mapped[UnitType] = enum_column("unit_type", UnitType, length=30)
    province_code: Mapped[str] = mapped_column(sa.ForeignKey("province.code"), index=True)
    contact_name: Mapped[str] = mapped_column(sa.String(60))
    #: a mobile number, 11 digits (core/phone.py)
    contact_mobile: Mapped[str] = mapped_column(sa.String(20))
    contact_email: Mapped[str | None] = mapped_column(sa.String(254))
    #: the declaration of 附件1 三 (参与条件) as accepted at registration: which text
    #: (services.DECLARATION_VERSION), when and from which address
    declaration_version: Mapped[str] = mapped_column(sa.String(20))
    declaration_accepted_at: Mapped[datetime]
    declaration_ip: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime]
    #: set by the secretariat; the unit's account cannot log in meanwhile, its works stay
    disabled_at: Mapped[datetime | None]
    # use_alter: the two tables point at each other (user_account.unit_id)
    disabled_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", use_alter=True, name="fk_submitting_unit_disabled_by_id_user_account")
    )

    province: Mapped[Province] = relationship()
    account: Mapped[User | None] = relationship(
        User, primaryjoin="User.unit_id == Unit.id", foreign_keys="User.unit_id", uselist=False, viewonly=True
    )

    __table_args__ = (sa.CheckConstraint("(disabled_at IS NULL) = (disabled_by_id IS NULL)", name="disabled_by_whom"),)

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def __repr__(self) -> str:
        return f"<Unit {self.credit_code} {self.name}>"
