"""The storage contract, run on every store: what capabilities may rely on, paths aside."""

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from experience.core import storage
from experience.core.storage import InvalidKey, LocalStorage, MemoryStorage, OffsetMismatch


class Broken(Exception):
    pass


def _stream(*chunks: bytes, fail: bool = False):
    yield from chunks
    if fail:
        raise Broken("the client went away")


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path) -> storage.Storage:
    return LocalStorage(tmp_path / "store") if request.param == "local" else MemoryStorage()


class TestContract:
    def test_a_stream_is_stored_with_its_size_and_sha256(self, store):
        chunks = [os.urandom(1000), b"", os.urandom(70_000), b"end"]
        data = b"".join(chunks)
        written = store.write("video-1.mp4", iter(chunks))
        assert written.size == len(data)
        assert written.sha256 == hashlib.sha256(data).hexdigest()
        assert store.size("video-1.mp4") == len(data)
        assert store.read("video-1.mp4") == data
        with store.open("video-1.mp4") as f:
            assert f.read() == data

    def test_bytes_are_stored_as_one_chunk(self, store):
        written = store.write_bytes("a.pdf", b"%PDF-1.4")
        assert (written.size, store.read("a.pdf")) == (8, b"%PDF-1.4")

    def test_a_range_is_read_from_anywhere(self, store):
        data = bytes(range(256)) * 40
        store.write_bytes("k", data)
        assert store.read_range("k", 0, 10) == data[:10]
        assert store.read_range("k", 5000, 300) == data[5000:5300]
        assert store.read_range("k", len(data) - 4, 100) == data[-4:]  # shorter at the end
        assert store.read_range("k", len(data) + 10, 5) == b""

    def test_appends_in_separate_calls_make_one_object(self, store):
        store.write("upload", [])
        assert store.size("upload") == 0
        assert store.append("upload", [b"abc", b"def"], offset=0) == 6
        assert store.append("upload", _stream(b"gh"), offset=6) == 8
        assert store.read("upload") == b"abcdefgh"
        assert store.sha256("upload") == hashlib.sha256(b"abcdefgh").hexdigest()

    def test_an_append_at_the_wrong_offset_writes_nothing(self, store):
        store.write_bytes("upload", b"abc")
        with pytest.raises(OffsetMismatch) as e:
            store.append("upload", [b"abc"], offset=0)  # a retried request: already there
        assert (e.value.expected, e.value.actual) == (0, 3)
        assert store.read("upload") == b"abc"

    def test_an_append_needs_the_object(self, store):
        with pytest.raises(FileNotFoundError):
            store.append("nothing-here", [b"x"])

    def test_a_broken_append_keeps_what_arrived_so_the_upload_resumes(self, store):
        store.write("upload", [])
        with pytest.raises(Broken):
            store.append("upload", _stream(b"first ", b"second", fail=True), offset=0)
        assert store.size("upload") == 12
        assert store.append("upload", [b"!"], offset=12) == 13

    def test_concurrent_appends_at_one_offset_write_once(self, store):
        store.write("upload", [])
        results, start = [], threading.Barrier(4)

        def attempt():
            start.wait()
            try:
                results.append(store.append("upload", [b"x" * 100_000], offset=0))
            except OffsetMismatch:
                results.append("refused")

        threads = [threading.Thread(target=attempt) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results, key=str) == [100_000, "refused", "refused", "refused"]
        assert store.size("upload") == 100_000

    def test_a_failing_stream_leaves_nothing_stored(self, store):
        with pytest.raises(Broken):
            store.write("video-2.mp4", _stream(os.urandom(100_000), os.urandom(100_000), fail=True))
        assert not store.exists("video-2.mp4")
        assert list(store.list()) == []

    def test_a_key_is_written_once(self, store):
        store.write_bytes("photo-1.jpg", b"first")
        with pytest.raises(FileExistsError):
            store.write_bytes("photo-1.jpg", b"second")
        assert store.read("photo-1.jpg") == b"first"
        assert [k for k, _ in store.list()] == ["photo-1.jpg"]

    def test_list_gives_every_key_with_its_modification_time(self, store):
        before = time.time() - 1
        store.write_bytes("a", b"1")
        store.write_bytes("b.jpg", b"22")
        listed = dict(store.list())
        assert set(listed) == {"a", "b.jpg"}
        assert all(before <= mtime <= time.time() + 1 for mtime in listed.values())

    def test_delete_removes_and_is_harmless_twice(self, store):
        store.write_bytes("a", b"1")
        store.delete("a")
        store.delete("a")
        assert not store.exists("a")
        assert list(store.list()) == []
        for read in (store.open, store.size, store.read):
            with pytest.raises(FileNotFoundError):
                read("a")

    def test_a_local_copy_is_a_readable_file_named_like_the_key(self, store):
        data = os.urandom(5000)
        store.write_bytes("video-3.mp4", data)
        with store.local_copy("video-3.mp4") as path:
            assert isinstance(path, Path) and path.suffix == ".mp4"
            assert path.read_bytes() == data
        assert store.read("video-3.mp4") == data  # the stored object is untouched
        with pytest.raises(FileNotFoundError), store.local_copy("missing.mp4"):
            pass

    @pytest.mark.parametrize(
        "key", ["../secret", "/etc/passwd", "a/b", ".hidden", "..", "a..b", "", "a b", "名.pdf", "x" * 201]
    )
    def test_keys_that_could_name_a_path_are_refused(self, store, key):
        for use in (
            lambda: store.write_bytes(key, b"x"),
            lambda: store.append(key, [b"x"]),
            lambda: store.open(key),
            lambda: store.size(key),
            lambda: store.delete(key),
        ):
            with pytest.raises(InvalidKey):
                use()
        assert list(store.list()) == []


