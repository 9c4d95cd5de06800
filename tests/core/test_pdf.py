"""render_pdf: Chinese comes out as embedded text, and the document can read nothing but
our static files, data: URLs and the files the caller hands in."""

import io
import socket
import subprocess
from pathlib import Path

import pytest
from flask import current_app
from PIL import Image

from experience.core import pdf
from experience.core.pdf import DEFAULT_BASE_URL, LockedFetcher, RefusedURL, render_pdf

STATIC_CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "app.css"


def _page(body: str, head: str = "") -> str:
    # The app's Jinja environment, so the include works; no request, so no context processors.
    return current_app.jinja_env.from_string(
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<style>{% include "_pdf/base.css" %}</style>{{ head|safe }}</head>'
        "<body>{{ body|safe }}</body></html>"
    ).render(head=head, body=body)


def _tool(tmp_path, data: bytes, tool: str, *options: str) -> str:
    """What a poppler tool (pdftotext, pdffonts, pdfimages, pdfdetach) says about ``data``."""
    path = tmp_path / "out.pdf"
    path.write_bytes(data)
    to_stdout = ["-"] if tool == "pdftotext" else []
    return subprocess.run([tool, *options, str(path), *to_stdout], check=True, capture_output=True, text=True).stdout


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def fetches(monkeypatch):
    """Every URL the renderer asks for, with whether it was served; and no network."""
    seen = []
    fetch = LockedFetcher.fetch

    def spy(self, url, headers=None):
        try:
            response = fetch(self, url, headers)
        except Exception:
            seen.append((url, False))
            raise
        seen.append((url, True))
        return response

    def no_network(*args, **kwargs):
        seen.append(("network", args))
        raise OSError("no network in tests")

    monkeypatch.setattr(LockedFetcher, "fetch", spy)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    return seen


def test_chinese_text_embedded_with_cjk_font(app, tmp_path):
    data = render_pdf(
        _page(
            '<h1 class="running-header">服务认证体验日</h1>'
            "<table><thead><tr><th>姓名</th><th>单位</th></tr></thead>"
            "<tbody><tr><td>王堃</td><td>李喆</td></tr><tr><td>张犇</td><td>康乐养老</td></tr>"
            "</tbody></table>"
        )
    )
    assert data.startswith(b"%PDF-")
    fonts = _tool(tmp_path, data, "pdffonts").splitlines()[2:]
    cjk = [line for line in fonts if "CJK" in line or "WenQuanYi" in line or "MicroHei" in line]
    assert cjk and all(line.split()[-5] == "yes" for line in cjk), fonts  # the "emb" column
    text = _tool(tmp_path, data, "pdftotext", "-layout")
    for word in ("服务认证体验日", "王堃", "李喆", "张犇", "康乐养老"):
        assert word in text
    assert "1 / 1" in text or "1/1" in text  # the page number from base.css


def test_long_table_repeats_its_header_and_numbers_pages(app, tmp_path):
    rows = "".join(f"<tr><td>来宾{i}</td><td>单位{i}</td></tr>" for i in range(120))
    data = render_pdf(
        _page(
            '<h1 class="running-header">来宾名单</h1><table><thead><tr><th>姓名</th><th>单位</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>"
        )
    )
    pages = _tool(tmp_path, data, "pdftotext").split("\f")[:-1]
    assert len(pages) >= 2
    for n, page in enumerate(pages, 1):
        assert "姓名" in page and "来宾名单" in page  # thead and the running header
        assert f"{n} / {len(pages)}" in page or f"{n}/{len(pages)}" in page


def test_base_css_survives_the_jinja_include(app):
    page = _page("x")
    assert '"Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif' in page
    assert "counter(page)" in page and "string-set: running-header" in page


