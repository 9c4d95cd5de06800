"""What a round's scores add up to (weighted totals, mean, median, spread, disagreement,
ranks with ties, criterion means), in a fixed number of queries; the results page, the
entry's page, and the exports (the score sheet as .xlsx, the result list as a PDF)."""

from __future__ import annotations

import io
import subprocess
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from pypdf import PdfReader

from experience.accounts.models import Role
from experience.core.audit import AuditEntry
from experience.extensions import db
from experience.screening import results, rounds, scoring
from experience.screening.models import Assignment, AssignmentState, Entry
from experience.works.models import WorkCategory
from tests.conftest import PASSWORD
from tests.screening.conftest import AFTER

#: two criteria: a total is (60 × a + 40 × b) / 10
CRITERIA = [("导向正确", 60), ("制作质量", 40)]


@pytest.fixture
def opened_round(screening_round, secretariat, make_expert):
    """``opened_round(works, experts=3, **settings)``: a round with two criteria (60/40,
    scale 0–10) opened at AFTER, every expert on every work; returns (round, experts)."""

    def make(works, experts: int = 3, **settings):
        people = [make_expert(f"expert{n}", display_name=f"专家{n}号") for n in range(1, experts + 1)]
        settings.setdefault("experts_per_work", experts)
        round_ = screening_round(criteria=CRITERIA, scale_max=10, **settings)
        rounds.open_round(round_, actor=secretariat, now=AFTER)
        db.session.commit()
        return round_, people

    return make


def score(round_, work, expert, a: int | None, b: int | None, comment: str = "") -> None:
    """The expert scores the work through scoring.save (None: that criterion left empty)."""
    assignment = db.session.scalar(
        sa.select(Assignment)
        .join(Entry, Entry.id == Assignment.entry_id)
        .where(
            Entry.work_id == work.id,
            Entry.round_id == round_.id,
            Assignment.expert_id == expert.id,
            Assignment.state == AssignmentState.ACTIVE,
        )
    )
    first, second = round_.criteria
    values = {c.id: v for c, v in ((first, a), (second, b)) if v is not None}
    scoring.save(assignment, values, comment, actor=expert, now=AFTER)
    db.session.commit()


def result_of(round_, work) -> results.EntryResult:
    return next(r for r in results.entry_results(round_) if r.work.id == work.id)


# -- Aggregates --------------------------------------------------------------------------------


def test_weighted_totals_give_mean_median_and_spread(submitted_work, opened_round):
    work = submitted_work()
    round_, (e1, e2, e3) = opened_round([work])
    score(round_, work, e1, 8, 6)  # 72.00
    score(round_, work, e2, 10, 5)  # 80.00
    score(round_, work, e3, 9, 9)  # 90.00
    r = result_of(round_, work)
    assert sorted(e.total for e in r.experts) == [Decimal("72.00"), Decimal("80.00"), Decimal("90.00")]
    assert r.mean == Decimal("80.67")
    assert r.median == Decimal("80.00")
    assert r.spread == Decimal("18.00")
    assert r.complete == 3


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two(submitted_work, opened_round):
    work = submitted_work()
    round_, (e1, e2, e3, e4) = opened_round([work], experts=4)
    score(round_, work, e1, 5, 5)  # 50
    score(round_, work, e2, 6, 6)  # 60
    score(round_, work, e3, 7, 8)  # 74
    score(round_, work, e4, 10, 10)  # 100
    r = result_of(round_, work)
    assert r.median == Decimal("67.00")
    assert r.mean == Decimal("71.00")


def test_an_expert_still_scoring_is_listed_but_not_counted(submitted_work, opened_round):
    work = submitted_work()
    round_, (e1, e2, e3) = opened_round([work])
    score(round_, work, e1, 8, 6)  # 72
    score(round_, work, e2, 10, 10)  # 100
    score(round_, work, e3, 0, None)  # one criterion only: no total
    r = result_of(round_, work)
    assert len(r.experts) == 3
    assert [e.total for e in r.experts if e.expert.id == e3.id] == [None]
    assert r.complete == 2
    assert r.mean == Decimal("86.00")
    assert r.median == Decimal("86.00")
    # the mean per criterion counts the same two experts
    first, second = round_.criteria
    assert r.criterion_means == {first.id: Decimal("9.00"), second.id: Decimal("8.00")}


