"""Issue 18's walk: the secretariat sets up a blind round with the criteria of 附件1 二 and
makes an expert's account; the round opens after the works deadline and assigns each
work to two experts. Expert A scores on a desktop (after choosing a password at the first
login), expert B on a phone, where B declares a conflict on one work and a third expert
gets it. The secretariat closes the scoring, reads the results, decides (入选, 未入选,
退回修改 with a reason and a day), previews and applies the decisions; the unit hears of
them only then. Full-page screenshots in test-artifacts/screening/.

The units' works are submitted through the fixtures (tests/screening/conftest.py): the
browser does what the issue names, nothing more."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from experience.extensions import db
from experience.screening.models import Assignment, AssignmentState, Entry, Round, RoundState
from experience.works.models import Work, WorkCategory, WorkState
from tests.browser.conftest import ARTIFACTS, login
from tests.browser.test_works import log_in_as_unit
from tests.screening.conftest import (  # noqa: F401 (fixtures)
    AFTER,
    EXPERT_PASSWORD,
    make_expert,
    make_unit,
    photo_bytes,
    secretariat,
    submitted_work,
    unit,
)

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "screening"
NEW_PASSWORD = "Quiet-Harbour-Lantern-58"

#: the works, what the experts think of them, and what the secretariat decides
SELECTED = "认证让养老更安心"  # a photo work
NOT_SELECTED = "一张认证证书背后的坚守"
RETURNED = "社区食堂的认证之路"
SCORES = {  # per criterion, on the default scale of 10
    SELECTED: [9, 9, 8, 9, 9],
    NOT_SELECTED: [5, 6, 5, 6, 5],
    RETURNED: [7, 7, 6, 7, 7],
}


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _fresh():
    """A new transaction: the test then sees what the server committed meanwhile (and
    a write of the test's own does not start from an old snapshot of the database)."""
    db.session.rollback()


def _desktop(browser):
    """Another person at another computer: their own cookies."""
    return browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")


def submit_and_wait(page, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def log_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    submit_and_wait(page, "#submit")


class ExpertPages:
    """What every expert page must hold to: no trace of the unit (blind round) and, on
    the phone, nothing wider than the screen."""

    def __init__(self, secrets: list[str], phone: bool = False):
        self.secrets, self.phone = secrets, phone

    def check(self, page) -> None:
        html = page.content()
        for secret in self.secrets:
            assert secret not in html, f"{page.url} shows {secret!r} to an expert in a blind round"
        if self.phone:
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{page.url} scrolls sideways on a phone ({width}px)"


def photo_shown(page) -> None:
    """The photo's blind copy is in the page, decoded (it loads lazily: wait for it)."""
    page.wait_for_function(
        "() => { const i = document.querySelector('.review-photo img'); return i && i.complete && i.naturalWidth; }",
        timeout=10_000,
    )
    width = page.eval_on_selector(".review-photo img", "i => i.getBoundingClientRect().right")
    assert width <= page.viewport_size["width"], "the photo runs off the screen"


def score_and_next(page, title: str) -> None:
    inputs = page.locator("form.review-scores input[type=number]")
    assert inputs.count() == len(SCORES[title])
    for i, value in enumerate(SCORES[title]):
        inputs.nth(i).fill(str(value))
    page.fill("#comment", f"{title}：主题鲜明。")
    submit_and_wait(page, "button[name=save_next]")


def set_up_round(s, base: str) -> int:
    """Step 1: the secretariat sets up the round (the criteria of 附件1 二, two experts per
    work, blind), makes expert A's account and opens the round; returns the round's id."""
    s.goto(f"{base}/screening")
    s.click("a.button[href$='/screening/rounds/new']")
    assert s.input_value("#name") == "初评"
    criteria = [(s.input_value(f"#crit_name_{n}"), s.input_value(f"#crit_weight_{n}")) for n in range(1, 6)]
    assert criteria == [
        ("导向正确", "20"),
        ("紧扣服务认证主题", "25"),
        ("立意新颖", "20"),
        ("真实感染力", "20"),
        ("制作质量", "15"),
    ]
    assert s.input_value("#crit_name_6") == ""
    s.fill("#experts_per_work", "2")
    s.check("#blind")
    shot(s, "01-round-new-desktop")
    submit_and_wait(s, "form.card.stack button[type=submit]")
    round_id = int(re.search(r"/screening/rounds/(\d+)$", s.url).group(1))
    assert "现在开启将有 3 件作品进入本轮" in s.inner_text(".round-state")

    s.goto(f"{base}/screening/experts/new")
    s.fill("#username", "zhang.wei")
    s.fill("#display_name", "张伟")
    s.fill("#organisation", "中国质量认证中心")
    s.select_option("#province", "11")
    s.fill("#password", EXPERT_PASSWORD)
    shot(s, "02-expert-new-desktop")
    submit_and_wait(s, "form.card.stack button[type=submit]")
    assert s.url.endswith("/screening/experts")
    assert "张伟" in s.inner_text("main") and "李娜" in s.inner_text("main")
    shot(s, "03-experts-desktop")

    s.goto(f"{base}/screening/rounds/{round_id}")
    submit_and_wait(s, f"form[action$='/screening/rounds/{round_id}/open'] button")
    assert "开启" in s.inner_text("form.confirm h1")
    shot(s, "04-round-open-confirm-desktop")
    submit_and_wait(s, "form.confirm button[type=submit]")
    _fresh()
    round_ = db.session.get(Round, round_id)
    assert round_.state is RoundState.OPEN and round_.blind and round_.experts_per_work == 2
    s.goto(f"{base}/screening/rounds/{round_id}/assignments")
    experts_table = s.inner_text("table.assign-experts")
    assert "张伟" in experts_table and "李娜" in experts_table
    assert s.is_visible("#unfilled .ok")  # every work has its two experts
    shot(s, "05-assignments-desktop")
    return round_id


def expert_a_scores_everything(a, base: str, blind: ExpertPages) -> None:
    """Step 2a: expert A, on a desktop, chooses a password at the first login, then scores
    the three works one after the other with 保存并下一个."""
    log_in(a, base, "zhang.wei", EXPERT_PASSWORD)
    assert a.url.endswith("/password")  # the secretariat's initial password must be changed first
    a.fill("#current", EXPERT_PASSWORD)
    a.fill("#new", NEW_PASSWORD)
    a.fill("#confirm", NEW_PASSWORD)
    submit_and_wait(a, "#submit")
    assert a.url.endswith("/review")
    assert "0/3" in a.inner_text(".review-progress")
    blind.check(a)
    shot(a, "06-review-list-expert-a-desktop")
    submit_and_wait(a, ".review-round a.button")  # 评下一件作品
    seen = []
    while "/review/" in a.url:
        title = a.inner_text("h1")
        seen.append(title)
        blind.check(a)
        if title == SELECTED:
            photo_shown(a)
            shot(a, "07-review-photo-expert-a-desktop")
        score_and_next(a, title)
    assert sorted(seen) == sorted(SCORES)
    assert "本轮分配给您的作品已全部评完" in a.inner_text("main")
    assert "3/3" in a.inner_text(".review-progress")
    blind.check(a)
    shot(a, "08-review-done-expert-a-desktop")


def expert_b_scores_and_declares_a_conflict(b, base: str, blind: ExpertPages) -> None:
    """Step 2b: expert B, on a phone, scores two works and declares a conflict on the third."""
    log_in(b, base, "li.na", EXPERT_PASSWORD)  # the fixture's expert chose it already
    assert b.url.endswith("/review")  # an expert's start page is the list of works to score
    blind.check(b)
    shot(b, "09-review-list-expert-b-phone")
    submit_and_wait(b, ".review-round a.button")
    declared = False
    while "/review/" in b.url:
        title = b.inner_text("h1")
        blind.check(b)
        if title == NOT_SELECTED:
            assert not declared
            shot(b, "10-review-work-expert-b-phone")
            submit_and_wait(b, ".review-conflict a")
            blind.check(b)
            b.fill("#reason", "本人曾为该作品的拍摄提供过咨询。")
            shot(b, "11-conflict-expert-b-phone")
            submit_and_wait(b, "form.card button[type=submit]")  # then on to the next work
            assert "您已申报利益冲突" in b.inner_text("main")
            declared = True
            continue
        if title == SELECTED:
            photo_shown(b)
            shot(b, "12-review-photo-expert-b-phone")
        score_and_next(b, title)
    assert declared
    blind.check(b)
    assert NOT_SELECTED not in b.inner_text(".review-list")
    assert "2/2" in b.inner_text(".review-progress")
    shot(b, "13-review-done-expert-b-phone")


def test_the_secretariat_screens_works_with_two_experts_on_desktop_and_phone(
    app,
    live_server,
    browser,
    desktop,
    phone,
    campaign,
    unit,  # noqa: F811
    secretariat,  # noqa: F811
    submitted_work,  # noqa: F811
    make_expert,  # noqa: F811
):
    app.config["FROZEN_NOW"] = AFTER  # Sep 2, 2024: after the works deadline
    works = {
        SELECTED: submitted_work(category=WorkCategory.PHOTO, title=SELECTED),
        NOT_SELECTED: submitted_work(category=WorkCategory.TEXT, title=NOT_SELECTED),
        RETURNED: submitted_work(category=WorkCategory.TEXT, title=RETURNED),
    }
    numbers = {title: w.number for title, w in works.items()}
    # expert B's account, made (and first login done) through the services; A's is made in the browser
    make_expert("li.na", display_name="李娜", organisation="上海市质量技术监督研究院", province_code="31")
    blind = ExpertPages([unit.name, unit.credit_code, "李摄影"])  # 李摄影: the photo's creator

    s = desktop.new_page()
    login(s, live_server, secretariat.username)
    round_id = set_up_round(s, live_server)
    # a third expert joins after the round opened: B's conflict goes to her
    _fresh()
    make_expert("wang.fang", display_name="王芳", organisation="浙江省标准化研究院", province_code="33")

    a_ctx = _desktop(browser)
    expert_a_scores_everything(a_ctx.new_page(), live_server, blind)
    expert_b_scores_and_declares_a_conflict(phone.new_page(), live_server, ExpertPages(blind.secrets, phone=True))

    _fresh()
    entries = {e.work.title: e for e in db.session.scalars(sa.select(Entry).where(Entry.round_id == round_id))}
    active = sa.select(Assignment).where(
        Assignment.entry_id == entries[NOT_SELECTED].id, Assignment.state == AssignmentState.ACTIVE
    )
    assert {x.expert.username for x in db.session.scalars(active)} == {"zhang.wei", "wang.fang"}

    # the third expert finds the work on her list and scores it
    c_ctx = _desktop(browser)
    c = c_ctx.new_page()
    log_in(c, live_server, "wang.fang", EXPERT_PASSWORD)
    assert NOT_SELECTED in c.inner_text(".review-list")
    blind.check(c)
    submit_and_wait(c, ".review-round a.button")
    assert c.inner_text("h1") == NOT_SELECTED
    score_and_next(c, NOT_SELECTED)
    assert "1/1" in c.inner_text(".review-progress")

    # -- 3. the secretariat closes the scoring, decides and applies -------------------------
    s.goto(f"{live_server}/screening/rounds/{round_id}")
    submit_and_wait(s, f"form[action$='/screening/rounds/{round_id}/close'] button")
    submit_and_wait(s, "form.confirm button[type=submit]")
    s.goto(f"{live_server}/screening/rounds/{round_id}/results")
    for title, entry in entries.items():
        row = s.inner_text(f"#entry-{entry.id}")
        assert numbers[title] in row and unit.name in row  # the secretariat sees the unit
    rank = {title: s.inner_text(f"#entry-{entry.id} td.num >> nth=0") for title, entry in entries.items()}
    assert rank == {SELECTED: "1", RETURNED: "1", NOT_SELECTED: "2"}  # ranked within each category
    assert "88.00" in s.inner_text(f"#entry-{entries[SELECTED].id}")  # (9·20 + 9·25 + 8·20 + 9·20 + 9·15) / 10
    shot(s, "14-results-desktop")

    def decide(title: str, outcome: str, reason: str = "", reopen: str = "") -> None:
        row = f"#entry-{entries[title].id}"
        s.select_option(f"{row} select[name=outcome]", outcome)
        if reason:
            s.fill(f"{row} input[name=reason]", reason)
        if reopen:
            s.fill(f"{row} input[name=reopen_until]", reopen)
        submit_and_wait(s, f"{row} form.decision-form button[type=submit]")
        assert "待生效" in s.inner_text(f"{row} .decision")

    decide(SELECTED, "selected")
    decide(NOT_SELECTED, "not_selected")
    decide(RETURNED, "return", reason="请补充食堂认证前后的对比数据。", reopen="2024-09-15")
    shot(s, "15-results-decided-desktop")

    # the unit hears nothing while the decisions are pending
    u_ctx = _desktop(browser)
    u = u_ctx.new_page()
    log_in_as_unit(u, live_server, unit.credit_code)
    u.goto(f"{live_server}/notices")
    assert u.locator("li[data-kind^=screening_], li[data-kind=work_returned]").count() == 0
    shot(u, "16-unit-notices-before-desktop")

    s.goto(f"{live_server}/screening/rounds/{round_id}/apply")
    preview = s.inner_text("form.confirm")
    assert "将变更 3 件作品" in preview
    for number in numbers.values():
        assert number in preview
    shot(s, "17-apply-preview-desktop")
    submit_and_wait(s, "form.confirm button[type=submit]")
    assert "已使 3 项决定生效" in s.inner_text("main")
    assert s.locator(".decision.applied").count() == 3
    shot(s, "18-results-applied-desktop")
    _fresh()
    assert db.session.get(Work, works[RETURNED].id).state is WorkState.RETURNED

    u.reload()
    notices = u.inner_text("ul.notices")
    assert f"{numbers[SELECTED]}《{SELECTED}》在作品筛选（初评）中入选" in notices
    assert f"{numbers[NOT_SELECTED]}《{NOT_SELECTED}》在作品筛选（初评）中未入选" in notices
    assert f"《{RETURNED}》" in notices and "请补充食堂认证前后的对比数据" in notices
    shot(u, "19-unit-notices-after-desktop")
    for ctx in (a_ctx, c_ctx, u_ctx):
        ctx.close()
