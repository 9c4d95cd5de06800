import contextlib
import html
import json
import os
import re
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.checkin import services
from experience.checkin.models import Scan
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests import services as guests
from experience.guests.models import CheckInVia, Guest
from tests.conftest import PASSWORD, _free_port, stop_process, wait_for


@pytest.fixture
def event(app, make_event):
    event = make_event()
    app.config["FROZEN_NOW"] = event.starts_at + timedelta(minutes=10)
    return event


@pytest.fixture
def staff(make_user):
    return make_user(Role.PROVINCE, "11", username="bjstaff")


@pytest.fixture
def token(event, staff, app):
    _, plain = services.create_api_token(event, "闸机", actor=staff, now=app.config["FROZEN_NOW"])
    db.session.commit()
    return plain


def api(client, token, body, **kw):
    return client.post("/api/v1/checkins", json=body, headers={"Authorization": f"Bearer {token}"}, **kw)


# -- the guest's phone ----------------------------------------------------------------------


def test_phone_asks_consent_first_then_checks_in(client, event, make_guest):
    guest = make_guest(event)
    page = client.get(f"/c/{guest.code}").get_data(as_text=True)
    assert event.title in page and "个人信息" in page
    r = client.post(f"/c/{guest.code}", data={})
    assert r.status_code == 200 and db.session.get(Guest, guest.id).checked_in_at is None
    r = client.post(f"/c/{guest.code}", data={"consent": "y"})
    assert "签到成功" in r.get_data(as_text=True)
    assert db.session.get(Guest, guest.id).consent_at is not None
    again = client.post(f"/c/{guest.code}", data={})
    assert again.status_code == 200 and "已于" in again.get_data(as_text=True)
    # the second tap is a scan too, and the log keeps it
    assert db.session.scalars(sa.select(Scan.result).order_by(Scan.id)).all() == ["ok", "already_checked_in"]


def test_phone_pages_for_bad_codes(client, event, make_guest, staff):
    assert client.get("/c/not-a-code").status_code == 404
    assert client.get("/c/" + "A" * 22).status_code == 404
    guest = make_guest(event)
    old = guest.code
    guests.revoke_code(guest, actor=staff, now=event.starts_at)
    db.session.commit()
    r = client.get(f"/c/{old}")
    assert r.status_code == 410
    assert "该邀请码已作废，请联系活动工作人员重新获取。" in r.get_data(as_text=True)


def scan_log():
    return db.session.execute(sa.select(Scan.result, Scan.via, Scan.guest_id).order_by(Scan.id)).all()


def test_every_tap_on_the_phone_is_in_the_scan_log_and_looking_is_not(client, event, make_guest, staff):
    """Each POST is a scan attempt and leaves a row, whatever it answers; a GET writes nothing."""
    guest = make_guest(event)
    withdrawn = guest.code
    guests.revoke_code(guest, actor=staff, now=event.starts_at)
    db.session.commit()
    unknown = "A" * 22
    for code in (unknown, withdrawn):
        assert client.get(f"/c/{code}").status_code in (404, 410)
    assert scan_log() == []
    assert client.post(f"/c/{unknown}", data={"consent": "y"}).status_code == 404
    r = client.post(f"/c/{withdrawn}", data={"consent": "y"})
    assert r.status_code == 410 and "该邀请码已作废" in r.get_data(as_text=True)
    assert [(row.result, row.via.value) for row in scan_log()] == [("unknown", "phone"), ("revoked", "phone")]
    assert scan_log()[1].guest_id == guest.id


