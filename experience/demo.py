"""``flask demo``: a campaign, accounts and events to try the system with.

It refuses to run in the production configuration, and refuses any database that
already holds accounts or campaigns, so it can never mix invented data with real data.
Run again on its own demo database, it moves the live event to the current hour.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import click
import sqlalchemy as sa
from flask import Flask, current_app
from werkzeug.datastructures import FileStorage

from experience.accounts.models import Role, User
from experience.accounts.services import create_user
from experience.campaigns.models import Campaign
from experience.campaigns.services import default_campaign
from experience.checkin.models import Scan
from experience.checkin.services import check_in
from experience.core import clock
from experience.core.pdf import render_pdf
from experience.core.uploads import store_upload
from experience.events.models import Event, GuestCategory
from experience.events.services import cancel_event, create_event
from experience.extensions import db
from experience.guests.models import CheckInVia, Guest
from experience.guests.services import add_guest
from experience.plans.services import plan_for, save_plan, submit_plan
from experience.ratings.models import Display, Rating
from experience.ratings.services import dimensions, ensure_default_dimensions, submit_rating
from experience.units.models import UnitType
from experience.units.services import DECLARATION_VERSION, register_unit
from experience.works import services as works
from experience.works.models import WorkCategory

#: the logins the README lists; the demo only ever runs outside production
DEMO_PASSWORD = "Experience-Week-2024"
DEMO_USERS = (
    ("hqadmin", Role.HQ, None, "总局认证监管司"),
    ("secretariat", Role.SECRETARIAT, None, "总局认研中心"),
    ("beijing", Role.PROVINCE, "11", "北京市市场监管局"),
    ("zhejiang", Role.PROVINCE, "33", "浙江省市场监管局"),
    ("organizer", Role.ORGANIZER, "11", "北京市朝阳区市场监管局"),
)

#: Units registered to submit works, in three provinces. Invented names; the credit codes
#: are made up too, with the right check character (they log in with code and DEMO_PASSWORD).
DEMO_UNITS = (
    ("91110108MA01R2KQ51", "北京安居物业管理有限公司", UnitType.CERTIFIED_ORGANISATION, "11", "刘洋", "13900001111"),
    ("51330000MJ9N6T3H1C", "浙江省服务认证促进会", UnitType.ASSOCIATION, "33", "陈静", "13900002222"),
    ("91440101MA5CL7W84L", "广州粤信认证服务有限公司", UnitType.CERTIFICATION_BODY, "44", "黄海", "13900003333"),
)

#: marks the event the demo keeps happening today (see move_live_event)
LIVE_CERTIFICATE = "CSC-DEMO-TODAY"
LIVE_GUESTS = (
    # name, category, level, organisation, title, note, checked in, rates
    ("张建国", "npc_deputy", "national", "全国人大代表", "", "腿脚不便，需引导", True, True),
    ("李秀英", "npc_deputy", "city", "北京市朝阳区人大代表", "", "", True, False),
    ("王志强", "cppcc_member", "province", "北京市政协委员", "", "", False, False),
    ("陈晓梅", "consumer", None, "望京街道居民", "", "", True, True),
    ("刘洋", "consumer", None, "安居花园业主", "", "", True, False),
    ("赵敏", "consumer", None, "学院路社区居民", "", "", False, False),
    ("孙丽", "media", None, "北京日报", "记者", "", False, False),
    ("周涛", "enterprise", None, "北京安居物业管理有限公司", "总经理", "", False, False),
)


DEMO_TEXT = (
    "小区门口的公示栏里，多了一张服务认证证书。物业经理说，拿证只是开始：保洁多久一次、报修多久上门、"
    "投诉怎样回复，都写进了服务规范，认证机构每年都来检查。住了十年的张阿姨说，现在电梯坏了，"
    "半小时内就有人来，修好了还会回访。认证让看不见的服务变成了看得见的承诺。"
)


def _demo_work(unit, campaign: Campaign, now: datetime) -> None:
    """One text work of the first demo unit, its commitment and licence accepted: what the
    secretariat and the unit's province see in the works list."""
    account = db.session.scalar(sa.select(User).where(User.unit_id == unit.id))
    # made before the works deadline, as a unit would have (the demo runs later): ten days
    # before it, or on the campaign's first day if that comes later
    made = clock.end_of_day(campaign.works_deadline) - timedelta(days=10)
    now = min(now, max(made, clock.from_beijing(datetime(campaign.year, 1, 1))))
    work = works.create_work(
        unit,
        campaign,
        actor=account,
        now=now,
        ip="127.0.0.1",
        title="看得见的承诺——一个小区的物业服务认证故事",
        category=WorkCategory.TEXT,
        completed_on=max(date(campaign.year, 1, 1), clock.beijing_today(now) - timedelta(days=20)),
        contact_name=unit.contact_name,
        contact_phone=unit.contact_mobile,
        summary="一位居民眼中的物业服务认证：服务规范、年度监督与看得见的变化。",
    )
    works.set_text(work, DEMO_TEXT, actor=account, now=now, ip="127.0.0.1")
    works.accept_declarations(
        work, version=works.DECLARATION_VERSION, title=work.title, actor=account, now=now, ip="127.0.0.1"
    )


