def test_login_page_is_chinese_by_default(client):
    page = client.get("/login").get_data(as_text=True)
    assert "登录" in page


def test_healthz_reports_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json["database"]["state"] == "ok"
    from alembic.script import ScriptDirectory

    from experience.config import ROOT

    assert r.json["database"]["revision"] == ScriptDirectory(str(ROOT / "migrations")).get_current_head()
