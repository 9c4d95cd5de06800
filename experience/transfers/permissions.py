"""Who reaches an upload: its owner, and nobody else (whatever their role)."""

from __future__ import annotations

from experience.core.permissions import rule


@rule("use_upload")
def _use_upload(user, upload) -> bool:
    return upload is not None and upload.owner_id == user.id
