"""``flask demo``: a campaign, accounts and events to try the system with.

It refuses to run in the production configuration, and refuses any database that
already holds accounts or campaigns, so it can never mix invented data with real data.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import click
import sqlalchemy as sa
from flask import Flask, current_app
from werkzeug.datastructures import FileStorage

from experience.accounts.models import Role, User
from experience.accounts.services import create_user
from experience.campaigns.models import Campaign
from experience.campaigns.services import default_campaign
from experience.core import clock
from experience.core.pdf import render_pdf
from experience.core.uploads import store_upload
from experience.events.services import cancel_event, create_event
from experience.extensions import db
from experience.plans.services import plan_for, save_plan, submit_plan
from experience.ratings.services import ensure_default_dimensions

#: the logins the README lists; the demo only ever runs outside production
DEMO_PASSWORD = "Experience-Week-2024"
DEMO_USERS = (
    ("hqadmin", Role.HQ, None, "总局认证监管司"),
    ("secretariat", Role.SECRETARIAT, None, "总局认研中心"),
    ("beijing", Role.PROVINCE, "11", "北京市市场监管局"),
    ("zhejiang", Role.PROVINCE, "33", "浙江省市场监管局"),
    ("organizer", Role.ORGANIZER, "11", "北京市朝阳区市场监管局"),
)


def seed_demo(now: datetime) -> None:
    campaign = default_campaign(2024)
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
    day = campaign.week_start
    base = dict(
        certificate_no="CSC-2024-0001",
        certification_body="中国质量认证中心",
        contact_name="王老师",
        contact_phone="010-82260862",
        expected_guests={"npc_deputy": 2, "cppcc_member": 2, "consumer": 20, "media": 3},
    )
    events = [
        (
            "beijing",
            "11",
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
            dict(
                title="物业服务认证开放日",
                service_name="物业服务认证",
                certified_org="北京安居物业管理有限公司",
                sector="物业",
                venue_name="安居花园小区",
                city="北京市",
                address="海淀区学院路8号",
            ),
        ),
        (
            "zhejiang",
            "33",
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
    created = []
    for i, (username, province, fields) in enumerate(events):
        start = clock.from_beijing(
            datetime.combine(day + timedelta(days=9 + i), datetime.min.time()) + timedelta(hours=9)
        )
        created.append(
            create_event(
                campaign,
                actor=users[username],
                now=now,
                province_code=province,
                starts_at=start,
                ends_at=start + timedelta(hours=3),
                **base,
                **fields,
            )
        )
    cancelled = create_event(
        campaign,
        actor=users["zhejiang"],
        now=now,
        province_code="33",
        starts_at=created[2].starts_at,
        ends_at=created[2].ends_at,
        **{**base, **events[2][2], "title": "钱塘江游船服务认证体验", "venue_name": "钱塘江码头"},
    )
    cancel_event(cancelled, "场地检修，改期另行安排", actor=users["zhejiang"], now=now)

    # Zhejiang sent its plan on time in 2024: HQ can return it, and a returned plan can
    # always come back. Beijing has not sent one, and the 2024 deadline has passed.
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
    submit_plan(zhejiang, actor=users["zhejiang"], now=clock.from_beijing(datetime(campaign.year, 8, 20, 10)))


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
        """Fill an empty database with the 2024 campaign and demo accounts."""
        if not current_app.config["DEMO_ALLOWED"]:
            raise click.ClickException("the demo is not available in the production configuration")
        if db.session.scalar(sa.select(sa.func.count()).select_from(User)) or db.session.scalar(
            sa.select(sa.func.count()).select_from(Campaign)
        ):
            click.secho("the database already has data; the demo leaves it alone", fg="yellow")
            return
        seed_demo(clock.now())
        db.session.commit()
        click.secho(
            "demo ready; log in as " + ", ".join(u[0] for u in DEMO_USERS) + f" with password {DEMO_PASSWORD}",
            fg="green",
        )
