import re
from datetime import timedelta

import sqlalchemy as sa

from experience.accounts.models import Role, User
from experience.core.audit import AuditEntry
from experience.extensions import db
from tests.conftest import NOW, PASSWORD


def test_login_and_home(client, auth, make_user, campaign):
    make_user(username="zhangsan")
    r = auth.login("zhangsan")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "本省活动方案" in home.get_data(as_text=True)  # a province's start page shows its plan


def test_wrong_password_shows_chinese_message(client, auth, make_user):
    make_user(username="zhangsan")
    page = auth.login("zhangsan", "nope").get_data(as_text=True)
    assert "用户名或密码错误" in page


def test_pages_need_a_login(client, campaign):
    r = client.get("/events")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_login_starts_a_fresh_session(client, auth, make_user):
    make_user(username="zhangsan")
    with client.session_transaction() as s:
        s["planted"] = "by an attacker"
    auth.login("zhangsan")
    with client.session_transaction() as s:
        assert "planted" not in s


def test_next_parameter_cannot_leave_the_site(client, make_user):
    make_user(username="zhangsan")
    r = client.post("/login?next=https://evil.example/x", data={"username": "zhangsan", "password": PASSWORD})
    assert r.headers["Location"] == "/"
    r = client.post("/logout")
    r = client.post("/login?next=/events", data={"username": "zhangsan", "password": PASSWORD})
    assert r.headers["Location"] == "/events"


def test_idle_session_ends_after_30_minutes(app, client, auth, make_user, campaign):
    make_user(username="zhangsan")
    auth.login("zhangsan")
    assert client.get("/events").status_code == 200
    with client.session_transaction() as s:
        s["seen"] = (NOW - timedelta(minutes=31)).isoformat()
    app.config["FROZEN_NOW"] = NOW
    r = client.get("/events")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert "30" in client.get("/login").get_data(as_text=True)  # says why
    assert client.get("/events").status_code == 302


JSON = {"Accept": "application/json"}


def test_a_page_script_whose_login_ended_is_told_so_in_json_not_sent_the_login_form(
    app, client, auth, make_user, campaign
):
    """A phone's console polls with fetch: a redirect to the login form read as "no
    answer from the server". A script asking for JSON gets a 401 saying the login ended
    and where to log in; a browser page still gets the login form."""
    make_user(username="zhangsan")
    never = client.get("/events", headers=JSON)
    assert never.status_code == 401
    assert never.json["message"].startswith("登录已失效") and never.json["login"] == "/login"
    assert client.get("/events").status_code == 302  # a page: the login form, as before
    auth.login("zhangsan")
    assert client.get("/events", headers=JSON).status_code == 200
    with client.session_transaction() as s:
        s["seen"] = (NOW - timedelta(minutes=31)).isoformat()
    app.config["FROZEN_NOW"] = NOW
    idle = client.get("/events", headers=JSON)
    assert idle.status_code == 401 and "30 分钟无操作" in idle.json["message"]
    assert client.get("/events", headers=JSON).status_code == 401  # the login is gone


def test_an_idle_timeout_keeps_the_language_chosen(app, client, auth, make_user, campaign):
    make_user(username="zhangsan")
    auth.login("zhangsan")
    client.post("/language", data={"lang": "en"})
    with client.session_transaction() as s:
        s["seen"] = (NOW - timedelta(minutes=31)).isoformat()
    app.config["FROZEN_NOW"] = NOW
    idle = client.get("/events", headers=JSON)
    assert idle.status_code == 401 and idle.json["message"].startswith("Your login has ended")
    assert "Log in" in client.get("/login").get_data(as_text=True)  # the form in English too


def test_activity_within_30_minutes_keeps_session(app, client, auth, make_user, campaign):
    make_user(username="zhangsan")
    auth.login("zhangsan")
    with client.session_transaction() as s:
        s["seen"] = (NOW - timedelta(minutes=29)).isoformat()
    app.config["FROZEN_NOW"] = NOW
    assert client.get("/events").status_code == 200


def test_password_change_ends_other_sessions(app, make_user, campaign):
    make_user(username="zhangsan")
    laptop, phone = app.test_client(), app.test_client()
    for c in (laptop, phone):
        c.post("/login", data={"username": "zhangsan", "password": PASSWORD})
        assert c.get("/events").status_code == 200
    r = laptop.post("/password", data={"current": PASSWORD, "new": "Brand-New-Pass-5", "confirm": "Brand-New-Pass-5"})
    assert r.status_code == 302
    assert laptop.get("/events").status_code == 200  # the session that changed it goes on
    assert phone.get("/events").status_code == 302  # the other one is over


