"""``flask demo``: a campaign, accounts and events to try the system with.

It refuses to run in the production configuration, and refuses any database that
already holds accounts or campaigns, so it can never mix invented data with real data.
Run again on its own demo database, it moves the live event to the current hour.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import random
import struct
import tempfile
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import click
import docx
import pypdfium2 as pdfium
import sqlalchemy as sa
from flask import Flask, current_app
from PIL import Image, ImageChops, ImageDraw, ImageOps
from werkzeug.datastructures import FileStorage

from experience.accounts.models import Role, User
from experience.accounts.services import create_user
from experience.campaigns.models import Campaign
from experience.campaigns.services import default_campaign
from experience.checkin.models import Scan
from experience.checkin.services import check_in
from experience.core import clock, jobs
from experience.core.pdf import render_pdf
from experience.core.uploads import store_upload
from experience.displays import screens
from experience.events.models import Event, GuestCategory
from experience.events.services import cancel_event, create_event
from experience.extensions import db
from experience.guests.models import CheckInVia, Guest
from experience.guests.services import add_guest
from experience.plans.services import plan_for, save_plan, submit_plan
from experience.ratings.models import Display, Rating
from experience.ratings.services import dimensions, ensure_default_dimensions, set_approval, submit_rating
from experience.screening import blind, decisions, publication, rounds, scoring
from experience.screening import experts as screening_experts
from experience.screening.models import Entry, Outcome, RoundState
from experience.units.models import UnitType
from experience.units.services import DECLARATION_VERSION, register_unit
from experience.works import recommendations, regform, submission
from experience.works import services as works
from experience.works.media import PHOTO_MIN_BYTES
from experience.works.models import CheckState, WorkCategory

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


#: the story of the demo's text work (its .docx puts a title above it)
DEMO_TEXT = (
    "小区门口的公示栏里，多了一张服务认证证书。物业经理说，拿证只是开始：保洁多久一次、报修多久上门、"
    "投诉怎样回复，都写进了服务规范，认证机构每年都来检查。住了十年的张阿姨说，现在电梯坏了，"
    "半小时内就有人来，修好了还会回访。认证让看不见的服务变成了看得见的承诺。"
)
#: each photo's caption (附件1 二.(二)): every part filled in, as the rules ask
DEMO_CAPTIONS = (
    dict(
        creator="陈静",
        place="杭州市西湖游客中心",
        description="游客在认证服务窗口领取导览图，工作人员讲解服务承诺",
        key_people="无",
        background="景区服务认证体验日，游客走进认证后的游客中心",
    ),
    dict(
        creator="陈静",
        place="杭州市西湖景区断桥",
        description="持证导游带领体验团沿湖讲解，团员佩戴体验日标识",
        key_people="导游王芳",
        background="认证后的导游服务规范：讲解时长、安全提示与投诉处理",
    ),
    dict(
        creator="陈静",
        place="杭州市西湖景区游船码头",
        description="游船服务人员为老人和儿童提供登船协助",
        key_people="无",
        background="景区服务认证对游船安全与无障碍服务的要求",
    ),
)
#: a photo the demo makes: 4.3 megapixels (a smaller camera's; every demo run decodes and
#: previews it, tests included), 5 MB to 15 MB as JPEG (padded when the scene is smaller)
PHOTO_SIZE = (2400, 1800)
#: the video the demo makes: 720p, a few seconds (a real work may last 3 minutes)
VIDEO_SIZE, VIDEO_SECONDS, VIDEO_FPS = (1280, 720), 3, 25
#: resolution of the demo's "scan" of a sealed form: what a desk scanner's 150 dpi gives
SCAN_DPI = 150


def works_start(campaign: Campaign, now: datetime) -> datetime:
    """When the demo units began their works: before the works deadline, as a unit would
    have (the demo runs later), ten days before it, or on the campaign's first day if that
    comes later; never after now."""
    made = clock.end_of_day(campaign.works_deadline) - timedelta(days=10)
    return min(now, max(made, clock.from_beijing(datetime(campaign.year, 1, 1))))


def _demo_works(units, users: dict[str, User], campaign: Campaign, now: datetime) -> None:
    """A work of each category, made by the demo units through the same rules as on their
    pages (the files are real, and the checks the worker runs pass): Beijing's text, sealed,
    submitted and waiting for its province's recommendation; Zhejiang's photos (three 5 MB+
    JPEGs), recommended by its province, submitted and returned by the secretariat with a
    day to send them again; Guangdong's video, submitted. Their notices reach the units,
    the provinces and the secretariat as they would."""
    start = works_start(campaign, now)
    steps = itertools.count()

    def moment() -> datetime:
        """The next minute of the units' work, never later than now."""
        return min(now, start + timedelta(minutes=next(steps)))

    completed_on = max(date(campaign.year, 1, 1), clock.beijing_today(start) - timedelta(days=20))
    beijing, zhejiang, guangdong = units

    text = _new_work(
        beijing,
        campaign,
        moment(),
        title="看得见的承诺——一个小区的物业服务认证故事",
        category=WorkCategory.TEXT,
        completed_on=completed_on,
        summary="一位居民眼中的物业服务认证：服务规范、年度监督与看得见的变化。",
    )
    upload = _upload(_docx("看得见的承诺", DEMO_TEXT), "看得见的承诺.docx")
    works.attach_text_file(text, works.receive(upload, "docx", lambda size: None), **_by(beijing, moment()))
    _seal_and_submit(text, beijing, moment)
    recommendations.request(text, **_by(beijing, moment()))

    photos = _new_work(
        zhejiang,
        campaign,
        moment(),
        title="西湖边的认证服务",
        category=WorkCategory.PHOTO,
        completed_on=completed_on,
        summary="组照三幅：景区服务认证后，游客中心、导游讲解和游船码头的服务变化。",
    )
    taken = completed_on.isoformat()
    for n, caption in enumerate(DEMO_CAPTIONS, 1):
        upload = _upload(_photo(n), f"西湖{n}.jpg")
        stored = works.receive(upload, "jpg", works.check_photo_size)
        works.attach_photo(photos, stored, {**caption, "taken_at": taken}, **_by(zhejiang, moment()))
    _run_checks(photos, zhejiang, moment())
    asked = recommendations.request(photos, **_by(zhejiang, moment()))
    recommendations.recommend(asked, actor=users["zhejiang"], now=moment(), ip="127.0.0.1")
    _seal_and_submit(photos, zhejiang, moment)
    submission.send_back(
        photos,
        "第二幅照片的说明请补充导游的单位和证书编号。",
        clock.beijing_today(now) + timedelta(days=7),
        actor=users["secretariat"],
        now=now,
        ip="127.0.0.1",
    )

    video = _new_work(
        guangdong,
        campaign,
        moment(),
        title="一次报修的二十分钟",
        category=WorkCategory.VIDEO,
        completed_on=completed_on,
        summary="纪实短片：认证物业接到报修后二十分钟内上门，按服务规范完成维修与回访。",
    )
    stored = works.receive(_upload(_video(), "报修二十分钟.mp4"), "mp4", works.check_video_size)
    works.attach_video(video, stored, **_by(guangdong, moment()))
    _run_checks(video, guangdong, moment())
    _seal_and_submit(video, guangdong, moment)