def demo_calendar(today: date) -> dict[str, date]:
    """The notice's calendar transposed so that ``today`` falls in the experience week:
    plans were due nine days before it (passed), works at its start, summaries 18 days
    after it. Clamped into today's year, since every date must fall in the campaign's."""
    first, last = date(today.year, 1, 1), date(today.year, 12, 31)
    week_start = max(first, today - timedelta(days=3))
    week_end = min(last, today + timedelta(days=4))
    return dict(
        plan_deadline=max(first, week_start - timedelta(days=9)),
        works_deadline=week_start,
        week_start=week_start,
        week_end=week_end,
        summary_deadline=min(last, week_end + timedelta(days=18)),
    )


def live_times(now: datetime, campaign_year: int) -> tuple[datetime, datetime]:
    """Today's live event: began on the hour before ``now`` (Beijing), four hours long,
    so check-in is open; never before the campaign's first day."""
    local = clock.to_beijing(now).replace(minute=0, second=0, microsecond=0, tzinfo=None) - timedelta(hours=1)
    local = max(local, datetime(campaign_year, 1, 1))
    start = clock.from_beijing(local)
    return start, start + timedelta(hours=4)


def seed_demo(now: datetime) -> None:
    today = clock.to_beijing(now).date()
    campaign = default_campaign(today.year)
    for name, value in demo_calendar(today).items():
        setattr(campaign, name, value)
    db.session.add(campaign)
    db.session.flush()
    ensure_default_dimensions(campaign)
    users = {}
    for username, role, province, unit in DEMO_USERS:
        users[username] = create_user(
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            province_code=province,
            display_name=unit,
            organisation=unit,
            now=now,
        )
    units = []
    for code, name, unit_type, province, contact, mobile in DEMO_UNITS:
        units.append(
            register_unit(
                name=name,
                credit_code=code,
                unit_type=unit_type,
                province_code=province,
                contact_name=contact,
                contact_mobile=mobile,
                contact_email=None,
                password=DEMO_PASSWORD,
                declaration_version=DECLARATION_VERSION,
                now=now,
                ip="127.0.0.1",
            )
        )
    _demo_work(units[0], campaign, now)
    base = dict(
        certificate_no="CSC-2024-0001",
        certification_body="中国质量认证中心",
        contact_name="王老师",
        contact_phone="010-82260862",
        expected_guests={"npc_deputy": 2, "cppcc_member": 2, "consumer": 20, "media": 3},
    )

    def nine_am(day: date) -> datetime:
        day = min(max(day, date(today.year, 1, 1)), date(today.year, 12, 31))
        return clock.from_beijing(datetime.combine(day, datetime.min.time()) + timedelta(hours=9))

    # Held at the start of the week (its summary can be written), on today (check-in open),
    # and in two days (still to come).
    held_start = nine_am(campaign.week_start)
    live_start, live_end = live_times(now, campaign.year)
    coming_start = nine_am(today + timedelta(days=2))
    events = [
        (
            "beijing",
            "11",
            held_start,
            held_start + timedelta(hours=3),
            dict(
                title="养老服务认证体验日",
                service_name="居家养老服务认证",
                certified_org="北京康乐养老服务有限公司",
                sector="养老",
                venue_name="康乐养老服务中心",
                city="北京市",
                address="朝阳区望京街1号",
                highlights="体验认证后的助餐、助浴服务",
                agenda="09:00 签到\n09:30 体验",
            ),
        ),
        (
            "organizer",
            "11",
            live_start,
            live_end,
            dict(
                title="物业服务认证开放日",
                service_name="物业服务认证",
                certified_org="北京安居物业管理有限公司",
                certificate_no=LIVE_CERTIFICATE,
                sector="物业",
                venue_name="安居花园小区",
                city="北京市",
                address="海淀区学院路8号",
                highlights="走进认证物业：门岗、保洁、维修服务全流程体验",
                agenda="签到\n参观物业服务中心\n体验报修流程\n座谈交流",
            ),
        ),
        (
            "zhejiang",
            "33",
            coming_start,
            coming_start + timedelta(hours=3),
            dict(
                title="西湖景区旅游服务认证体验",
                service_name="景区服务认证",
                certified_org="杭州西湖旅游服务有限公司",
                sector="旅游",
                venue_name="西湖游客中心",
                city="杭州市",
                address="西湖区龙井路1号",
            ),
        ),
    ]
    created = [
        create_event(
            campaign,
            actor=users[username],
            now=now,
            province_code=province,
            starts_at=start,
            ends_at=end,
            **{**base, **fields},
        )
        for username, province, start, end, fields in events
    ]
    cancelled = create_event(
        campaign,
        actor=users["zhejiang"],
        now=now,
        province_code="33",
        starts_at=created[2].starts_at,
        ends_at=created[2].ends_at,
        **{**base, **events[2][4], "title": "钱塘江游船服务认证体验", "venue_name": "钱塘江码头"},
    )
    cancel_event(cancelled, "场地检修，改期另行安排", actor=users["zhejiang"], now=now)
    _live_guests(created[1], users["organizer"], now)

    # Zhejiang sent its plan on time: HQ can return it, and a returned plan can always
    # come back. Beijing has not sent one, and the deadline has passed.
    zhejiang = plan_for(campaign, "33")
    save_plan(
        zhejiang,
        actor=users["zhejiang"],
        now=now,
        organisation_text="成立活动领导小组，分管局领导任组长。",
        coordination_text="与省商务厅、文旅厅建立联动机制。",
        publicity_text="联合省电视台、政务新媒体宣传。",
        safety_text="制定安全预案，现场配备安全员。",
    )
    zhejiang.document_key, zhejiang.document_name = _demo_document(), "浙江省活动方案（盖章）.pdf"
    day_sent = datetime.combine(campaign.plan_deadline, datetime.min.time()) - timedelta(days=3)
    sent = clock.from_beijing(day_sent + timedelta(hours=10))
    sent = max(sent, clock.from_beijing(datetime(campaign.year, 1, 1)))
    submit_plan(zhejiang, actor=users["zhejiang"], now=min(sent, now))