def test_logout_ends_every_session_of_the_user(app, make_user, campaign):
    make_user(username="zhangsan")
    a, b = app.test_client(), app.test_client()
    for c in (a, b):
        c.post("/login", data={"username": "zhangsan", "password": PASSWORD})
    a.post("/logout")
    assert b.get("/events").status_code == 302


def test_disabling_an_account_ends_its_sessions(app, make_user, campaign):
    make_user(Role.HQ, username="boss")
    user = make_user(username="zhangsan")
    victim, admin = app.test_client(), app.test_client()
    victim.post("/login", data={"username": "zhangsan", "password": PASSWORD})
    admin.post("/login", data={"username": "boss", "password": PASSWORD})
    admin.post(f"/users/{user.id}/active", data={"active": "0"})
    assert victim.get("/events").status_code == 302


def test_reset_password_forces_change_at_next_login(app, make_user, campaign):
    make_user(Role.HQ, username="boss")
    user = make_user(username="zhangsan")
    admin = app.test_client()
    admin.post("/login", data={"username": "boss", "password": PASSWORD})
    page = admin.post(f"/users/{user.id}/reset").get_data(as_text=True)
    temporary = re.search(r'<code class="temporary">([^<]+)</code>', page).group(1)
    c = app.test_client()
    c.post("/login", data={"username": "zhangsan", "password": temporary})
    r = c.get("/events")
    assert r.status_code == 302 and r.headers["Location"].endswith("/password")
    c.post("/password", data={"current": temporary, "new": "Mine-Own-Pass-8", "confirm": "Mine-Own-Pass-8"})
    assert c.get("/events").status_code == 200


def test_weak_new_password_refused_with_chinese_message(client, auth, make_user):
    make_user(username="zhangsan")
    auth.login("zhangsan")
    page = client.post("/password", data={"current": PASSWORD, "new": "password12", "confirm": "password12"}).get_data(
        as_text=True
    )
    assert "密码至少需要 15 个字符" in page  # the rule's own message, in Chinese
    assert db.session.scalar(sa.select(User).where(User.username == "zhangsan")).must_change_password is False


def test_hq_creates_province_staff(client, auth, make_user):
    make_user(Role.HQ, username="boss")
    auth.login("boss")
    r = client.post(
        "/users",
        data={
            "username": "gd-staff",
            "display_name": "广东省局",
            "organisation": "",
            "role": "province",
            "province": "44",
            "password": "Guang-Dong-Spring-2024",
        },
    )
    assert r.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.username == "gd-staff"))
    assert user.province_code == "44" and user.must_change_password


def test_province_can_only_create_its_organisers(client, auth, make_user):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    auth.login("bjstaff")
    page = client.get("/users").get_data(as_text=True)
    assert 'value="hq"' not in page
    r = client.post(
        "/users",
        data={
            "username": "sneaky",
            "display_name": "x",
            "role": "hq",
            "province": "",
            "password": "Guang-Dong-Spring-2024",
        },
    )
    assert r.status_code == 200  # the form refuses the choice
    r = client.post(
        "/users",
        data={
            "username": "org-cy",
            "display_name": "朝阳区局",
            "role": "organizer",
            "province": "11",
            "password": "Chao-Yang-Autumn-2024",
        },
    )
    assert r.status_code == 302
    assert db.session.scalar(sa.select(User.province_code).where(User.username == "org-cy")) == "11"
    assert db.session.scalar(sa.select(User).where(User.username == "sneaky")) is None


def test_province_cannot_touch_another_provinces_organiser(client, auth, make_user):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    other = make_user(Role.ORGANIZER, "33", username="zj-org")
    auth.login("bjstaff")
    assert client.post(f"/users/{other.id}/reset").status_code == 404
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "access.denied")
        )
        == 1
    )


def test_audit_log_filters(client, auth, make_user):
    make_user(Role.HQ, username="boss")
    make_user(username="zhangsan")
    auth.login("zhangsan", "wrong")
    auth.login("boss")
    page = client.get("/audit?action=login.failure").get_data(as_text=True)
    assert "zhangsan" in page and "login.success" not in page.split("<tbody>")[1]
    page = client.get("/audit?who=boss&from=2000-01-01&to=2999-01-01").get_data(as_text=True)
    assert "login.success" in page
    assert client.get("/audit?from=not-a-date").status_code == 200


def test_language_switch_to_english_and_back(client):
    client.post("/language", data={"lang": "en"})
    assert "Log in" in client.get("/login").get_data(as_text=True)
    client.post("/language", data={"lang": "zh_CN"})
    assert "登录" in client.get("/login").get_data(as_text=True)


