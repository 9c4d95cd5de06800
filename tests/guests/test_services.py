"""Editing a guest on the list: what changes, what is refused, and what the audit log keeps."""

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests import services
from experience.guests.models import Guest
from tests.conftest import NOW


@pytest.fixture
def staff(make_user):
    return make_user(Role.PROVINCE, "11", username="bjstaff")


@pytest.fixture
def event(make_event, staff):
    return make_event(actor=staff)


def edit(guest, staff, **changes):
    """Save the guest as the edit form does: every field, some of them changed."""
    data = {k: getattr(guest, k) for k in services.FIELDS}
    services.update_guest(guest, actor=staff, now=NOW, **{**data, **changes})
    db.session.commit()


def update_audits() -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "guest.update")))


def test_an_edit_changes_the_guest(event, staff, make_guest):
    guest = make_guest(event, name="张三", organisation="朝阳区政协")
    edit(guest, staff, name="张三丰", title="委员")
    saved = db.session.get(Guest, guest.id)
    assert (saved.name, saved.title, saved.organisation) == ("张三丰", "委员", "朝阳区政协")


def test_an_edit_trims_the_texts(event, staff, make_guest):
    guest = make_guest(event)
    edit(guest, staff, name="  李四 ", organisation=" 北京日报  ", note=" 第一排 ")
    assert (guest.name, guest.organisation, guest.note) == ("李四", "北京日报", "第一排")


def test_an_edit_is_audited_with_the_fields_it_changed(event, staff, make_guest):
    guest = make_guest(event)
    edit(guest, staff, title="记者", phone="13812341234")
    (entry,) = update_audits()
    assert (entry.actor_id, entry.target_id, entry.province_code) == (staff.id, str(guest.id), "11")
    assert entry.detail["fields"] == ["title", "phone"]


def test_the_audit_entry_keeps_no_personal_data(event, staff, make_guest):
    guest = make_guest(event)
    edit(guest, staff, name="王五", phone="13812341234")
    (entry,) = update_audits()
    assert "王五" not in str(entry.detail) and "13812341234" not in str(entry.detail)


def test_saving_a_guest_unchanged_is_not_audited(event, staff, make_guest):
    guest = make_guest(event, phone="13812341234")
    edit(guest, staff)
    assert update_audits() == []


def test_a_guest_keeps_their_own_mobile_when_edited(event, staff, make_guest):
    guest = make_guest(event, phone="13812341234")
    edit(guest, staff, title="代表")
    assert (guest.title, guest.phone) == ("代表", "13812341234")


def test_another_guests_mobile_is_refused_naming_that_guest(event, staff, make_guest):
    make_guest(event, name="赵六", phone="13900001111")
    guest = make_guest(event, name="钱七")
    with pytest.raises(RuleError) as e:
        edit(guest, staff, phone="13900001111")
    assert e.value.code == "duplicate_phone"
    assert e.value.params == {"name": "赵六"}


def test_a_refused_edit_leaves_the_guest_as_it_was(event, staff, make_guest):
    make_guest(event, name="赵六", phone="13900001111")
    guest = make_guest(event, name="钱七")
    with pytest.raises(RuleError):
        edit(guest, staff, name="钱七七", phone="13900001111")
    db.session.rollback()
    assert (db.session.get(Guest, guest.id).name, db.session.get(Guest, guest.id).phone) == ("钱七", None)
    assert update_audits() == []


def test_the_same_name_and_organisation_as_another_guest_is_refused(event, staff, make_guest):
    make_guest(event, name="孙八", organisation="北京日报")
    guest = make_guest(event, name="孙八", organisation="新华社")
    with pytest.raises(RuleError) as e:
        edit(guest, staff, organisation="北京 日报")  # compared as the importer compares: spaces ignored
    assert e.value.code == "duplicate_name"


def test_the_same_name_in_another_organisation_is_accepted(event, staff, make_guest):
    make_guest(event, name="孙八", organisation="北京日报")
    guest = make_guest(event, name="周九", organisation="北京日报")
    edit(guest, staff, name="孙八", organisation="新华社")
    assert (guest.name, guest.organisation) == ("孙八", "新华社")


def test_a_guest_of_another_event_may_share_the_mobile(event, staff, make_guest, make_event):
    make_guest(make_event(actor=staff, title="另一场"), phone="13900001111")
    guest = make_guest(event)
    edit(guest, staff, phone="13900001111")
    assert guest.phone == "13900001111"


def test_the_level_goes_when_the_category_has_none(event, staff, make_guest):
    guest = make_guest(event, category=GuestCategory.NPC_DEPUTY, level="national")
    edit(guest, staff, category=GuestCategory.MEDIA)
    assert (guest.category, guest.level) == (GuestCategory.MEDIA, None)


def test_an_empty_mobile_is_stored_as_none(event, staff, make_guest):
    guest = make_guest(event, phone="13812341234")
    edit(guest, staff, phone="")
    assert guest.phone is None


# -- Importing a list, and the list's export ------------------------------------------------

HEADER = "姓名,类别,级别,单位,职务,手机号,备注"


def csv_file(*lines: str) -> bytes:
    return "\r\n".join([HEADER, *lines]).encode("utf-8")


def guests_of(event) -> list[str]:
    return list(db.session.scalars(sa.select(Guest.name).where(Guest.event_id == event.id).order_by(Guest.id)))


def test_a_list_over_5_mb_is_refused(event):
    with pytest.raises(RuleError) as e:
        services.preview_import(event, b"x" * (services.IMPORT_LIMIT + 1), "名单.csv")
    assert e.value.code == "too_large"


def test_the_preview_marks_a_guest_already_on_the_list(event, make_guest):
    make_guest(event, name="张三", phone="13800001111")
    rows = services.preview_import(event, csv_file("张三,消费者,,,,13800001111,", "李四,消费者,,,,,"), "名单.csv")
    assert [(r.name, r.ok) for r in rows] == [("张三", False), ("李四", True)]


def test_the_preview_adds_nobody(event):
    services.preview_import(event, csv_file("李四,消费者,,,,,"), "名单.csv")
    db.session.commit()
    assert guests_of(event) == []


def test_a_confirmed_file_imports_its_good_rows_and_counts_the_rest(event, staff, make_guest):
    make_guest(event, name="张三", phone="13800001111")
    counts = services.import_file(
        event, csv_file("张三,消费者,,,,13800001111,", "李四,消费者,,,,,"), "名单.csv", actor=staff, now=NOW
    )
    db.session.commit()
    assert counts == (1, 1)
    assert guests_of(event) == ["张三", "李四"]


def test_a_confirmed_file_that_cannot_be_read_is_refused(event, staff):
    with pytest.raises(RuleError) as e:
        services.import_file(event, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "名单.xlsx", actor=staff, now=NOW)
    assert e.value.code == "wrong_type"


def test_the_guest_list_export_is_audited_with_its_row_count(event, staff):
    services.record_export(event, rows=7, actor=staff, now=NOW)
    db.session.commit()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "export.xlsx"))
    assert (entry.target_id, entry.detail) == (str(event.id), {"export": "guest_list", "rows": 7})