def _live_guests(event: Event, organizer: User, now: datetime) -> None:
    """Invited guests for today's event, some checked in at the desk, two of them rated."""
    asked = dimensions(event.campaign_id)
    for i, (name, category, level, org, title, note, arrived, rates) in enumerate(LIVE_GUESTS):
        guest = add_guest(
            event,
            actor=organizer,
            now=now,
            name=name,
            category=GuestCategory(category),
            level=level,
            organisation=org,
            title=title,
            phone=f"1390000{i:04d}",
            note=note,
        )
        if arrived:
            at = min(now, event.starts_at + timedelta(minutes=5 * i))
            check_in(guest.code, via=CheckInVia.DESK, now=at, actor=organizer, scanner_event=event)
            db.session.refresh(guest)  # the claim is an UPDATE the session did not see
        if rates:
            submit_rating(
                guest,
                stars={d.id: 5 - (i % 2) for d in asked},
                comment="门岗登记很规范，报修十分钟就有人上门，认证之后服务确实不一样。",
                display=Display.CATEGORY,
                now=now,
            )


def move_live_event(now: datetime) -> str:
    """Move a demo database's live event, with its check-ins and ratings, to ``now``, so
    that the demo shows event day on whatever day it is run again. Returns what it did."""
    event = db.session.scalar(sa.select(Event).where(Event.certificate_no == LIVE_CERTIFICATE))
    if event is None:
        return "no live demo event to move"
    start, end = live_times(now, event.campaign.year)
    if clock.to_beijing(now).year != event.campaign.year:
        return (
            f"the demo's year ({event.campaign.year}) is over: remove the database "
            "(instance/experience.db) and run `flask demo` again for a fresh one"
        )
    shift = start - event.starts_at
    if shift:
        event.starts_at, event.ends_at = start, end
        # row by row in Python: SQLite keeps datetimes as text, so no SQL arithmetic
        for model, columns in ((Guest, ("checked_in_at",)), (Scan, ("at",)), (Rating, ("created_at", "updated_at"))):
            for row in db.session.scalars(sa.select(model).where(model.event_id == event.id)):
                for column in columns:
                    if getattr(row, column) is not None:
                        setattr(row, column, getattr(row, column) + shift)
        campaign, day = event.campaign, clock.to_beijing(start).date()
        if day > campaign.week_end:  # keep it inside the week, and the summaries after it
            campaign.week_end = day
            campaign.summary_deadline = max(campaign.summary_deadline, day)
    local_start, local_end = clock.to_beijing(start), clock.to_beijing(end)
    return f"the live demo event now runs {local_start:%Y-%m-%d %H:%M} to {local_end:%Y-%m-%d %H:%M} (Beijing)"