def _by(unit, at: datetime) -> dict:
    """Who acts, when and from where: the unit's account, on the demo's machine."""
    return dict(actor=unit.account, now=at, ip="127.0.0.1")


def _new_work(unit, campaign: Campaign, at: datetime, **fields):
    return works.create_work(
        unit, campaign, contact_name=unit.contact_name, contact_phone=unit.contact_mobile, **_by(unit, at), **fields
    )


def _upload(data: bytes, filename: str) -> FileStorage:
    """Bytes as a form upload brings them."""
    return FileStorage(io.BytesIO(data), filename=filename)


def _run_checks(work, unit, at: datetime) -> None:
    """The worker's checks of the files just attached, run here (the demo waits for them as
    the unit's page does), dated as if the worker had run them at ``at``.

    :raises RuntimeError: if a file of the demo's own making was refused.
    """
    job = works.start_checks(work, actor=unit.account, now=at)
    if job is not None:
        with _clock_at(at):
            jobs.run_job.call_local(job.id)
        db.session.refresh(work)
    if work.check_state is not CheckState.READY:
        raise RuntimeError(f"the demo's work “{work.title}” did not pass its checks ({work.check_state.value})")


@contextmanager
def _clock_at(at: datetime):
    """``clock.now()`` reads ``at`` meanwhile (the worker's code takes its time from it)."""
    before = current_app.config.get("FROZEN_NOW")
    current_app.config["FROZEN_NOW"] = at
    try:
        yield
    finally:
        current_app.config["FROZEN_NOW"] = before