def test_twenty_walk_ins_at_the_last_free_place_admit_exactly_one(app, event, make_guest, monkeypatch):
    """The last place, twenty people at once: each counts the venue before writing, so only
    a lock taken before the count keeps them from all counting one place free."""
    event.capacity = 3
    for _ in range(2):
        guest = make_guest(event)
        services.check_in(guest.code, via=services.CheckInVia.DESK, now=event.starts_at)
    db.session.commit()
    code, event_id = event.walk_in_code, event.id
    barrier = threading.Barrier(20, timeout=3)
    real_count = services.checked_in_count

    def count_together(ev):
        n = real_count(ev)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()  # every request has counted before any inserts, unless a lock serialises them
        return n

    monkeypatch.setattr(services, "checked_in_count", count_together)
    statuses, errors = [], []

    def walk_in(i):
        try:
            r = app.test_client().post(f"/w/{code}", data={"name": f"来宾{i}", "category": "consumer", "consent": "y"})
            statuses.append(r.status_code)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=walk_in, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert errors == []
    assert sorted(statuses) == [200] + [409] * 19
    db.session.rollback()
    walk_ins = db.session.scalars(sa.select(Guest).where(Guest.event_id == event_id, Guest.walk_in)).all()
    assert len(walk_ins) == 1
    assert db.session.scalars(sa.select(Scan.result).where(Scan.result == "full")).all() == ["full"] * 19


def test_phone_before_the_window_names_it(app, client, event, make_guest):
    guest = make_guest(event)
    app.config["FROZEN_NOW"] = event.starts_at - timedelta(hours=5)
    r = client.post(f"/c/{guest.code}", data={"consent": "y"})
    assert r.status_code == 409 and "2024-09-10 07:00" in r.get_data(as_text=True)


def test_walk_in_form(client, event):
    page = client.get(f"/w/{event.walk_in_code}").get_data(as_text=True)
    assert "个人信息" in page
    r = client.post(f"/w/{event.walk_in_code}", data={"name": "", "category": "consumer"})
    assert r.status_code == 200 and db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 0
    r = client.post(
        f"/w/{event.walk_in_code}", data={"name": "赵六", "category": "media", "phone": "139 0000 2222", "consent": "y"}
    )
    page = r.get_data(as_text=True)
    guest = db.session.scalar(sa.select(Guest))
    assert "签到成功" in page and f"/c/{guest.code}" in page and guest.phone == "13900002222"
    assert client.get("/w/" + "B" * 22).status_code == 404


def test_walk_ins_switched_off_and_full(client, event, make_guest):
    event.walk_ins_enabled = False
    db.session.commit()
    assert client.get(f"/w/{event.walk_in_code}").status_code == 409
    event.walk_ins_enabled, event.capacity = True, 1
    db.session.commit()
    services.walk_in(
        event,
        name="甲",
        category=GuestCategory.CONSUMER,
        consent=True,
        now=event.starts_at,
    )
    db.session.commit()
    r = client.post(f"/w/{event.walk_in_code}", data={"name": "乙", "category": "consumer", "consent": "y"})
    assert r.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 1
    assert "full" in db.session.scalars(sa.select(Scan.result)).all()


# -- the API ----------------------------------------------------------------------------------


def test_api_answers(client, event, make_guest, token, make_event, staff):
    guest = make_guest(event)
    r = api(client, token, {"code": guest.code, "nonce": "a1"})
    assert r.status_code == 201 and r.json["result"] == "ok" and r.json["checked_in_at"].endswith("+00:00")
    r = api(client, token, {"code": guest.code, "nonce": "a1"})  # a retry
    assert r.status_code == 201 and r.json["replayed"] is True
    r = api(client, token, {"code": guest.code, "nonce": "a2"})
    assert r.status_code == 200 and r.json["result"] == "already_checked_in"
    assert api(client, token, {"code": "A" * 22}).status_code == 404
    other = make_guest(make_event(title="别的活动"))
    r = api(client, token, {"code": other.code})
    assert r.status_code == 409 and r.json["result"] == "wrong_event"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Scan)) == 4  # the replay added none


@pytest.mark.parametrize(
    "kwargs, status",
    [
        ({"data": "code=x", "content_type": "application/x-www-form-urlencoded"}, 415),
        ({"data": "{not json", "content_type": "application/json"}, 400),
        ({"json": ["a list"]}, 400),
        ({"json": {"code": 12345}}, 400),
        ({"json": {"code": "x", "nonce": "n" * 65}}, 400),
        ({"json": {"code": "x", "nonce": "a\x00b"}}, 400),
        ({"json": {"code": "\x00" * 30, "nonce": "ok"}}, 404),
        ({"json": {"code": "x" * 5000}}, 413),
    ],
)
def test_api_bad_requests_never_500(client, event, token, kwargs, status):
    r = client.post("/api/v1/checkins", headers={"Authorization": f"Bearer {token}"}, **kwargs)
    assert r.status_code == status and r.is_json