@pytest.mark.parametrize("base_url", [None, "http://localhost/"])
def test_static_stylesheet_is_read_from_the_static_folder(app, fetches, base_url):
    render_pdf(_page("样式", head='<link rel="stylesheet" href="/static/css/app.css?v=3">'), base_url=base_url)
    assert fetches == [(f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/static/css/app.css?v=3", True)]


HOSTILE = [
    '<img src="file:///etc/passwd">',
    '<img src="/etc/passwd">',
    '<link rel="attachment" href="file:///etc/passwd">',
    '<a rel="attachment" href="file:///etc/passwd">附件</a>',
    '<img src="http://example.com/x.png">',
    '<link rel="stylesheet" href="file:///etc/passwd">',
    '<style>@import url("file:///etc/passwd");</style>',
    "<style>@font-face { font-family: x; src: url(file:///etc/passwd); } p { font-family: x; }</style><p>x</p>",
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    '<image href="file:///etc/passwd" width="10" height="10"/></svg>',
    '<object data="file:///etc/passwd" type="image/png"></object><embed src="file:///etc/passwd">',
    '<img src="https://pdf.invalid/static/../experience/config.py">',
    "<div style=\"background: url('http://169.254.169.254/latest/meta-data/')\">x</div>",
]


@pytest.mark.parametrize("markup", HOSTILE)
def test_hostile_markup_reads_no_file_and_fetches_no_url(app, tmp_path, fetches, markup):
    data = render_pdf(_page("<p>正文</p>" + markup))
    text = _tool(tmp_path, data, "pdftotext")
    assert "正文" in text and "root:" not in text
    assert _tool(tmp_path, data, "pdfdetach", "-list").startswith("0 embedded files")
    assert not any(url == "network" for url, _ in fetches)
    assert all(not served for _, served in fetches), fetches
    if "attachment" not in markup:  # attachments are dropped before anything fetches them
        assert fetches, "WeasyPrint should have tried, and been refused"


def test_fetcher_alone_keeps_attachments_out(app, tmp_path):
    # Plain WeasyPrint embeds both of these (pdfdetach lists 2 files); LockedFetcher
    # refuses them even without render_pdf dropping attachments first.
    from weasyprint import HTML

    fetcher = LockedFetcher(static_folder=app.static_folder)
    data = HTML(
        string='<link rel="attachment" href="file:///etc/passwd"><a rel="attachment" href="file:///etc/hostname">x</a>',
        base_url=DEFAULT_BASE_URL,
        url_fetcher=fetcher,
    ).write_pdf()
    assert _tool(tmp_path, data, "pdfdetach", "-list").startswith("0 embedded files")


def test_attachment_of_a_static_file_is_not_embedded_either(app, tmp_path):
    data = render_pdf(
        _page(
            '<link rel="attachment" href="/static/css/app.css"><a rel="attachment" href="/static/css/app.css">样式</a>'
        )
    )
    assert _tool(tmp_path, data, "pdfdetach", "-list").startswith("0 embedded files")


def test_allowed_file_is_embedded(app, tmp_path):
    data = render_pdf(_page('<img src="allowed:photo-1.jpg">'), allowed_files={"photo-1.jpg": _jpeg()})
    images = _tool(tmp_path, data, "pdfimages", "-list").splitlines()[2:]
    assert len(images) == 1 and images[0].split()[3:5] == ["40", "30"]


def test_allowed_file_inside_inline_svg_is_drawn(app, tmp_path):
    # SVG <image> is fetched while the PDF is written, not during layout.
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(_jpeg())
    data = render_pdf(
        _page(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 30" width="40" height="30">'
            '<image href="allowed:照片.jpg" width="40" height="30"/></svg>'
        ),
        allowed_files={"照片.jpg": photo},
    )
    assert len(_tool(tmp_path, data, "pdfimages", "-list").splitlines()[2:]) == 1


def test_data_uri_image_is_drawn(app, tmp_path, fetches):
    from experience.core.qr import qr_data_uri

    data = render_pdf(_page(f'<img src="{qr_data_uri("x")}">'))
    assert len(_tool(tmp_path, data, "pdfimages", "-list").splitlines()[2:]) == 1
    assert [served for _, served in fetches] == [True]  # data: goes through the fetcher


# --- the fetcher itself -------------------------------------------------------------


@pytest.fixture
def fetcher(app):
    return LockedFetcher(
        base_url="https://exp.example.org/",
        static_folder=app.static_folder,
        allowed_files={"photo-1.jpg": b"JPEGBYTES", "张.png": b"PNG"},
    )


@pytest.mark.parametrize(
    "url, body, content_type",
    [
        ("https://exp.example.org/static/css/app.css", STATIC_CSS.read_bytes(), "text/css"),
        ("https://EXP.example.org/static/css/app.css?v=1#x", STATIC_CSS.read_bytes(), "text/css"),
        ("https://exp.example.org/static/css/%61pp.css", STATIC_CSS.read_bytes(), "text/css"),
        ("data:text/plain;base64,5L2g5aW9", "你好".encode(), "text/plain"),
        ("data:,hello", b"hello", "text/plain"),
        ("allowed:photo-1.jpg", b"JPEGBYTES", "image/jpeg"),
        ("allowed:%E5%BC%A0.png", b"PNG", "image/png"),
    ],
)
def test_fetcher_serves(fetcher, url, body, content_type):
    response = fetcher(url)
    assert response.read() == body and response.content_type == content_type


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "file://localhost/etc/passwd",
        "/etc/passwd",
        "etc/passwd",
        "https://exp.example.org/static/../experience/config.py",
        "https://exp.example.org/static/%2e%2e/experience/config.py",
        "https://exp.example.org/static/..%2fexperience/config.py",
        "https://exp.example.org/static/css/../../experience/config.py",
        "https://exp.example.org/static//etc/passwd",
        "https://exp.example.org/static/%2fetc/passwd",
        "https://exp.example.org/static/..\\experience\\config.py",
        "https://exp.example.org/static/",
        "https://exp.example.org/static/css",
        "https://exp.example.org/static/nope.css",
        "https://exp.example.org/experience/config.py",
        "https://exp.example.org/staticx/css/app.css",
        "http://exp.example.org/static/css/app.css",  # other scheme
        "https://exp.example.org:8443/static/css/app.css",  # other port
        "https://evil.example.com/static/css/app.css",
        "https://user@exp.example.org/static/css/app.css",
        "http://example.com/x.png",
        "http://127.0.0.1:8000/static/css/app.css",
        "ftp://exp.example.org/static/css/app.css",
        "allowed:missing.jpg",
        "allowed:../photo-1.jpg",
        "allowed:/etc/passwd",
        "jar:file:///etc/passwd!/x",
    ],
)
def test_fetcher_refuses(fetcher, url):
    with pytest.raises(RefusedURL):
        fetcher(url)


def test_fetcher_refuses_symlink_out_of_static_folder(app, tmp_path):
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "ok.css").write_text("p {}")
    (static / "css" / "passwd.css").symlink_to("/etc/passwd")
    fetcher = LockedFetcher(static_folder=static)
    assert fetcher(DEFAULT_BASE_URL + "static/css/ok.css").read() == b"p {}"
    with pytest.raises(RefusedURL):
        fetcher(DEFAULT_BASE_URL + "static/css/passwd.css")


def test_fetcher_without_static_folder_serves_none():
    with pytest.raises(RefusedURL):
        LockedFetcher()(DEFAULT_BASE_URL + "static/css/app.css")


@pytest.mark.parametrize("base_url", ["file:///work/main/", "/work/main/static/", "static/"])
def test_base_url_must_be_http(app, base_url):
    with pytest.raises(ValueError):
        render_pdf("<p>x</p>", base_url=base_url)


def test_renders_outside_an_app_context_without_static_files():
    assert pdf.render_pdf("<p>你好</p>").startswith(b"%PDF-")
