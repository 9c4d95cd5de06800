import io
import zipfile

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
    assert (
        list((__import__("pathlib").Path(app.config["UPLOAD_DIR"])).glob("*")) == []
        if __import__("pathlib").Path(app.config["UPLOAD_DIR"]).exists()
        else True
    )


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
    for key in ("../secret", "/etc/passwd", ".hidden", ""):
        with pytest.raises(FileNotFoundError):
            uploads.open_upload(key)


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