def test_weights_decide_which_work_ranks_first(submitted_work, opened_round):
    strong_first = submitted_work(title="导向好")
    strong_second = submitted_work(title="制作好")
    round_, experts = opened_round([strong_first, strong_second], experts=1)
    (e1,) = experts
    score(round_, strong_first, e1, 10, 0)  # 60: the criterion weighing 60 %
    score(round_, strong_second, e1, 0, 10)  # 40
    ranked = {r.work.id: r.rank for r in results.entry_results(round_)}
    assert ranked == {strong_first.id: 1, strong_second.id: 2}


def test_equal_means_share_a_rank_and_each_category_ranks_apart(submitted_work, opened_round, other_unit):
    a, b, c = (submitted_work(title=t) for t in ("甲", "乙", "丙"))
    unscored = submitted_work(title="未评")
    photo = submitted_work(other_unit, category=WorkCategory.PHOTO, title="照片")
    round_, (e1,) = opened_round([a, b, c, unscored, photo], experts=1)
    score(round_, a, e1, 7, 7)  # 70
    score(round_, b, e1, 9, 9)  # 90
    score(round_, c, e1, 9, 9)  # 90
    score(round_, photo, e1, 5, 5)  # 50: first of its own category
    listed = results.entry_results(round_)
    assert [(r.work.title, r.rank) for r in listed] == [
        (listed[0].work.title, 1),
        (listed[1].work.title, 1),
        ("甲", 3),
        ("未评", None),  # no complete score: no rank, listed after the ranked
        ("照片", 1),
    ]
    assert {listed[0].work.title, listed[1].work.title} == {"乙", "丙"}


def test_a_spread_beyond_the_rounds_threshold_flags_disagreement(submitted_work, opened_round):
    close, apart = submitted_work(title="一致"), submitted_work(title="分歧")
    round_, (e1, e2) = opened_round([close, apart], experts=2, disagreement_points=20)
    score(round_, close, e1, 5, 5)  # 50
    score(round_, close, e2, 7, 7)  # 70: exactly 20 apart, not beyond
    score(round_, apart, e1, 5, 5)  # 50
    score(round_, apart, e2, 8, 7)  # 76: 26 apart
    assert result_of(round_, close).spread == Decimal("20.00")
    assert not result_of(round_, close).disagrees
    assert result_of(round_, apart).disagrees


def _statements(fn) -> int:
    count = [0]

    def count_one(*args, **kwargs):
        count[0] += 1

    sa.event.listen(db.engine, "before_cursor_execute", count_one)
    try:
        fn()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count_one)
    return count[0]


def _page_reads(round_id: int, works: int) -> int:
    """The statements of a round's results and what the page reads of each row, its
    round already loaded."""
    db.session.commit()
    db.session.expire_all()
    round_ = db.session.get(results.Round, round_id)
    assert round_.name

    def read():
        rows = results.entry_results(round_)
        assert len(rows) == works
        for row in rows:
            assert row.work.unit.name and all(e.expert.username for e in row.experts)
            assert row.mean is not None and not row.disagrees

    return _statements(read)


def test_the_results_cost_the_same_queries_for_two_works_or_eight(submitted_work, opened_round):
    works = [submitted_work(title=f"作品{n}") for n in range(8)]
    round_, (e1, e2) = opened_round(works, experts=2)
    for w in works:
        score(round_, w, e1, 6, 7)
        score(round_, w, e2, 8, 9)
    eight = _page_reads(round_.id, 8)
    db.session.execute(
        sa.delete(Entry).where(Entry.round_id == round_.id, Entry.work_id.in_([w.id for w in works[2:]]))
    )
    assert _page_reads(round_.id, 2) == eight


# -- Pages and exports ---------------------------------------------------------------------------


def _login(app, username: str):
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": PASSWORD})
    assert r.status_code == 302, username
    return client


@pytest.fixture
def scored_round(submitted_work, opened_round, other_unit):
    """Two text works and a photo, each scored by both experts (the photo: by one only)."""
    first = submitted_work(title="认证让养老更安心")
    second = submitted_work(other_unit, title="物业服务认证见闻")
    photo = submitted_work(other_unit, category=WorkCategory.PHOTO, title="体验日的笑脸")
    round_, (e1, e2) = opened_round([first, second, photo], experts=2)
    score(round_, first, e1, 9, 8, comment="主题鲜明")
    score(round_, first, e2, 8, 8)
    score(round_, second, e1, 4, 5)
    score(round_, second, e2, 9, 9, comment='=HYPERLINK("http://x")')
    score(round_, photo, e1, 7, 6)
    return round_, (first, second, photo), (e1, e2)


