"""HTML to PDF with WeasyPrint, behind a URL fetcher that reads only what we allow.

Why the fetcher exists: the HTML we render carries text people typed (event titles,
agendas, names). Jinja escapes it, but WeasyPrint fetches every URL a document names
(images, stylesheets, ``@import``, ``@font-face``, SVG ``<image>``, and
``rel=attachment`` files, which it *embeds in the PDF*), and its default fetcher
happily opens ``file:///etc/passwd``, ``file://`` paths to our config, or any
``http(s)://`` address, including internal ones. If one escaping mistake or one
``|safe`` ever lets markup through, the PDF must still not become a way to read a local
file or make the server fetch a URL. So every fetch goes through :class:`LockedFetcher`,
which serves exactly:

* ``data:`` URLs (inline content; WeasyPrint does route them through the fetcher);
* our own static files: ``/static/...`` resolved against ``base_url``, or any
  ``http(s)`` URL on the same scheme and host whose path starts with the app's static
  URL path. They are read from ``current_app.static_folder``, never over the network;
  ``..``, absolute paths and symlinks leading out of the folder are refused;
* ``allowed:<name>``: the files the caller passed in ``allowed_files`` (uploaded photos,
  say), e.g. ``<img src="allowed:photo-1.jpg">``.

Everything else (``file:``, other hosts, other schemes) is refused: WeasyPrint logs the
failure and leaves the image or stylesheet out. PDF attachments (``<link rel=attachment>``,
``<a rel=attachment>``) are never embedded, whatever they name, even a static file:
:func:`render_pdf` drops them after layout and gives the writing step a fetcher that
refuses everything (WeasyPrint fetches attachments only while writing the PDF).
"""

from __future__ import annotations

import io
import mimetypes
import pathlib
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit
from urllib.request import DataHandler, Request

from flask import current_app, has_app_context
from pypdf import PdfReader, PdfWriter
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse
from werkzeug.security import safe_join

#: The scheme for caller-supplied files: ``<img src="allowed:photo-1.jpg">``.
ALLOWED_SCHEME = "allowed"

#: The base URL used when the caller gives none. ``.invalid`` never resolves, and the
#: fetcher never goes to the network anyway; it only lets ``/static/...`` resolve.
DEFAULT_BASE_URL = "https://pdf.invalid/"


class RefusedURL(ValueError):
    """The fetcher will not serve this URL. WeasyPrint logs it and carries on."""


class LockedFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves ``data:``, our static files and
    ``allowed:<name>`` files, and refuses everything else (see the module docstring).

    :param base_url: the ``http(s)`` URL the document's relative URLs resolve against;
        only this scheme and host count as "ours".
    :param static_folder: where static files are read from; ``None`` serves none.
    :param static_url_path: the URL path static files live under (Flask's ``/static``).
    :param allowed_files: ``name -> bytes or Path`` for ``allowed:<name>`` URLs.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        static_folder: str | pathlib.Path | None = None,
        static_url_path: str = "/static",
        allowed_files: Mapping[str, bytes | pathlib.Path] | None = None,
    ):
        # allowed_protocols=() makes the inherited network fetch refuse everything,
        # should anything ever reach it; our fetch() never calls it.
        super().__init__(allowed_protocols=(), allow_redirects=False)
        base = urlsplit(base_url)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        self._origin = (base.scheme, base.netloc.lower())
        self._static_folder = pathlib.Path(static_folder).resolve() if static_folder else None
        self._static_prefix = static_url_path.rstrip("/") + "/"
        self._allowed = dict(allowed_files or {})

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return self._data(url)
        if scheme == ALLOWED_SCHEME:
            return self._allowed_file(url)
        if scheme in ("http", "https") and (scheme, parts.netloc.lower()) == self._origin:
            return self._static(url, parts.path)
        raise RefusedURL(url)

    def _data(self, url: str) -> URLFetcherResponse:
        with DataHandler().data_open(Request(url)) as response:
            body = response.read()
            content_type = response.headers.get("Content-Type", "text/plain;charset=US-ASCII")
        return URLFetcherResponse(url, body, {"Content-Type": content_type})

    def _allowed_file(self, url: str) -> URLFetcherResponse:
        name = unquote(url.split(":", 1)[1])
        if name not in self._allowed:
            raise RefusedURL(url)
        value = self._allowed[name]
        body = value.read_bytes() if isinstance(value, pathlib.Path) else bytes(value)
        return URLFetcherResponse(url, body, {"Content-Type": _content_type(name)})

    def _static(self, url: str, path: str) -> URLFetcherResponse:
        path = unquote(path)  # so that %2e%2e is seen as ..
        if self._static_folder is None or not path.startswith(self._static_prefix):
            raise RefusedURL(url)
        joined = safe_join(str(self._static_folder), path[len(self._static_prefix) :])
        if joined is None:  # .., an absolute path, a backslash
            raise RefusedURL(url)
        target = pathlib.Path(joined).resolve()
        if not target.is_relative_to(self._static_folder) or not target.is_file():
            raise RefusedURL(url)  # a symlink out of the folder, a directory, nothing
        return URLFetcherResponse(url, target.read_bytes(), {"Content-Type": _content_type(target.name)})