def _audit_rows(page: str) -> list[str]:
    """The log's rows as the text a person reads, cell by cell."""
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in body.split("</tr>") if "<td" in row]


def test_audit_log_shows_names_and_words_not_ids_and_codes(client, auth, make_user, make_event, campaign):
    """Issue 13: "user 1", "plan 1", "33", "first: False", "role: organizer" become the
    account's name, the plan's province, the province's name and Chinese words."""
    from experience.plans import services as plans

    hq = make_user(Role.HQ, username="boss", display_name="认证监管司张处长")
    staff = make_user(Role.PROVINCE, "11", username="bjstaff", display_name="北京市市场监管局")
    make_user(Role.ORGANIZER, "11", username="bjorg", actor=staff, display_name="朝阳区承办人")
    event = make_event(actor=staff, title="养老服务认证体验日")
    plan = plans.plan_for(campaign, "11")
    plans.save_plan(plan, actor=staff, now=NOW, organisation_text="甲", coordination_text="乙", publicity_text="丙")
    plans.save_plan(plan, actor=staff, now=NOW, safety_text="丁")
    plan.document_key, plan.document_name = "x.pdf", "方案.pdf"
    plans.submit_plan(plan, actor=staff, now=NOW)
    plans.select_launch(event, True, "重点支持", actor=hq, now=NOW)
    plans.grant_extension(campaign, "33", NOW.date() + timedelta(days=20), "汛期", actor=hq, now=NOW)
    db.session.commit()
    auth.login("boss")
    page = client.get("/audit").get_data(as_text=True)
    rows = _audit_rows(page)
    submitted = next(r for r in rows if "活动方案已报送" in r)
    assert "北京市市场监管局（bjstaff）" in submitted
    assert "活动方案：北京市" in submitted
    assert "首次报送：是" in submitted and "逾期：否" in submitted
    created = next(r for r in rows if "账号已创建" in r and "bjorg" in r)
    assert "账号：朝阳区承办人（bjorg）" in created and "角色：活动承办单位" in created
    selected = next(r for r in rows if "选为启动仪式项目" in r)
    assert "活动：养老服务认证体验日" in selected and "认证监管司张处长（boss）" in selected
    extended = next(r for r in rows if "延期事项" in r)
    assert "省份：浙江省" in extended and "延期事项：活动方案" in extended
    table = page.split("<tbody>")[1]
    for raw in ("user ", "plan ", "first:", "late:", "role:", "organizer", "False", "True", ">33<"):
        assert raw not in table, raw


def test_audit_log_reads_a_full_page_in_a_fixed_number_of_queries(app, client, auth, make_user, make_event, campaign):
    """Names are looked up in one query per kind of thing on the page, never one per row."""
    from experience.plans import services as plans

    hq = make_user(Role.HQ, username="boss")
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    auth.login("boss")

    def queries_for_the_page() -> int:
        seen = []
        listen = lambda *args, **kw: seen.append(1)  # noqa: E731
        sa.event.listen(db.engine, "before_cursor_execute", listen)
        try:
            assert client.get("/audit").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listen)
        return len(seen)

    numbers = iter(range(1000))

    def more_entries(n: int) -> None:
        for i in (next(numbers) for _ in range(n)):
            event = make_event(actor=staff, title=f"体验活动{i}")
            plans.select_launch(event, False, "", actor=hq, now=NOW)  # unchanged: no entry
            make_user(Role.ORGANIZER, "11", username=f"org{i}", actor=staff)
        db.session.commit()

    more_entries(3)
    few = queries_for_the_page()
    more_entries(30)
    assert queries_for_the_page() == few


def test_a_guest_page_switches_language_by_a_link_and_sets_no_cookie_until_then(app, client):
    """The guests' pages carry no form in their header: a tap's page sends no session
    cookie, and the language link switches and comes back to the page."""
    r = client.get("/c/NOSUCHCODE")
    assert r.status_code == 404
    assert "Set-Cookie" not in r.headers
    html = r.get_data(as_text=True)
    assert 'href="/language/en?next=/c/NOSUCHCODE"' in html
    r = client.get("/language/en?next=/c/NOSUCHCODE")
    assert r.status_code == 302 and r.headers["Location"].endswith("/c/NOSUCHCODE")
    html = client.get("/c/NOSUCHCODE").get_data(as_text=True)
    assert 'lang="en"' in html and 'href="/language/zh_CN?next=/c/NOSUCHCODE"' in html
    # another site cannot be the destination, nor a made-up language
    assert client.get("/language/en?next=//evil.example/").headers["Location"].endswith("/")
    client.get("/language/xx")
    assert 'lang="en"' in client.get("/c/NOSUCHCODE").get_data(as_text=True)