def _seal_and_submit(work, unit, moment) -> None:
    """Accept the commitment and the licence, print the registration form (which gives the
    work its number), "seal and scan" it, upload the scan and submit: the unit's path."""
    works.accept_declarations(work, version=works.DECLARATION_VERSION, title=work.title, **_by(unit, moment()))
    db.session.flush()  # ensure_number reads the work's row again: what changed must be in it
    regform.ensure_number(work, actor=unit.account, now=moment())
    pdf = regform.form_pdf(work, full_contact=True, base_url="http://demo.invalid/")
    stored, codes = regform.receive_scan(_upload(_sealed_scan(pdf), "登记表（盖章）.jpg"))
    regform.attach_form_scan(work, stored, codes, **_by(unit, moment()))
    submission.submit(work, **_by(unit, moment()))


def _sealed_scan(pdf: bytes) -> bytes:
    """The form's page as a desk scanner gives it back once sealed: a JPEG at SCAN_DPI with
    a red seal stamped over the unit's signature."""
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        image = page.render(scale=SCAN_DPI / 72).to_pil().convert("RGB")
        page.close()
    finally:
        document.close()
    # over 作品报送单位名称（加盖公章）, which the form's fixed-height rows keep in one place
    w, h = image.size
    x, y, r = w * 0.72, h * 0.57, w * 0.09
    red = (210, 30, 30)
    seal = ImageDraw.Draw(image)
    seal.ellipse([x - r, y - r, x + r, y + r], outline=red, width=max(4, int(r / 12)))
    star = [
        (x + k * math.sin(math.pi * i / 5), y - k * math.cos(math.pi * i / 5))
        for i, k in zip(range(10), [r * 0.4, r * 0.16] * 5, strict=True)
    ]
    seal.polygon(star, fill=red)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _docx(title: str, text: str) -> bytes:
    """A Word document as the unit's writer saves it: its title, then the text."""
    document = docx.Document()
    document.add_heading(title, level=1)
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@functools.cache
def _photo(n: int) -> bytes:
    """A street scene (sky, buildings, people) with a camera's sensor noise, as a 12 MP JPEG of
    5 MB to 15 MB; padded with comment segments if the scene came out smaller. (Cached: the
    tests run the demo several times in one process.)"""
    rnd = random.Random(n)
    w, h = PHOTO_SIZE
    ground = h * 3 // 4
    sky = (rnd.randint(90, 140), rnd.randint(150, 190), rnd.randint(210, 245))
    haze = (rnd.randint(150, 200), rnd.randint(130, 170), rnd.randint(90, 130))
    image = ImageOps.colorize(Image.linear_gradient("L").resize(PHOTO_SIZE), sky, haze)
    draw = ImageDraw.Draw(image)
    sun_x, sun_y = rnd.randint(w // 8, w * 7 // 8), rnd.randint(h // 12, h // 4)
    draw.ellipse([sun_x - 180, sun_y - 180, sun_x + 180, sun_y + 180], fill=(255, 236, 180))
    x = 0
    while x < w:
        bw, bh, grey = rnd.randint(250, 600), rnd.randint(h // 4, h * 3 // 5), rnd.randint(120, 200)
        draw.rectangle([x, ground - bh, x + bw, ground], fill=(grey, grey - 10, grey - 25))
        for wy in range(ground - bh + 60, ground - 60, 140):
            for wx in range(x + 40, x + bw - 60, 120):
                lit = rnd.random() < 0.4
                draw.rectangle([wx, wy, wx + 60, wy + 80], fill=(250, 240, 200) if lit else (70, 90, 110))
        x += bw + rnd.randint(10, 80)
    draw.rectangle([0, ground, w, h], fill=(110, 110, 105))
    for _ in range(12):
        px, py = rnd.randint(100, w - 100), rnd.randint(ground + 200, h - 120)
        coat = tuple(rnd.randint(30, 220) for _ in range(3))
        draw.ellipse([px - 35, py - 200, px + 35, py - 130], fill=(230, 190, 160))
        draw.rounded_rectangle([px - 60, py - 130, px + 60, py + 100], 30, fill=coat)
    image = ImageChops.add(image, _sensor_noise(), offset=-128)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return _padded(out.getvalue(), PHOTO_MIN_BYTES)


@functools.cache
def _sensor_noise() -> Image.Image:
    """Grey noise centred on 128 over a photo's whole frame, tiled from one square: making
    12 megapixels of it costs five times more, and a repeat every 1,000 pixels is not seen."""
    tile = Image.effect_noise((1000, 1000), 28).convert("RGB")
    noise = Image.new("RGB", PHOTO_SIZE)
    for x in range(0, PHOTO_SIZE[0], tile.width):
        for y in range(0, PHOTO_SIZE[1], tile.height):
            noise.paste(tile, (x, y))
    return noise


def _padded(jpeg: bytes, at_least: int) -> bytes:
    """The JPEG grown to ``at_least`` bytes with comment (COM) segments after its start
    marker: still the same, valid picture."""
    missing = at_least - len(jpeg)
    if missing <= 0:
        return jpeg
    segments = []
    while missing > 0:
        n = min(max(missing - 4, 0), 65533)
        segments.append(b"\xff\xfe" + struct.pack(">H", n + 2) + b"\x00" * n)
        missing -= n + 4
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


@functools.cache
def _video() -> bytes:
    """A short 720p H.264/AAC MP4 with its index first: a street with a repair van driving
    by, and a tone. (Cached, as the photos are.)"""
    import av  # here, not at the top: the web workers import this module, and PyAV brings 18 MB of FFmpeg

    w, h = VIDEO_SIZE
    street = ImageOps.colorize(Image.linear_gradient("L").resize(VIDEO_SIZE), (110, 170, 230), (170, 150, 110))
    draw = ImageDraw.Draw(street)
    draw.rectangle([0, h * 3 // 4, w, h], fill=(100, 100, 96))
    for i, x in enumerate(range(0, w, 160)):
        draw.rectangle([x + 10, h // 3 - i % 3 * 40, x + 140, h * 3 // 4], fill=(150 + i % 4 * 15, 140, 125))
    with tempfile.TemporaryDirectory(prefix="demo-video-") as folder:
        path = Path(folder) / "demo.mp4"
        with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            picture = out.add_stream("libx264", rate=VIDEO_FPS)
            picture.width, picture.height, picture.pix_fmt = w, h, "yuv420p"
            picture.options = {"preset": "veryfast", "crf": "23"}
            sound = out.add_stream("aac", rate=48000, layout="stereo")
            for n in range(VIDEO_SECONDS * VIDEO_FPS):
                frame = street.copy()
                van = ImageDraw.Draw(frame)
                x = n * 12 % (w + 300) - 300
                van.rounded_rectangle([x, h * 3 // 4 - 150, x + 300, h * 3 // 4 - 10], 20, fill=(200, 40, 40))
                for wheel in (x + 40, x + 200):
                    van.ellipse([wheel, h * 3 // 4 - 50, wheel + 60, h * 3 // 4 + 10], fill=(30, 30, 30))
                video_frame = av.VideoFrame.from_image(frame).reformat(format="yuv420p", interpolation="FAST_BILINEAR")
                video_frame.pts, video_frame.time_base = n, Fraction(1, VIDEO_FPS)
                out.mux(picture.encode(video_frame))
            out.mux(picture.encode(None))
            # two seconds of a 440 Hz tone in stereo (whole periods: it repeats seamlessly), from
            # which each frame of 1,024 samples is cut
            second = (int(6000 * math.sin(2 * math.pi * 440 * i / 48000)) for i in range(48000))
            tone = b"".join(struct.pack("<hh", v, v) for v in second) * 2
            for done in range(0, VIDEO_SECONDS * 48000, 1024):
                at = done % 48000 * 4
                audio_frame = av.AudioFrame(format="s16", layout="stereo", samples=1024)
                audio_frame.planes[0].update(tone[at : at + 4096])
                audio_frame.sample_rate, audio_frame.pts, audio_frame.time_base = 48000, done, Fraction(1, 48000)
                out.mux(sound.encode(audio_frame))
            out.mux(sound.encode(None))
        return path.read_bytes()


#: The demo's experts (user name, name, unit, its credit code or "", province), logging in
#: with DEMO_PASSWORD. The last one works for a demo unit (北京安居物业, same credit code), so
#: the assignment never gives them that unit's work: the secretariat sees the conflict.
DEMO_EXPERTS = (
    ("expert1", "王立新", "中国质量认证中心", "", "11"),
    ("expert2", "李文静", "浙江省标准化研究院", "", "33"),
    ("expert3", "赵明远", "广东省认证认可协会", "", "44"),
    ("expert4", "周晓东", "北京安居物业管理有限公司", "91110108MA01R2KQ51", "11"),
)
#: (expert, scores of the criteria in order, comment) for the works the demo scores: expert1
#: scores all its works, expert2 its first, low, so that the experts disagree on it
DEMO_SCORES = {
    "expert1": ((9, 8, 8, 9, 7), "主题鲜明，认证要素讲得清楚。"),
    "expert2": ((5, 4, 5, 4, 5), "与服务认证的关联还可以更具体。"),
}


def _demo_screening(users: dict[str, User], campaign: Campaign, now: datetime) -> None:
    """Four experts, and a blind 初评 open with the submitted works assigned (never to an
    expert of the work's own unit), its blind copies made, and some scores given: an expert
    logging in finds works to score, and the secretariat's results show figures. On the
    works deadline's own day (a demo made on January 1) the round stays being set up:
    a round opens only after the deadline."""
    by = dict(actor=users["secretariat"], now=now, ip="127.0.0.1")
    experts = {}
    for username, name, unit, code, province in DEMO_EXPERTS:
        experts[username] = screening_experts.create_expert(
            username=username,
            display_name=name,
            organisation=unit,
            credit_code=code,
            province_code=province,
            categories=(),
            password=DEMO_PASSWORD,
            **by,
        )
        experts[username].must_change_password = False  # demo logins work at once, as the others do
    first = rounds.create_round(campaign, experts_per_work=3, blind=True, **by)
    if rounds.open_refusal(first, now) is not None:
        return
    rounds.open_round(first, **by)
    db.session.commit()  # the blind copies' job is queued when the round's opening commits
    for job in db.session.scalars(
        sa.select(jobs.Job).where(jobs.Job.kind == blind.COPY_JOB, jobs.Job.state == jobs.JobState.QUEUED)
    ):
        jobs.run_job.call_local(job.id)  # made here, as the demo's file checks are
    for username, (values, comment) in DEMO_SCORES.items():
        expert, scores = experts[username], {c.id: v for c, v in zip(first.criteria, values, strict=True)}
        held = scoring.assignments_of(expert.id, first)
        for assignment in held if username == "expert1" else held[:1]:
            scoring.save(assignment, scores, comment, actor=expert, now=now)


def _demo_publication(users: dict[str, User], campaign: Campaign, now: datetime) -> None:
    """Guangdong's video selected in the 初评 and the selection in its 公示 from today for 7
    days, with one objection from the public waiting for the secretariat's answer: the
    public platform shows a work, and the secretariat's 公示 page has something to answer.
    Skipped when the round could not open (a demo made on the works deadline's day)."""
    first = rounds.rounds_of(campaign)[0]
    if first.state is RoundState.DRAFT:
        return
    by = dict(actor=users["secretariat"], now=now, ip="127.0.0.1")
    entries = db.session.scalars(sa.select(Entry).where(Entry.round_id == first.id))
    entry = next(e for e in entries if e.work.category is WorkCategory.VIDEO)
    decisions.decide(entry, Outcome.SELECTED, "", None, **by)
    decisions.apply_pending(first, expected=decisions.preview(first).ids, **by)
    publication.publish(campaign, clock.beijing_today(now), publication.DEFAULT_DAYS, **by)
    publication.object(
        entry.work,
        name="李女士",
        phone="13800138000",
        reason="片中维修师傅的工牌与认证机构的证书信息似乎对不上，请核实拍摄单位是否为获证物业。",
        consent=True,
        ip="127.0.0.1",
        now=now,
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
    # registered just before they began their works
    registered = max(works_start(campaign, now) - timedelta(hours=1), clock.from_beijing(datetime(campaign.year, 1, 1)))
    registered = min(registered, now)
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
                now=registered,
                ip="127.0.0.1",
            )
        )
    _demo_works(units, users, campaign, now)
    _demo_screening(users, campaign, now)
    _demo_publication(users, campaign, now)
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
    _demo_screen(created[1], users["organizer"], now)

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


def _demo_screen(event: Event, organizer: User, now: datetime) -> None:
    """Today's event has a main screen with every scene filled: the welcome, the live
    check-in, the selected work in its 公示, the guests' comments (approved by the
    organiser, 先审后发) and their ratings."""
    for rating in db.session.scalars(sa.select(Rating).where(Rating.event_id == event.id, Rating.comment != "")):
        set_approval(rating, "comment", True, actor=organizer, now=now, ip="127.0.0.1")
    screen = screens.create_screen(event, "主屏", actor=organizer, now=now, ip="127.0.0.1")
    keys = [f"work:{w}" for w in screens.available(event, now).works]
    screens.add_items(screen, keys, actor=organizer, now=now, ip="127.0.0.1")


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
        and names <= {u[0] for u in DEMO_USERS} | {u[0] for u in DEMO_UNITS} | {u[0] for u in DEMO_EXPERTS}
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
            + f", as a submitting unit with its credit code ({DEMO_UNITS[0][0]}, …)"
            + " or as an expert ("
            + ", ".join(u[0] for u in DEMO_EXPERTS)
            + f"), with password {DEMO_PASSWORD}",
            fg="green",
        )
