"""The summary pages as the organiser uses them."""

import io
from pathlib import Path

import sqlalchemy as sa
from PIL import Image

from experience.extensions import db
from experience.ratings.models import Rating
from tests.reports.test_pdfs import busy_event  # noqa: F401  (the fixture)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(buf, "JPEG")
    return buf.getvalue()


def test_a_refused_summary_leaves_no_photo_behind(app, client, auth, busy_event):  # noqa: F811
    """A valid photo and a highlight nobody approved: the save is refused, and the photo's
    files, stored before the rule said no, are gone with it."""
    _, event = busy_event
    unapproved = db.session.scalar(sa.select(Rating.id).where(Rating.event_id == event.id))
    auth.login("bjstaff")
    upload_dir = Path(app.config["UPLOAD_DIR"])
    before = set(upload_dir.iterdir()) if upload_dir.exists() else set()
    r = client.post(
        f"/events/{event.id}/summary",
        data={"photo": (io.BytesIO(_jpeg()), "现场.jpg"), "caption": "现场", "highlight": str(unapproved)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "只能选择已审核通过的评价内容和照片。" in r.get_data(as_text=True)
    after = set(upload_dir.iterdir()) if upload_dir.exists() else set()
    assert after == before