def is_demo_database() -> bool:
    """Only the demo's own accounts, and its live event: never touch anything else."""
    names = set(db.session.scalars(sa.select(User.username)))
    return (
        bool(names)
        and names <= {u[0] for u in DEMO_USERS} | {u[0] for u in DEMO_UNITS}
        and db.session.scalar(
            sa.select(sa.func.count()).select_from(Event).where(Event.certificate_no == LIVE_CERTIFICATE)
        )
        == 1
    )


def _demo_document() -> str:
    """A real one-page PDF stored like an upload, so the demo plan's document opens."""
    pdf = render_pdf(
        "<h1>浙江省服务认证体验活动方案</h1><p>（演示用文件，盖章扫描件在此处。）</p>", base_url="http://demo.invalid/"
    )
    key, _ = store_upload(FileStorage(io.BytesIO(pdf), filename="plan.pdf"), "plan_document")
    return key


def register(app: Flask) -> None:
    @app.cli.command("demo")
    def demo():
        """Fill an empty database with this year's campaign, demo accounts and an event
        happening today; on a demo database, move that event to today."""
        if not current_app.config["DEMO_ALLOWED"]:
            raise click.ClickException("the demo is not available in the production configuration")
        if db.session.scalar(sa.select(sa.func.count()).select_from(User)) or db.session.scalar(
            sa.select(sa.func.count()).select_from(Campaign)
        ):
            if is_demo_database():
                done = move_live_event(clock.now())
                db.session.commit()
                click.secho(f"demo database: {done}", fg="green")
                return
            click.secho("the database already has data; the demo leaves it alone", fg="yellow")
            return
        seed_demo(clock.now())
        db.session.commit()
        click.secho(
            "demo ready; log in as "
            + ", ".join(u[0] for u in DEMO_USERS)
            + f" or as a submitting unit with its credit code ({DEMO_UNITS[0][0]}, …), with password {DEMO_PASSWORD}",
            fg="green",
        )
