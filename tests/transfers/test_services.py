"""The upload rules called directly: creation's limits, chunks that break or race, the
clean-up of abandoned uploads, and the orphan sweep sparing live ones."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from experience.core import storage, uploads
from experience.core.errors import RuleError
from experience.extensions import db
from experience.transfers import services
from experience.transfers.models import Upload
from tests.conftest import NOW

PURPOSE = "test-files"


@pytest.fixture
def purpose(app):
    found = services.purpose(PURPOSE) or services.register_purpose(
        PURPOSE, max_bytes=lambda: 1000, permission="create_work", key_prefix="upload", extension="bin"
    )
    return found


@pytest.fixture
def owner(unit):
    return unit.account


@pytest.fixture
def unit(app):
    from tests.units.helpers import register_unit

    return register_unit(province_code="11", credit_code="914403001922038216")


def _start(owner, purpose, length=100, now=NOW) -> services.Held:
    upload = services.create_upload(owner, purpose, target="", length=length, filename="a.bin", now=now)
    db.session.commit()
    return services.Held.of(upload)


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Upload))


def test_metadata_is_read_as_tus_writes_it(app):
    assert services.parse_metadata("filename 5paH5Lu2Lm1wNA==,purpose d29yay12aWRlbw==,is_confidential") == {
        "filename": "文件.mp4",
        "purpose": "work-video",
        "is_confidential": "",
    }
    for bad in ("filename not-base64!", "a YQ==,a YQ==", "name /w==", "a YQ== YQ=="):
        with pytest.raises(RuleError) as e:
            services.parse_metadata(bad)
        assert e.value.code == "bad_metadata"


@pytest.mark.parametrize("value", ["", "-1", "1e3", "１２", " 12", "9" * 19])
def test_a_length_is_plain_digits(value):
    assert services.parse_length(value) is None


def test_a_new_upload_is_an_empty_stored_object_named_by_us(app, owner, purpose):
    held = _start(owner, purpose)
    assert held.storage_key.startswith("upload-") and held.storage_key.endswith(".bin")
    assert storage.current().size(held.storage_key) == 0


def test_too_many_unfinished_uploads_are_refused(app, owner, purpose):
    for _ in range(services.MAX_OPEN_PER_OWNER):
        _start(owner, purpose)
    with pytest.raises(RuleError) as e:
        _start(owner, purpose)
    assert e.value.code == "too_many_open"
    # abandoned ones stop counting once they expire
    db.session.execute(sa.update(Upload).values(updated_at=NOW - timedelta(days=2)))
    db.session.commit()
    _start(owner, purpose)


def test_a_broken_chunk_keeps_what_arrived_and_the_upload_goes_on_from_there(app, owner, purpose):
    held = _start(owner, purpose)

    def cut_off():
        yield b"a" * 30
        raise OSError("connection reset")

    with pytest.raises(OSError):
        services.receive(held, cut_off(), offset=0, declared=50, actor=owner, now=NOW)
    db.session.commit()
    assert db.session.get(Upload, held.id).upload_offset == 30
    assert services.offset_of(held) == 30
    out = services.receive(held, [b"b" * 70], offset=30, declared=70, actor=owner, now=NOW)
    db.session.commit()
    assert out.complete and out.offset == 100
    assert storage.current().read(held.storage_key) == b"a" * 30 + b"b" * 70


def test_a_chunk_declared_past_the_length_is_refused_before_a_byte_is_read(app, owner, purpose):
    held = _start(owner, purpose)
    read = []

    def body():
        read.append(True)
        yield b"a" * 101

    with pytest.raises(RuleError) as e:
        services.receive(held, body(), offset=0, declared=101, actor=owner, now=NOW)
    assert e.value.code == "exceeds_length" and not read
    db.session.commit()
    assert db.session.get(Upload, held.id) is None


def test_expire_removes_abandoned_uploads_with_their_bytes_and_spares_the_rest(app, owner, purpose):
    old, fresh, done = _start(owner, purpose), _start(owner, purpose), _start(owner, purpose, length=3)
    services.receive(done, [b"abc"], offset=0, declared=3, actor=owner, now=NOW)
    db.session.commit()
    db.session.execute(sa.update(Upload).where(Upload.id == old.id).values(updated_at=NOW - timedelta(days=1)))
    db.session.commit()
    assert services.expire(NOW) == 1
    db.session.commit()
    assert db.session.get(Upload, old.id) is None and not storage.current().exists(old.storage_key)
    assert db.session.get(Upload, fresh.id) is not None and storage.current().exists(fresh.storage_key)
    # a day after it finished, a complete upload's row goes; its file belongs to its purpose
    services.expire(NOW + timedelta(days=1))
    db.session.commit()
    assert db.session.get(Upload, done.id) is None
    assert storage.current().read(done.storage_key) == b"abc"


def test_the_orphan_sweep_spares_a_partial_upload_left_for_hours(app, owner, purpose):
    held = _start(owner, purpose)
    services.receive(held, [b"a" * 10], offset=0, declared=10, actor=owner, now=NOW)
    db.session.commit()
    path = os.path.join(app.config["UPLOAD_DIR"], held.storage_key)
    hours_ago = time.time() - 5 * 3600
    os.utime(path, (hours_ago, hours_ago))
    assert held.storage_key not in uploads.sweep()
    assert storage.current().exists(held.storage_key)


def test_the_periodic_clean_up_runs_in_the_worker(app, owner, purpose):
    from experience.transfers.jobs import expire_uploads

    held = _start(owner, purpose, now=NOW - timedelta(days=3))
    expire_uploads.call_local()
    assert _count() == 0 and not storage.current().exists(held.storage_key)