def test_the_memory_store_hands_tools_a_temporary_copy_removed_afterwards():
    store = MemoryStorage()
    store.write_bytes("doc.pdf", b"%PDF")
    with store.local_copy("doc.pdf") as path:
        assert path.read_bytes() == b"%PDF"
    assert not path.exists()


def test_the_memory_store_removes_its_copy_when_the_tool_fails():
    store = MemoryStorage()
    store.write_bytes("doc.pdf", b"%PDF")
    with pytest.raises(Broken), store.local_copy("doc.pdf") as path:
        raise Broken
    assert not path.exists()


def test_the_disk_store_gives_its_own_file_and_shows_no_half_written_one(tmp_path):
    store = LocalStorage(tmp_path)
    store.write_bytes("doc.pdf", b"%PDF")
    with store.local_copy("doc.pdf") as path:
        assert path == tmp_path / "doc.pdf"

    seen = []

    def watching():
        yield b"part one"
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        yield b"part two"

    store.write("video.mp4", watching())
    assert "video.mp4" not in seen[0]  # written under a temporary name until complete
    assert (tmp_path / "video.mp4").read_bytes() == b"part onepart two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.pdf", "video.mp4"]


def test_the_disk_store_lists_leftovers_of_a_dead_write_for_the_sweep(tmp_path):
    store = LocalStorage(tmp_path)
    (tmp_path / ("0" * 32 + ".part")).write_bytes(b"the process died here")
    (tmp_path / "sub").mkdir()  # not ours: never listed, never deleted
    assert [k for k, _ in store.list()] == ["0" * 32 + ".part"]
    store.delete("0" * 32 + ".part")
    assert [p.name for p in tmp_path.iterdir()] == ["sub"]


def test_the_store_is_chosen_by_storage_uri(tmp_path):
    assert isinstance(storage.from_uri("memory://", default_dir=tmp_path), MemoryStorage)
    default = storage.from_uri("", default_dir=tmp_path / "uploads")
    assert isinstance(default, LocalStorage) and default.root == tmp_path / "uploads"
    named = storage.from_uri(f"file://{tmp_path}/my%20files", default_dir=tmp_path)
    assert isinstance(named, LocalStorage) and named.root == tmp_path / "my files"
    for wrong in ("s3://bucket", "file://otherhost/x", "uploads"):
        with pytest.raises(ValueError):
            storage.from_uri(wrong, default_dir=tmp_path)


def test_the_app_keeps_one_store_made_from_its_settings(app):
    app.config["STORAGE_URI"] = "memory://"
    store = storage.current()
    assert isinstance(store, MemoryStorage) and storage.current() is store
    from experience.core import uploads

    key = uploads.store_bytes(b"name,mobile", "import")
    assert store.read(key) == b"name,mobile"
    assert not Path(app.config["UPLOAD_DIR"], key).exists()  # nothing on disk