class _RefuseAll(URLFetcher):
    def __init__(self):
        super().__init__(allowed_protocols=(), allow_redirects=False)

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        raise RefusedURL(f"no attachments: {url}")


def _content_type(name: str) -> str:
    # WeasyPrint needs text/css for <link rel=stylesheet>; images it sniffs itself.
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def render_pdf(
    html: str, *, base_url: str | None = None, allowed_files: Mapping[str, bytes | pathlib.Path] | None = None
) -> bytes:
    """Render an HTML document to PDF bytes, fetching only what :class:`LockedFetcher` allows.

    :param html: the whole document, built from our templates. Fonts come from
        fontconfig: name ``"Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif``
        (``templates/_pdf/base.css`` does).
    :param base_url: the app's ``http(s)`` URL (e.g. ``request.url_root``); relative
        links and ``/static/...`` resolve against it. Defaults to
        :data:`DEFAULT_BASE_URL`, which is enough for ``/static/...`` but makes relative
        ``<a href>`` links in the PDF point nowhere useful.
    :param allowed_files: extra files the document may use as ``allowed:<name>``.
    :raises ValueError: if ``base_url`` is not an ``http(s)`` URL.

    Static files are read from ``current_app.static_folder``; outside an app context
    none are served.
    """
    app = current_app if has_app_context() else None
    fetcher = LockedFetcher(
        base_url=base_url or DEFAULT_BASE_URL,
        static_folder=app.static_folder if app else None,
        static_url_path=app.static_url_path if app else "/static",
        allowed_files=allowed_files,
    )
    document = HTML(string=html, base_url=base_url or DEFAULT_BASE_URL, url_fetcher=fetcher).render()
    # No attachments: <link rel=attachment> ends up in metadata, <a rel=attachment> in
    # page links, and both are fetched only by write_pdf(): drop them, and give the
    # writing step a fetcher that refuses all. (Not the same fetcher sealed: SVG images
    # are drawn, and their <image> elements fetched, during write_pdf() too, through
    # the fetcher the HTML was parsed with.)
    document.metadata.attachments = []
    for page in document.pages:
        page.links = [link for link in page.links if link[0] != "attachment"]
    document.url_fetcher = _RefuseAll()
    return document.write_pdf()


def render_pdf_in_parts(parts: Iterable[str], *, base_url: str | None = None, progress=None) -> bytes:
    """One PDF from several HTML documents rendered one after the other, then joined.

    WeasyPrint lays a document out whole, so a printout of thousands of guests in one
    document costs more than linear time and holds every page in memory; rendered in parts
    of a few dozen pages, the cost grows with the number of parts and the memory is that of
    one part (plus the joined pages). Page numbers are the templates' own business: the
    pages of each part know only their part. ``progress()`` is called after each part.
    """
    writer = PdfWriter()
    for html in parts:
        writer.append(PdfReader(io.BytesIO(render_pdf(html, base_url=base_url))))
        if progress is not None:
            progress()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
