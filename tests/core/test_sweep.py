"""Nothing left behind: stored files no record points to are swept, young ones never."""

import os
import time
from pathlib import Path

from experience.core import uploads
from experience.extensions import db
from experience.guests import services as guests


def _age(app, name: str, seconds: float) -> None:
    path = Path(app.config["UPLOAD_DIR"], name)
    then = time.time() - seconds
    os.utime(path, (then, then))


def _names(app) -> set[str]:
    return {p.name for p in Path(app.config["UPLOAD_DIR"]).iterdir()}


def test_the_sweep_keeps_what_rows_point_to_and_anything_young(app, make_event, pdf_bytes):
    event = make_event()
    kept = uploads.store_bytes(pdf_bytes, "attachment", "pdf")
    event.attachment_key, event.attachment_name = kept, "a.pdf"
    db.session.commit()
    orphan = uploads.store_bytes(b"left behind by a refused form", "photo", "jpg")
    in_flight = uploads.store_bytes(b"its row is about to be committed", "photo", "jpg")
    leftover = "0" * 32 + ".part"
    Path(app.config["UPLOAD_DIR"], leftover).write_bytes(b"a write that died")
    for name in (kept, orphan, leftover):
        _age(app, name, 2 * 3600)
    _age(app, in_flight, 10 * 60)
    removed = uploads.sweep()
    assert sorted(removed) == sorted([orphan, leftover])
    assert _names(app) == {kept, in_flight}


def test_import_previews_last_a_day_and_the_purge_removes_them(app):
    fresh = uploads.store_bytes(b"name,mobile", guests.PREVIEW_PREFIX)
    stale = uploads.store_bytes(b"name,mobile", guests.PREVIEW_PREFIX)
    _age(app, fresh, 23 * 3600)
    _age(app, stale, 25 * 3600)
    assert uploads.sweep() == [stale]
    assert guests.drop_previews() == 1
    assert _names(app) == set()
