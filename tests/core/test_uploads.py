import io
import os
import struct
import zipfile
from pathlib import Path

import pytest
from werkzeug.datastructures import FileStorage

from experience.core import uploads
from experience.core.errors import RuleError


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def _upload(data: bytes, name: str) -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=name)


def test_pdf_and_docx_stored_under_generated_names(app, pdf_bytes, tmp_path):
    key, name = uploads.store_upload(_upload(pdf_bytes, "../../方案.pdf"), "attachment")
    assert key.endswith(".pdf") and len(key) == 36 and name == "方案.pdf"
    with uploads.open_upload(key) as f:
        assert f.read() == pdf_bytes
    key, _ = uploads.store_upload(_upload(_docx(), "agenda.docx"), "attachment")
    assert key.endswith(".docx")


@pytest.mark.parametrize(
    "data, name, code",
    [
        (b"", "empty.pdf", "empty"),
        (b"<html><script>alert(1)</script></html>", "evil.pdf", "wrong_type"),
        (b"PK\x03\x04not really a zip", "fake.docx", "wrong_type"),
        (b"GIF89a" + b"\x00" * 100, "image.pdf", "wrong_type"),
    ],
)
def test_content_decides_not_the_name(app, data, name, code):
    with pytest.raises(RuleError) as e:
        uploads.store_upload(_upload(data, name), "attachment")
    assert e.value.code == code
    assert _stored(app) == []


def test_docx_not_accepted_as_plan_document(app):
    with pytest.raises(RuleError) as e:
        uploads.store_upload(_upload(_docx(), "plan.docx"), "plan_document")
    assert e.value.code == "wrong_type"


def test_over_the_limit_refused(app, pdf_bytes, monkeypatch):
    monkeypatch.setitem(uploads.KINDS, "attachment", (("pdf",), 100))
    with pytest.raises(RuleError) as e:
        uploads.store_upload(_upload(pdf_bytes + b" " * 200, "big.pdf"), "attachment")
    assert e.value.code == "too_large"


def test_keys_cannot_escape_the_upload_folder(app):
    for key in ("../secret", "/etc/passwd", ".hidden", "", "a" * 32 + "/../x"):
        for use in (uploads.open_upload, lambda k: uploads.read_bytes(k, "import")):
            with pytest.raises(FileNotFoundError):
                use(key)
        if key:  # no key at all is "nothing to delete"
            with pytest.raises(FileNotFoundError):
                uploads.delete_upload(key)
        with pytest.raises(FileNotFoundError), uploads.local_copy(key):
            pass


def test_a_stream_is_stored_with_its_digest_and_a_refused_one_leaves_nothing(app):
    import hashlib

    chunks = [os.urandom(64 * 1024) for _ in range(4)]
    key, written = uploads.store_stream(iter(chunks), "video", "mp4")
    assert key.startswith("video-") and key.endswith(".mp4")
    assert (written.size, written.sha256) == (4 * 64 * 1024, hashlib.sha256(b"".join(chunks)).hexdigest())

    def over_the_limit():
        yield from chunks
        raise RuleError("too_large", uploads.MESSAGES["too_large"], limit=0)

    with pytest.raises(RuleError):
        uploads.store_stream(over_the_limit(), "video", "mp4")
    assert _stored(app) == [key]


def test_a_tool_gets_a_real_file_of_a_stored_upload(app, pdf_bytes):
    key, _ = uploads.store_upload(_upload(pdf_bytes, "方案.pdf"), "plan_document")
    with uploads.local_copy(key) as path:
        assert path.read_bytes() == pdf_bytes


@pytest.mark.parametrize(
    "data",
    [
        # HTML that carries the markers a lax check looks for
        b"<html><!-- %PDF-1.4 --><body>not a plan</body><!-- %%EOF --></html>",
        # the header not at byte 0
        b" \n%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        # the header and the end, but nothing a reader can open
        b"%PDF-1.4\nthis is not a document\n%%EOF\n",
        # a PDF with no page
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n",
    ],
)
def test_a_sealed_plan_must_be_a_pdf_that_opens_with_a_page(app, data):
    with pytest.raises(RuleError) as e:
        uploads.store_upload(_upload(data, "盖章方案.pdf"), "plan_document")
    assert e.value.code == "wrong_type"


def test_a_real_pdf_from_our_renderer_is_accepted(app):
    from experience.core.pdf import render_pdf

    data = render_pdf("<p>活动方案</p>", base_url="http://testserver/")
    key, _ = uploads.store_upload(_upload(data, "方案.pdf"), "plan_document")
    assert key.endswith(".pdf")