def test_api_needs_a_live_token(client, event, token, staff, make_guest):
    guest = make_guest(event)
    assert client.post("/api/v1/checkins", json={"code": guest.code}).status_code == 401
    assert api(client, "exp_wrong", {"code": guest.code}).status_code == 401
    from experience.checkin.models import ApiToken

    services.revoke_api_token(db.session.scalar(sa.select(ApiToken)), actor=staff, now=event.starts_at)
    db.session.commit()
    assert api(client, token, {"code": guest.code}).status_code == 401
    assert db.session.get(Guest, guest.id).checked_in_at is None


# -- desk and scanner -------------------------------------------------------------------------


def test_desk_search_check_in_and_undo(client, auth, event, staff, make_guest):
    make_guest(event, name="张伟", organisation="朝阳区消协", phone="13811112222")
    make_guest(event, name="李娜", organisation="北京日报", phone="13933334444")
    auth.login("bjstaff")
    assert "张伟" in client.get(f"/events/{event.id}/desk?q=2222").get_data(as_text=True)
    page = client.get(f"/events/{event.id}/desk?q=日报").get_data(as_text=True)
    assert "李娜" in page and "张伟" not in page and "139****4444" in page and "13933334444" not in page
    guest = db.session.scalar(sa.select(Guest).where(Guest.name == "李娜"))
    client.post(f"/events/{event.id}/desk/guests/{guest.id}/checkin")
    assert db.session.get(Guest, guest.id).checked_in_at is not None
    live = client.get(f"/events/{event.id}/desk/live").json
    assert live["totals"] == {"invited": 2, "arrived": 1, "walk_ins": 0} and live["latest"][0]["name"] == "李娜"
    client.post(f"/events/{event.id}/desk/guests/{guest.id}/undo", data={"confirmed": "1"})
    assert db.session.get(Guest, guest.id).checked_in_at is None


def test_scanner_page_and_scan(client, auth, event, staff, make_guest):
    guest = make_guest(event)
    auth.login("bjstaff")
    page = client.get(f"/events/{event.id}/scanner").get_data(as_text=True)
    assert "vendor/jsQR.js" in page and "HTTPS" in page  # the test host is not localhost
    r = client.post(f"/events/{event.id}/scanner/scan", json={"code": f"http://testserver/c/{guest.code}"})
    assert r.status_code == 201 and r.json["result"] == "ok"
    r = client.post(f"/events/{event.id}/scanner/scan", json={"code": guest.code})
    assert r.json["result"] == "already_checked_in"


def test_setup_tokens_and_printouts(client, auth, event, staff, make_guest):
    make_guest(event, name="堃喆犇")
    auth.login("bjstaff")
    r = client.post(
        f"/events/{event.id}/checkin",
        data={"checkin_opens_minutes": "30", "checkin_closes_minutes": "15", "capacity": "", "walk_ins_enabled": "y"},
    )
    assert r.status_code == 302 and db.session.get(type(event), event.id).checkin_opens_minutes == 30
    page = client.post(f"/events/{event.id}/tokens", data={"name": "1号闸机"}).get_data(as_text=True)
    assert "exp_" in page
    for url in (
        f"/events/{event.id}/poster.pdf",
        f"/events/{event.id}/sign-in-sheet.pdf",
        f"/events/{event.id}/invitations.pdf",
    ):
        with client.get(url) as r:
            assert r.status_code == 200 and r.data.startswith(b"%PDF")


# -- exactly once, under a real race ----------------------------------------------------------


