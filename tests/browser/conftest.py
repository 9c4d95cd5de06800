"""A live server on a free port and Debian's Chromium driven by Playwright."""

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import _free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _closing(app):
    """The app, with its answer closed even when Werkzeug's development server forgets to.

    When a browser resets a connection just after a file's last bytes (a screen or a page
    moving on cancels an image), the server's drain of the request raises before it calls
    the answer's close() (`werkzeug.serving`'s `execute`, in its `finally`). The file is
    then left to the garbage collector, whose ResourceWarning fails whichever test is
    running. gunicorn, which serves the app for real, closes it. Here the generator closes
    it when the server drops the generator.
    """

    def wsgi(environ, start_response):
        body = app(environ, start_response)
        try:
            for chunk in body:  # noqa: UP028 ("yield from" would close the body a second time)
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()

    return wsgi


@pytest.fixture
def live_server(app):
    port = _free_port()
    server = make_server("127.0.0.1", port, _closing(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="session")
def playwright():
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close()


@pytest.fixture
def phone(browser):
    ctx = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True, locale="zh-CN")
    yield ctx
    ctx.close()


@pytest.fixture
def desktop(browser):
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    yield ctx
    ctx.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{os.environ.get('TEST_DB', 'sqlite')}-{name}.png"), full_page=True)


def login(page, base: str, username: str) -> None:
    """Log in through the form, as a person does."""
    from tests.conftest import PASSWORD

    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url(f"{base}/")


def pytest_collection_modifyitems(config, items):
    """The browser tests drive pages, not the engine under them: on the PostgreSQL run they
    are skipped (the rest of the suite runs every view on both engines), which keeps
    `make test` inside its 20 minutes."""
    if os.environ.get("TEST_DB") != "postgresql":
        return
    here = Path(__file__).resolve().parent
    skip = pytest.mark.skip(reason="browser tests run on the SQLite pass")
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)
