"""Event rules called directly, without HTTP."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core.audit import AuditEntry
from experience.events import services
from experience.events.models import EventPhase, join_address
from experience.extensions import db
from tests.conftest import NOW, event_data


def test_an_attachment_download_is_audited_with_the_file_name(make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    event.attachment_key, event.attachment_name = "abc.pdf", "议程.pdf"
    services.record_attachment_download(event, actor=staff, now=NOW, ip="10.0.0.1")
    db.session.commit()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "file.download"))
    assert (entry.actor_name, entry.target_id, entry.detail) == ("bjstaff", str(event.id), {"file": "议程.pdf"})


# -- The address, written once -------------------------------------------------------------


@pytest.mark.parametrize(
    "city, address, expected",
    [
        ("北京市", "朝阳区望京街1号", "北京市朝阳区望京街1号"),
        # the address repeats the city
        ("北京市", "北京市朝阳区望京街1号", "北京市朝阳区望京街1号"),
        # the city field holds the district too, and the address starts with the district
        ("北京市朝阳区", "朝阳区望京街道望京街1号", "北京市朝阳区望京街道望京街1号"),
        ("北京市朝阳区", "北京市朝阳区望京街道望京街1号", "北京市朝阳区望京街道望京街1号"),
        # the address names its province before the city
        ("杭州市", "浙江省杭州市西湖区龙井路1号", "浙江省杭州市西湖区龙井路1号"),
        ("呼和浩特市", "内蒙古自治区呼和浩特市新城区1号", "内蒙古自治区呼和浩特市新城区1号"),
        # only whole places count: 市场街 is a street, not the 市 of 北京市 again
        ("北京市", "市场街5号", "北京市市场街5号"),
        ("北京市朝阳区", "区政府大院1号", "北京市朝阳区区政府大院1号"),
        # spaces around, and an empty side
        (" 上海市 ", " 黄浦区人民大道200号 ", "上海市黄浦区人民大道200号"),
        ("", "黄浦区人民大道200号", "黄浦区人民大道200号"),
        ("上海市", "", "上海市"),
    ],
)
def test_the_city_is_written_once(city, address, expected):
    assert join_address(city, address) == expected


# -- The event's state, from the time --------------------------------------------------------


def test_an_event_is_upcoming_then_on_then_held(make_event):
    event = make_event()
    assert event.phase(event.starts_at - timedelta(minutes=1)) is EventPhase.UPCOMING
    assert event.phase(event.starts_at) is EventPhase.ONGOING
    assert event.phase(event.ends_at - timedelta(minutes=1)) is EventPhase.ONGOING
    assert event.phase(event.ends_at) is EventPhase.HELD  # the same moment is_held says so
    assert event.is_held(event.ends_at)


def test_a_cancelled_event_stays_cancelled_whatever_the_time(make_event):
    event = make_event()
    services.cancel_event(event, "场地检修", actor=event.created_by, now=NOW)
    for moment in (NOW, event.starts_at, event.ends_at + timedelta(days=30)):
        assert event.phase(moment) is EventPhase.CANCELLED


# -- The host unit (主办单位) -----------------------------------------------------------------


def test_a_blank_host_unit_is_the_creating_accounts_organisation(campaign, make_user):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff", organisation="北京市市场监督管理局")
    event = services.create_event(campaign, actor=staff, now=NOW, province_code="11", **event_data(host_unit="  "))
    assert event.host_unit == "北京市市场监督管理局"


def test_a_host_unit_given_is_kept(campaign, make_user):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff", organisation="北京市市场监督管理局")
    event = services.create_event(
        campaign, actor=staff, now=NOW, province_code="11", **event_data(host_unit=" 北京市朝阳区市场监督管理局 ")
    )
    assert event.host_unit == "北京市朝阳区市场监督管理局"


def test_an_edit_that_clears_the_host_unit_gives_it_back_to_the_creators_unit(campaign, make_user):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff", organisation="北京市市场监督管理局")
    organiser = make_user(Role.ORGANIZER, "11", username="bjorg", organisation="朝阳区市场监管局")
    event = services.create_event(campaign, actor=staff, now=NOW, province_code="11", **event_data(host_unit="某协会"))
    changed = services.update_event(event, actor=organiser, now=NOW, **event_data(host_unit=""))
    assert event.host_unit == "北京市市场监督管理局" and "host_unit" in changed
    # an edit that does not mention it leaves it alone
    services.update_event(event, actor=organiser, now=NOW, **event_data(title="新名称"))
    assert event.host_unit == "北京市市场监督管理局"