def test_phone_desk_and_api_at_the_same_moment_make_one_check_in(app, event, staff, make_guest, token, monkeypatch):
    """Every path reaches its write before any of them writes (the barrier holds them
    there: the phone after its read-only check, the desk and the API, which know their
    event, at their one claiming UPDATE), so only the database's conditional update can
    keep it to one."""
    guest = make_guest(event, phone="13800001111")
    desk = app.test_client()
    desk.post("/login", data={"username": "bjstaff", "password": PASSWORD})
    code, guest_id, event_id = guest.code, guest.id, event.id  # the threads have no session to load them
    requests = [
        lambda c: c.post(f"/c/{code}", data={"consent": "y"}),
        lambda c: desk.post(f"/events/{event_id}/desk/guests/{guest_id}/checkin"),
        lambda c: api(c, token, {"code": code, "nonce": "api-1"}),
        lambda c: api(c, token, {"code": code, "nonce": "api-2"}),
    ]
    barrier = threading.Barrier(len(requests), timeout=20)
    waited = threading.local()

    def together(real):
        def wrapper(*args, **kwargs):
            if not getattr(waited, "done", False):  # each request once, at its first write
                waited.done = True
                barrier.wait()
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(services, "record", together(services.record))
    monkeypatch.setattr(services, "_claim", together(services._claim))
    db.session.commit()
    errors = []

    def run(send):
        try:
            send(app.test_client())
        except Exception:  # noqa: BLE001 - reported below
            import traceback

            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=run, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    results = db.session.scalars(sa.select(Scan.result).where(Scan.guest_id == guest_id)).all()
    assert sorted(results) == ["already_checked_in"] * 3 + ["ok"]
    assert db.session.get(Guest, guest_id).checked_in_at is not None


# -- rate limits hold across worker processes -------------------------------------------------

SERVE = """
import sys
from werkzeug.serving import make_server
from experience import create_app
from experience.config import Config
app = create_app(Config)
make_server("127.0.0.1", int(sys.argv[1]), app).serve_forever()
"""


def test_per_code_rate_limit_is_shared_by_two_workers(app, event, make_guest, tmp_path, database_url):
    code = make_guest(event).code
    db.session.commit()  # and hold no lock while the workers write
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "x",
        "UPLOAD_DIR": str(tmp_path / "u"),
        "RATELIMIT_STORAGE_URI": f"sqlitefile://{tmp_path / 'shared-limits.db'}",
    }
    ports = [_free_port(), _free_port()]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    workers = []
    for p in ports:
        with open(tmp_path / f"worker-{p}.log", "w") as log:  # read them when this fails; the worker keeps it open
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", SERVE, str(p)], env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=log
                )
            )
    import urllib.error
    import urllib.request

    def post(port):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/c/{code}", data=b"consent=y", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    try:
        assert all(wait_for(lambda p=p: post(p) is not None, 60) for p in ports)  # started (2 hits used)
        statuses = [post(ports[i % 2]) for i in range(24)]
    finally:
        for w in workers:
            stop_process(w)
    # 20 per minute per code in all: each worker alone would allow 20 and never say 429
    assert statuses.count(429) >= 5, statuses
    assert 429 in statuses[::2] and 429 in statuses[1::2]


def test_odd_inputs_on_public_and_scanner_routes_never_500(client, auth, event, staff, make_guest):
    guest = make_guest(event)
    assert (
        client.post(
            f"/w/{event.walk_in_code}", data={"name": "a\x00b", "category": "consumer", "consent": "y"}
        ).status_code
        == 400
    )
    assert client.get(f"/c/{guest.code}%3Fx").status_code == 404
    assert "签到成功" not in client.get(f"/c/{guest.code}%3Fx").get_data(as_text=True)
    assert client.get("/c/%00abc/rate").status_code in (400, 404)
    auth.login("bjstaff")
    r = client.post(f"/events/{event.id}/scanner/scan", json=[1, 2])
    assert r.status_code == 404 and r.json["result"] == "unknown"


# -- the guest's phone says what it can before the tap ------------------------------------------

CJK = r"[\u3400-\u9fff]"
ASCII_BETWEEN_CJK = re.compile(rf"{CJK}\s*[:(),]\s*{CJK}")


