"""The notices page and the unread badge, as HQ, each province's staff, the secretariat and
each unit see them."""

import re

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.extensions import db
from experience.notices.models import Notice, NoticeRead
from experience.notices.services import notify
from tests.conftest import NOW, PASSWORD
from tests.units.helpers import register_unit


@pytest.fixture
def notices(app, campaign):
    """One notice for Beijing, one for Zhejiang, one for HQ."""
    notify("11", "plan_returned", now=NOW, link=("plans.edit", {}), comment="请补充北京的安全预案")
    notify("33", "plan_returned", now=NOW, link=("plans.edit", {}), comment="请补充浙江的宣传方案")
    notify(None, "plan_submitted", now=NOW, province="北京市")
    db.session.commit()


@pytest.fixture
def login_as(app, make_user):
    def login(role, province=None):
        user = make_user(role, province)
        client = app.test_client()
        client.post("/login", data={"username": user.username, "password": PASSWORD})
        return client

    return login


def page(client, url="/notices") -> str:
    r = client.get(url)
    assert r.status_code == 200
    return r.get_data(as_text=True)


def badge(html: str) -> str | None:
    """The unread count in the header's notices link, or None when there is none."""
    found = re.search(r'<span class="badge"[^>]*>(\d+)</span>', html)
    return found.group(1) if found else None


def test_province_staff_read_their_own_notice(notices, login_as):
    assert "总局已将活动方案退回修改：请补充北京的安全预案" in page(login_as(Role.PROVINCE, "11"))


def test_province_staff_never_see_another_provinces_notice(notices, login_as):
    assert "浙江" not in page(login_as(Role.PROVINCE, "11"))


def test_province_staff_do_not_see_hqs_notices(notices, login_as):
    assert "北京市已提交活动方案。" not in page(login_as(Role.PROVINCE, "11"))


def test_hq_reads_its_notices_and_none_of_the_provinces(notices, login_as):
    html = page(login_as(Role.HQ))
    assert "北京市已提交活动方案。" in html
    assert "退回修改" not in html


def test_the_home_page_lists_the_readers_notices_only(notices, login_as):
    html = page(login_as(Role.PROVINCE, "33"), "/")
    assert "请补充浙江的宣传方案" in html
    assert "请补充北京的安全预案" not in html


def test_a_notice_leads_to_its_page(notices, login_as):
    assert '<a href="/plan">总局已将活动方案退回修改：请补充北京的安全预案</a>' in page(login_as(Role.PROVINCE, "11"))


def test_the_header_counts_the_readers_unread_notices(app, notices, login_as):
    notify("11", "plan_confirmed", now=NOW)
    db.session.commit()
    assert badge(page(login_as(Role.PROVINCE, "11"), "/")) == "2"


def test_marking_read_clears_the_badge_and_the_unread_marks(notices, login_as):
    client = login_as(Role.PROVINCE, "11")
    r = client.post("/notices/read")
    assert r.status_code == 302 and r.headers["Location"] == "/notices"
    html = page(client)
    assert badge(html) is None
    assert 'class="unread"' not in html
    assert "请补充北京的安全预案" in html  # read, not gone


def test_marking_read_leaves_other_readers_notices_unread(notices, login_as):
    login_as(Role.PROVINCE, "11").post("/notices/read")
    read = db.session.scalars(sa.select(Notice.province_code).join(NoticeRead)).all()
    assert read == ["11"]
    assert badge(page(login_as(Role.PROVINCE, "33"), "/")) == "1"


def test_a_province_without_notices_is_told_so(notices, login_as):
    html = page(login_as(Role.PROVINCE, "44"))
    assert "暂无消息。" in html
    assert "全部标为已读" not in html


def test_notices_follow_the_readers_language(notices, login_as):
    client = login_as(Role.HQ)
    client.post("/language", data={"lang": "en"})
    assert "北京市 submitted its plan." in page(client)


def test_organisers_have_no_notices_page(notices, login_as):
    client = login_as(Role.ORGANIZER, "11")
    assert client.get("/notices").status_code == 403
    assert client.post("/notices/read").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(NoticeRead)) == 0


# -- a unit's account and the secretariat's role ----------------------------------------------


@pytest.fixture
def units(app, campaign):
    """Two units with their accounts (Beijing's, Guangdong's), and a notice to the first."""
    beijing = register_unit(province_code="11", credit_code="914403001922038216")
    guangdong = register_unit(province_code="44", credit_code="91440300MA5H0HLK5U", name="柯兴科技（深圳）有限公司")
    notify(
        None, "works_extension_granted", user_id=beijing.account.id, now=NOW, link=("units.home", {}), date="2024-09-06"
    )
    db.session.commit()
    return beijing, guangdong


EXTENSION = "作品征集秘书处已将贵单位的作品报送截止时间延长至 2024-09-06。"


def as_unit(app, unit):
    client = app.test_client()
    client.post("/login", data={"username": unit.credit_code, "password": PASSWORD})
    return client


def test_a_unit_reads_the_notice_to_its_account(app, units):
    html = page(as_unit(app, units[0]))
    assert f'<a href="/unit">{EXTENSION}</a>' in html


def test_a_units_start_page_shows_its_notices_and_the_unread_count(app, units):
    html = page(as_unit(app, units[0]), "/unit")
    assert EXTENSION in html
    assert badge(html) == "1"


def test_another_unit_never_sees_it(app, units):
    client = as_unit(app, units[1])
    assert EXTENSION not in page(client)
    html = page(client, "/unit")
    assert EXTENSION not in html
    assert "暂无消息。" in html
    assert badge(html) is None


@pytest.mark.parametrize("role", [Role.HQ, Role.SECRETARIAT])
def test_staff_never_see_a_units_notice(units, login_as, role):
    assert EXTENSION not in page(login_as(role))


def test_a_unit_marking_read_clears_its_badge_only(app, units):
    client = as_unit(app, units[0])
    assert client.post("/notices/read").status_code == 302
    assert badge(page(client, "/unit")) is None
    notify(None, "works_extension_granted", user_id=units[1].account.id, now=NOW, date="2024-09-06")
    db.session.commit()
    assert badge(page(as_unit(app, units[1]), "/unit")) == "1"


@pytest.fixture
def submitted(app, campaign):
    notify(
        None,
        "work_submitted",
        role="secretariat",
        now=NOW,
        unit="华为技术有限公司",
        number="2024-ZP-00007",
        title="认证让养老更安心",
    )
    db.session.commit()


SUBMITTED = "华为技术有限公司 提交了作品 2024-ZP-00007《认证让养老更安心》。"


def test_every_secretary_reads_a_notice_to_the_secretariat(submitted, login_as):
    for _ in range(2):
        client = login_as(Role.SECRETARIAT)
        assert SUBMITTED in page(client)
        home = page(client, "/")
        assert SUBMITTED in home
        assert badge(home) == "1"


@pytest.mark.parametrize(("role", "province"), [(Role.HQ, None), (Role.PROVINCE, "11")])
def test_nobody_else_reads_a_notice_to_the_secretariat(submitted, login_as, role, province):
    html = page(login_as(role, province))
    assert SUBMITTED not in html
    assert badge(html) is None