def test_the_secretariat_sees_the_ranking_with_units_and_experts(app, scored_round, secretariat):
    round_, (first, second, photo), (e1, e2) = scored_round
    page = _login(app, secretariat.username).get(f"/screening/rounds/{round_.id}/results").get_data(as_text=True)
    assert first.number in page and second.number in page and photo.number in page
    assert first.unit.name in page
    assert "专家1号" in page and "专家2号" in page
    assert "83.00" in page  # the first work's mean: (86 + 80) / 2
    assert "分歧" in page  # the second work: 44 and 90


def test_only_the_secretariat_reaches_the_results(app, scored_round, make_user):
    round_, _, (e1, _e2) = scored_round
    hq = make_user(Role.HQ, province=None)
    for who in (e1.username, hq.username):
        client = _login(app, who)
        for path in (
            f"/screening/rounds/{round_.id}/results",
            f"/screening/rounds/{round_.id}/scores.xlsx",
            f"/screening/rounds/{round_.id}/results.pdf",
            f"/screening/rounds/{round_.id}/apply",
        ):
            assert client.get(path).status_code == 403, (who, path)


def test_the_entry_page_shows_each_experts_scores_and_comment(app, scored_round, secretariat):
    round_, (first, _, _), _ = scored_round
    entry = db.session.scalar(sa.select(Entry).where(Entry.work_id == first.id))
    page = _login(app, secretariat.username).get(f"/screening/entries/{entry.id}").get_data(as_text=True)
    assert "主题鲜明" in page
    assert "86.00" in page and "80.00" in page  # each expert's total
    assert "导向正确" in page and "60%" in page


def test_the_score_sheet_has_a_row_per_expert_and_criterion(app, scored_round, secretariat):
    round_, (first, second, photo), (e1, e2) = scored_round
    r = _login(app, secretariat.username).get(f"/screening/rounds/{round_.id}/scores.xlsx")
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.data))
    scores, ranking = book.worksheets
    rows = [tuple(c.value for c in row) for row in scores.iter_rows(min_row=2)]
    assert len(rows) == 3 * 2 * 2  # 3 works × 2 experts × 2 criteria (the photo's second expert: empty)
    assert (
        first.number,
        first.title,
        "文字类",
        first.unit.name,
        "专家1号",
        "中国质量认证中心",
        "导向正确",
        60,
        9,
        "主题鲜明",
    ) in rows
    # a comment that would become a formula stays text
    assert any(row[9] == '\'=HYPERLINK("http://x")' for row in rows)
    ranked = [tuple(c.value for c in row) for row in ranking.iter_rows(min_row=2)]
    assert [row[2] for row in ranked] == [first.number, second.number, photo.number]
    assert ranked[0][1] == 1 and ranked[0][7] == 83.0
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "screening.export", AuditEntry.target_id == str(round_.id))
    )
    assert entry.detail["kind"] == "scores" and entry.actor_id == secretariat.id


def test_a_large_score_sheet_is_made_by_the_worker(app, scored_round, secretariat, monkeypatch):
    round_, _, _ = scored_round
    monkeypatch.setattr(results, "EXPORT_SYNC_MAX", 5)
    client = _login(app, secretariat.username)
    r = client.get(f"/screening/rounds/{round_.id}/scores.xlsx")
    assert r.status_code == 302 and "/jobs/" in r.location
    with client.get(r.location + "/result") as done:  # the job ran at once (tests run jobs immediately)
        assert done.status_code == 200
        data = done.data
    assert len(list(load_workbook(io.BytesIO(data)).worksheets[0].iter_rows(min_row=2))) == 12


def test_the_result_list_pdf_lists_each_category_with_lines_to_sign(app, scored_round, secretariat, tmp_path):
    round_, (first, second, photo), _ = scored_round
    r = _login(app, secretariat.username).get(f"/screening/rounds/{round_.id}/results.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(r.data)).pages)
    for expected in (first.number, second.number, photo.number, "文字类", "平面类", "评审组长签字", "日期", "83.00"):
        assert expected in text, expected
    assert "专家1号" not in text  # a result list names no expert
    path = tmp_path / "results.pdf"
    path.write_bytes(r.data)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "CJK" in fonts or "WenQuanYi" in fonts


def test_a_long_result_list_is_laid_out_by_the_worker(app, scored_round, secretariat, monkeypatch):
    round_, (first, _, _), _ = scored_round
    monkeypatch.setattr(results, "PDF_SYNC_MAX", 2)
    client = _login(app, secretariat.username)
    r = client.get(f"/screening/rounds/{round_.id}/results.pdf")
    assert r.status_code == 302 and "/jobs/" in r.location
    with client.get(r.location + "/result") as done:
        assert done.status_code == 200
        data = done.data
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert first.number in text and "评审组长签字" in text
