from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from experience.core.tokens import new_code
from experience.extensions import db

#: an upload nobody has sent a byte to for this long is abandoned: its row and bytes go
#: (tus "expiration"); a finished one's row goes too, its bytes belong to its purpose by then
EXPIRES_AFTER = timedelta(days=1)


class Upload(db.Model):
    """One resumable upload in progress (or just finished): a row here and an object in the
    storage, and nothing in any process's memory, so that its chunks may land on any
    worker of any server. The stored object's size is the upload's offset; the
    ``upload_offset`` column follows it after each chunk (for lists and the clean-up)."""

    __tablename__ = "upload"

    #: unguessable (128 random bits): the upload's URL, /transfers/<id>
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_code)
    #: only this account reaches the upload; anyone else gets a 404
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: what it is for (a registered purpose, services.purpose): it sets the size limit and
    #: who takes the file when it is complete
    purpose: Mapped[str] = mapped_column(sa.String(40))
    #: opaque to transfers, meaningful to the purpose (a work's id)
    target: Mapped[str] = mapped_column(sa.String(64), default="")
    #: Upload-Length: the size the client announced, within the purpose's limit
    length: Mapped[int] = mapped_column(sa.BigInteger)
    #: bytes stored so far (as of the last chunk)
    upload_offset: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    storage_key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    #: the name on the user's computer, cleaned; shown, never used to store
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime]
    #: the last time a chunk arrived (or the upload was created): the clean-up's clock
    updated_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime | None]
    #: hex SHA-256 of the complete file, computed here when the last byte arrived
    sha256: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.CheckConstraint("upload_offset >= 0 AND upload_offset <= length", name="offset_within_length"),
        sa.CheckConstraint("(completed_at IS NULL) = (sha256 IS NULL)", name="complete_with_digest"),
    )

    @property
    def complete(self) -> bool:
        return self.completed_at is not None

    def expires_at(self) -> datetime:
        return (self.completed_at or self.updated_at) + EXPIRES_AFTER

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at()