# -- Zips (.docx here, .xlsx guest lists too): judged by their directory, never unpacked ----


def _zip(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return buf.getvalue()


def _stored(app) -> list[str]:
    folder = Path(app.config["UPLOAD_DIR"])
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_docx_zip_bomb_is_refused_and_nothing_is_stored(app):
    bomb = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": bytes(50 * uploads.MB)})
    assert len(bomb) < 100 * 1024
    with pytest.raises(RuleError) as e:
        uploads.store_upload(_upload(bomb, "议程.docx"), "attachment")
    assert e.value.code == "too_big_inside"
    assert str(e.value).startswith("该文件解压后的内容远超其表面大小（超过 100 MB")
    assert _stored(app) == []


def test_a_docx_full_of_pictures_is_accepted(app):
    pictures = {f"word/media/image{i}.jpeg": os.urandom(uploads.MB) for i in range(5)}  # zip cannot shrink them
    key, _ = uploads.store_upload(
        _upload(
            _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>", **pictures}), "a.docx"
        ),
        "attachment",
    )
    assert key.endswith(".docx")


@pytest.mark.parametrize(
    "parts, limits",
    [
        ({"a": os.urandom(600 * 1024), "b": os.urandom(600 * 1024)}, {"max_total": uploads.MB}),  # too big in all
        ({f"part{i}": b"" for i in range(11)}, {"max_members": 10}),  # too many parts
        ({"a": bytes(2 * uploads.MB)}, {}),  # packed a thousand times
        ({"a": b"1234" * uploads.MB}, {"max_ratio": 10}),  # a ratio of our choosing
    ],
)
def test_a_zip_over_a_limit_is_too_big_inside(parts, limits):
    with pytest.raises(RuleError) as e:
        uploads.check_zip(_zip(parts), **{"max_total": 20 * uploads.MB, **limits})
    assert e.value.code == "too_big_inside"


def test_a_small_part_may_be_packed_tightly():
    # styles and empty sheets pack a hundred times and more; under a megabyte it does no harm
    assert uploads.check_zip(_zip({"a": bytes(uploads.MB)}), max_total=20 * uploads.MB) == ["a"]


def _refuse(*args, **kwargs):
    raise AssertionError("zipfile read the directory")


def test_a_directory_too_big_for_its_parts_is_refused_before_zipfile_reads_it(monkeypatch):
    # zipfile makes an object of every entry in the directory, whatever number the end
    # record gives; here it says 1, and the directory holds 20 entries of 600 bytes
    data = bytearray(_zip({f"{i:0600d}": b"" for i in range(20)}))
    data[-14:-10] = (1).to_bytes(2, "little") * 2  # the counts of parts, on this disk and in all
    monkeypatch.setattr(zipfile, "ZipFile", _refuse)
    with pytest.raises(RuleError) as e:
        uploads.check_zip(bytes(data), max_total=uploads.MB, max_members=10)
    assert e.value.code == "too_big_inside"


def test_a_zip64_directory_is_measured_too(monkeypatch):
    # the end records of a zip64 file, by hand (a real one needs 65,536 parts or 4 GB)
    zip64_end = b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, 1, 1, 50 * uploads.MB, 0)
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, 4, 1)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    monkeypatch.setattr(zipfile, "ZipFile", _refuse)
    with pytest.raises(RuleError) as e:
        uploads.check_zip(b"PK\x03\x04" + zip64_end + locator + end, max_total=20 * uploads.MB)
    assert e.value.code == "too_big_inside"


def test_a_directory_that_lies_about_sizes_only_breaks_the_zip():
    # check_zip trusts the directory because zipfile never unpacks a part past the size
    # the directory gives it: a part claiming 1,000 bytes that holds 10 MB fails its CRC
    data = bytearray(_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": bytes(10 * uploads.MB)}))
    entry = data.rindex(b"word/document.xml") - 46  # its entry in the directory, after the parts
    assert data[entry : entry + 4] == b"PK\x01\x02"
    data[entry + 24 : entry + 28] = (1000).to_bytes(4, "little")  # the unpacked size
    assert "word/document.xml" in uploads.check_zip(bytes(data), max_total=uploads.MB)
    read = 0
    with (
        zipfile.ZipFile(io.BytesIO(bytes(data))) as z,
        z.open("word/document.xml") as f,
        pytest.raises(zipfile.BadZipFile, match="CRC"),
    ):
        while chunk := f.read(4096):
            read += len(chunk)
    assert read <= 1000
