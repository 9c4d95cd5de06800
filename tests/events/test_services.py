"""Event rules called directly, without HTTP."""

import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core.audit import AuditEntry
from experience.events import services
from experience.extensions import db
from tests.conftest import NOW


def test_an_attachment_download_is_audited_with_the_file_name(make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    event.attachment_key, event.attachment_name = "abc.pdf", "议程.pdf"
    services.record_attachment_download(event, actor=staff, now=NOW, ip="10.0.0.1")
    db.session.commit()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "file.download"))
    assert (entry.actor_name, entry.target_id, entry.detail) == ("bjstaff", str(event.id), {"file": "议程.pdf"})