def visible_text(page: str) -> str:
    """The page's text, without scripts, tags or attributes."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_phone_before_the_window_says_when_it_opens_and_offers_no_button(app, client, event, make_guest):
    guest = make_guest(event, name="孙丽")
    app.config["FROZEN_NOW"] = event.starts_at - timedelta(hours=5)
    r = client.get(f"/c/{guest.code}")
    text = visible_text(r.get_data(as_text=True))
    assert r.status_code == 200
    assert "签到尚未开始，将于 2024-09-10 07:00（北京时间）开始。" in text
    assert "签到台" in text
    assert 'type="submit" class="huge"' not in r.get_data(as_text=True)
    assert "孙丽" in text and event.title in text


def test_phone_after_the_window_says_it_closed_and_to_ask_the_desk(app, client, event, make_guest):
    guest = make_guest(event)
    app.config["FROZEN_NOW"] = event.ends_at + timedelta(minutes=1)
    page = client.get(f"/c/{guest.code}").get_data(as_text=True)
    text = visible_text(page)
    assert "本次活动的签到已于 2024-09-10 12:00（北京时间）结束。" in text
    assert "请到签到台联系工作人员" in text
    assert 'class="huge"' not in page


def test_success_screen_names_the_guest(client, event, make_guest):
    guest = make_guest(event, name="欧阳晓明")
    page = client.post(f"/c/{guest.code}", data={"consent": "y"}).get_data(as_text=True)
    assert re.search(r'<p class="guest-name">欧阳晓明</p>', page)
    again = client.post(f"/c/{guest.code}", data={}).get_data(as_text=True)
    assert re.search(r'<p class="guest-name">欧阳晓明</p>', again)


def test_consent_missing_is_said_at_the_top_of_the_page(client, event, make_guest):
    guest = make_guest(event)
    page = client.post(f"/c/{guest.code}", data={}).get_data(as_text=True)
    main = page.split("<main", 1)[1]
    assert main.index('class="flash error"') < main.index('class="card event-card')
    assert "请先阅读并同意个人信息告知" in visible_text(main)


# -- walk-ins ---------------------------------------------------------------------------------


def test_walk_in_form_has_no_default_category(client, event):
    page = client.get(f"/w/{event.walk_in_code}").get_data(as_text=True)
    select = re.search(r'<select[^>]*id="category".*?</select>', page, re.S).group(0)
    assert re.findall(r"<option[^>]*selected[^>]*>", select) == []
    assert re.search(r'<option value="">请选择</option>', select)  # the browser shows the first
    r = client.post(f"/w/{event.walk_in_code}", data={"name": "赵六", "consent": "y"})
    assert r.status_code == 200
    assert "请选择您的身份。" in r.get_data(as_text=True)
    r = client.post(f"/w/{event.walk_in_code}", data={"name": "赵六", "category": "", "consent": "y"})
    assert "请选择您的身份。" in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 0


def walk_in_as(client, event, **data):
    return client.post(f"/w/{event.walk_in_code}", data={"category": "consumer", "consent": "y", **data})


def test_the_phone_that_registered_sees_its_own_result_again(client, event):
    r = walk_in_as(client, event, name="赵六", phone="13900002222")
    guest = db.session.scalar(sa.select(Guest))
    assert r.status_code == 200 and f"/c/{guest.code}" in r.get_data(as_text=True)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and f"Path=/w/{event.walk_in_code}" in cookie and guest.code not in cookie
    # the poster scanned again, or the form sent again: the same person, the same link
    for again in (client.get(f"/w/{event.walk_in_code}"), walk_in_as(client, event, name="赵六", phone="13900002222")):
        page = again.get_data(as_text=True)
        assert again.status_code == 200
        assert f"/c/{guest.code}" in page and "赵六" in page and "您已签到" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 1
    # someone else on the same phone may still register
    form = client.get(f"/w/{event.walk_in_code}?another=1").get_data(as_text=True)
    assert 'id="category"' in form
    r = walk_in_as(client, event, name="钱七")
    assert r.status_code == 200 and db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 2


def test_the_phone_that_registered_keeps_its_link_after_walk_ins_stop(client, event):
    assert walk_in_as(client, event, name="赵六").status_code == 200
    guest = db.session.scalar(sa.select(Guest))
    event.walk_ins_enabled = False
    db.session.commit()
    r = client.get(f"/w/{event.walk_in_code}")
    assert r.status_code == 200 and f"/c/{guest.code}" in r.get_data(as_text=True)
    assert client.get(f"/w/{event.walk_in_code}?another=1").status_code == 409  # nobody new, though


def test_any_other_repeat_of_a_listed_mobile_gets_one_answer_that_names_nobody(client, app, event, make_guest):
    invited = make_guest(event, name="李娜", phone="13933334444")
    assert walk_in_as(client, event, name="赵六", phone="13900002222").status_code == 200
    walked_in = db.session.scalar(sa.select(Guest).where(Guest.name == "赵六"))
    answers = set()
    for phone, who in (("13933334444", invited), ("13900002222", walked_in)):
        other_phone = app.test_client()
        r = walk_in_as(other_phone, event, name="冒名者", phone=phone)
        page = r.get_data(as_text=True)
        assert r.status_code == 409
        assert who.name not in page and phone[-4:] not in page and who.code not in page and "/c/" not in page
        assert "邀请" not in visible_text(page)
        answers.add(visible_text(page).split("</main>")[0].strip())
    assert len(answers) == 1
    assert "该手机号码已登记参加本次活动，请到签到台咨询。" in answers.pop()
    assert db.session.get(Guest, invited.id).checked_in_at is None


def test_a_forged_or_moved_device_cookie_is_a_stranger(client, app, event, make_event, make_guest):
    assert walk_in_as(client, event, name="赵六", phone="13900002222").status_code == 200
    mine = db.session.scalar(sa.select(Guest).where(Guest.name == "赵六"))
    ticket = services.device_ticket(mine)
    other = make_event(title="另一场活动")
    guessed = json.dumps({"e": event.id, "c": mine.code})
    for value, poster in ((ticket, other), (ticket[:-2] + "xx", event), (guessed, event)):
        stranger = app.test_client()
        stranger.set_cookie("walk_in", value, path=f"/w/{poster.walk_in_code}")
        page = stranger.get(f"/w/{poster.walk_in_code}").get_data(as_text=True)
        assert mine.code not in page and 'id="category"' in page  # the plain form
    assert services.device_guest(other, ticket) is None
    assert services.device_guest(event, ticket).id == mine.id


def test_walk_in_page_outside_the_window_says_so_instead_of_the_form(app, client, event):
    app.config["FROZEN_NOW"] = event.starts_at - timedelta(hours=5)
    r = client.get(f"/w/{event.walk_in_code}")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="category"' not in page
    assert "签到尚未开始，将于 2024-09-10 07:00（北京时间）开始。" in visible_text(page)
    r = walk_in_as(client, event, name="赵六")
    assert r.status_code == 409 and db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 0


# -- the desk ------------------------------------------------------------------------------------


def test_desk_search_shows_level_and_note(client, auth, event, staff, make_guest):
    make_guest(event, name="张代表", category=GuestCategory.NPC_DEPUTY, level="national", note="腿脚不便，需引导")
    auth.login("bjstaff")
    text = visible_text(client.get(f"/events/{event.id}/desk?q=张").get_data(as_text=True))
    assert "全国" in text
    assert "备注：腿脚不便，需引导" in text


def desk_walk_in(client, event, **data):
    return client.post(
        f"/events/{event.id}/desk",
        data={f"walkin-{k}": v for k, v in {"category": "consumer", "consent": "y", **data}.items()},
    )


def test_desk_registers_a_walk_in_without_a_smartphone(client, auth, event, staff):
    from experience.core.audit import AuditEntry

    auth.login("bjstaff")
    r = desk_walk_in(client, event, name="孙丽", category="consumer", organisation="望京街道")
    assert r.status_code == 302
    guest = db.session.scalar(sa.select(Guest))
    assert (guest.name, guest.walk_in, guest.phone, guest.checked_in_via.value) == ("孙丽", True, None, "desk")
    assert guest.checked_in_by_id == staff.id and guest.consent_at is not None
    assert scan_log() == [("ok", CheckInVia.DESK, guest.id)]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "guest.create"))
    assert entry.actor_id == staff.id and entry.detail == {"walk_in": True, "checked_in": True}
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "孙丽：已现场登记并签到。" in visible_text(page)
    live = client.get(f"/events/{event.id}/desk/live").json
    assert live["totals"] == {"invited": 0, "arrived": 1, "walk_ins": 1}


def test_desk_walk_in_needs_a_category_and_the_guests_agreement(client, auth, event, staff):
    auth.login("bjstaff")
    page = client.get(f"/events/{event.id}/desk").get_data(as_text=True)
    select = re.search(r'<select[^>]*id="walkin-category".*?</select>', page, re.S).group(0)
    assert re.findall(r"<option[^>]*selected[^>]*>", select) == []
    page = desk_walk_in(client, event, name="孙丽", category="", consent="").get_data(as_text=True)
    assert "请选择身份类别。" in page and "请向嘉宾说明个人信息告知内容，并勾选嘉宾同意。" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 0


@pytest.mark.parametrize(
    "setup, says",
    [
        (lambda e: setattr(e, "walk_ins_enabled", False), "本活动不接受现场登记"),
        (lambda e: setattr(e, "capacity", 1), "已满"),
        (lambda e: setattr(e, "ends_at", e.starts_at + timedelta(minutes=5)), "结束"),  # it closed at 09:05
    ],
)
def test_desk_walk_in_keeps_the_events_rules(client, auth, event, staff, make_guest, setup, says):
    other = make_guest(event)
    services.check_in(other.code, via=CheckInVia.DESK, now=event.starts_at)
    setup(event)
    db.session.commit()
    auth.login("bjstaff")
    r = desk_walk_in(client, event, name="孙丽")
    assert r.status_code == 409 and says in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest).where(Guest.walk_in)) == 0


def test_desk_undo_asks_first_then_undoes(client, auth, event, staff, make_guest):
    guest = make_guest(event, name="孙丽")
    auth.login("bjstaff")
    client.post(f"/events/{event.id}/desk/guests/{guest.id}/checkin")
    first = client.post(f"/events/{event.id}/desk/guests/{guest.id}/undo", data={"q": "孙"})
    page = first.get_data(as_text=True)
    assert first.status_code == 200 and "撤销 孙丽 的签到？" in page and 'name="confirmed" value="1"' in page
    assert 'name="q" value="孙"' in page  # the search comes back after
    assert db.session.get(Guest, guest.id).checked_in_at is not None
    assert [row.result for row in scan_log()] == ["ok"]
    r = client.post(f"/events/{event.id}/desk/guests/{guest.id}/undo", data={"q": "孙", "confirmed": "1"})
    assert r.status_code == 302 and r.headers["Location"].endswith("q=%E5%AD%99")
    assert db.session.get(Guest, guest.id).checked_in_at is None
    assert [row.result for row in scan_log()] == ["ok", "undone"]


def test_desk_undo_that_would_be_refused_asks_nothing(client, auth, event, staff, make_guest, make_user):
    guest = make_guest(event, name="孙丽")
    make_user(Role.PROVINCE, "11", username="colleague")
    auth.login("bjstaff")
    client.post(f"/events/{event.id}/desk/guests/{guest.id}/checkin")
    auth.logout()
    auth.login("colleague")
    r = client.post(f"/events/{event.id}/desk/guests/{guest.id}/undo", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "撤销 孙丽 的签到？" not in page and "只有" in page
    assert db.session.get(Guest, guest.id).checked_in_at is not None


def test_guest_pages_and_the_desk_punctuate_chinese_the_chinese_way(app, client, auth, event, staff, make_guest):
    guest = make_guest(event, name="孙丽", organisation="", note="需引导")
    pages = [client.get(f"/c/{guest.code}"), client.post(f"/c/{guest.code}", data={})]
    pages += [client.post(f"/c/{guest.code}", data={"consent": "y"}), client.get(f"/w/{event.walk_in_code}")]
    pages += [client.get(f"/c/{guest.code}/rate")]
    auth.login("bjstaff")
    other = make_guest(event, name="李娜")
    client.post(f"/events/{event.id}/desk/guests/{other.id}/checkin")
    pages += [client.get(f"/events/{event.id}/desk?q=李娜"), client.get(f"/events/{event.id}/desk?q=孙")]
    pages += [client.post(f"/events/{event.id}/desk/guests/{other.id}/undo")]
    pages += [client.get(f"/events/{event.id}/checkin"), client.get(f"/events/{event.id}/ratings")]
    texts = [visible_text(r.get_data(as_text=True)) for r in pages]
    assert "李娜：签到成功" in texts[5]
    wrong = [m.group(0) for text in texts for m in ASCII_BETWEEN_CJK.finditer(text)]
    assert wrong == []
