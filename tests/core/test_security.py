"""CSRF, headers, size limits, error pages: what protects every page."""

import io
import re

import sqlalchemy as sa
from werkzeug.routing import IntegerConverter

from experience.accounts.models import Role
from experience.events.models import Event
from experience.extensions import db
from tests.conftest import PASSWORD


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_post_without_csrf_token_is_refused_in_chinese(app, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    make_user(username="zhangsan")
    client = app.test_client()
    r = client.post("/login", data={"username": "zhangsan", "password": PASSWORD})
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "表单已过期" in page or "过期" in page
    assert "Bad Request" not in page


def test_expired_form_token_gets_the_chinese_page(app, make_user, campaign):
    app.config["WTF_CSRF_ENABLED"] = True
    make_user(username="zhangsan")
    client = app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "zhangsan", "password": PASSWORD, "csrf_token": token})
    form_page = client.get("/events/new").get_data(as_text=True)
    stale = _csrf(form_page)
    with client.session_transaction() as s:
        s.pop("csrf_token")  # what a new session after hours away looks like to the form
    r = client.post("/events/new", data={"csrf_token": stale, "title": "x"})
    assert r.status_code == 400 and "过期" in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_an_expired_form_token_from_a_script_is_answered_in_json(app, make_user, campaign):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    r = client.post("/login", data={"csrf_token": "stale"}, headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.json["ok"] is False and r.json["expired"] is True
    assert r.json["message"].startswith("为保障安全")  # in Chinese, not "The CSRF token is missing."


def test_csrf_token_accepted(app, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    make_user(username="zhangsan")
    client = app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"username": "zhangsan", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302


def test_security_headers(client):
    r = client.get("/login")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert r.headers["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_script_and_no_outside_assets(client, auth, make_user, campaign):
    make_user(Role.HQ, username="hqboss")
    auth.login("hqboss")
    for url in ("/login", "/", "/hq/plans", "/audit", "/users", "/campaign", "/events"):
        page = client.get(url).get_data(as_text=True)
        assert "<script>" not in page and " onclick=" not in page and 'style="' not in page
        assert not re.search(r'(src|href)="(https?:)?//', page), url


def test_oversized_request_gets_a_chinese_413_page(app, client, auth, make_user, campaign):
    make_user(username="zhangsan")
    auth.login("zhangsan")
    app.config["MAX_CONTENT_LENGTH"] = 1024
    r = client.post(
        "/events/new",
        data={"title": "x", "attachment": (io.BytesIO(b"x" * 4096), "big.pdf")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 413
    assert "文件过大" in r.get_data(as_text=True) or "过大" in r.get_data(as_text=True)


def test_unknown_page_is_a_chinese_404(client):
    r = client.get("/no/such/page")
    assert r.status_code == 404 and "不存在" in r.get_data(as_text=True)


def test_server_error_page_says_nothing_was_saved(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom-test")
    def boom():
        raise RuntimeError("boom")

    from experience.accounts.session import PUBLIC_ENDPOINTS

    PUBLIC_ENDPOINTS.add("boom")
    try:
        r = client.get("/boom-test")
    finally:
        PUBLIC_ENDPOINTS.discard("boom")
    assert r.status_code == 500 and "未保存" in r.get_data(as_text=True)


def test_healthz_answers_503_when_the_schema_is_missing(tmp_path):
    from experience import create_app
    from experience.config import TestConfig

    app = create_app(type("C", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}"}))
    r = app.test_client().get("/healthz")
    assert r.status_code == 503 and r.json["database"]["state"] == "unavailable"


def test_ids_too_large_for_the_database_are_404_on_every_route(app, client, auth, make_user):
    """SQLite refuses integers above 2^63 with an OverflowError: such a URL must not reach a
    query. One converter bounds every <int:…> in the URL map."""
    make_user(Role.HQ, None, username="hqadmin")
    auth.login("hqadmin")
    huge = str(2**64)
    urls = []
    for rule in app.url_map.iter_rules():
        ints = [name for name, conv in rule._converters.items() if isinstance(conv, IntegerConverter)]
        if ints:
            url = rule.rule
            for name in ints:
                url = url.replace(f"<int:{name}>", huge)
            urls.append((url, sorted(rule.methods - {"HEAD", "OPTIONS"})[0]))
    assert len(urls) > 20
    for url, method in urls:
        assert client.open(url, method=method).status_code == 404, url
    assert client.get("/events/" + "9" * 19).status_code == 404  # just above 2^63 - 1
