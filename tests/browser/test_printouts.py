"""Invitation cards as the person with the scissors sees them: a printed A4 page read back
from its picture (pdftoppm at 100 dpi), the QR codes found by zxing-cpp, the cutting lines
found by their ink. No browser needed; the picture is kept in test-artifacts/."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import zxingcpp
from PIL import Image

from experience.accounts.models import Role
from experience.events.models import GuestCategory
from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

A4_MM = (210, 297)
MARGIN_MM = 10


@pytest.fixture
def page_picture(client, auth, make_user, make_event, make_guest, tmp_path):
    """The first sheet of a seven-guest event's cards, as a greyscale picture, and the codes."""
    staff = make_user(Role.PROVINCE, "11", username="bjstaff", organisation="北京市市场监督管理局")
    event = make_event(actor=staff, city="北京市", address="朝阳区望京街道望京街1号康乐大厦三层")
    names = ("张三", "李四", "王芳", "赵六", "欧阳建国", "孙八", "钱七")
    guests = [make_guest(event, name=n, category=GuestCategory.CONSUMER) for n in names]
    auth.login("bjstaff")
    with client.get(f"/events/{event.id}/invitations.pdf") as r:
        assert r.status_code == 200
        (tmp_path / "cards.pdf").write_bytes(r.data)
    subprocess.run(
        ["pdftoppm", "-r", "100", "-png", "-f", "1", "-l", "1", str(tmp_path / "cards.pdf"), str(tmp_path / "p")],
        check=True,
    )
    (png,) = tmp_path.glob("p*.png")
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(png, ARTIFACTS / f"{os.environ.get('TEST_DB', 'sqlite')}-invitation-cards.png")
    return Image.open(png).convert("L"), {g.code for g in guests[:6]}


def _lines(darkness: list[float]) -> list[int]:
    """The middles of the runs of positions where a dashed line's ink covers much of the band."""
    runs, start = [], None
    for i, d in enumerate([*darkness, 0.0]):
        if d > 0.3 and start is None:
            start = i
        elif d <= 0.3 and start is not None:
            runs.append((start + i - 1) // 2)
            start = None
    return runs


def test_six_cards_a_sheet_in_two_columns_and_three_rows_cut_along_one_line_each(page_picture):
    img, codes = page_picture
    width, height = img.size
    mm = width / A4_MM[0]
    margin = MARGIN_MM * mm
    px = img.load()

    found = zxingcpp.read_barcodes(img)
    assert {b.text.rsplit("/", 1)[-1] for b in found} == codes  # the first six guests, each once
    boxes = [
        (
            min(p.x for p in (b.position.top_left, b.position.bottom_left)),
            min(p.y for p in (b.position.top_left, b.position.top_right)),
            max(p.x for p in (b.position.top_right, b.position.bottom_right)),
            max(p.y for p in (b.position.bottom_left, b.position.bottom_right)),
        )
        for b in found
    ]
    # every code inside the page's margins
    for left, top, right, bottom in boxes:
        assert margin <= left < right <= width - margin and margin <= top < bottom <= height - margin
    # two columns: three codes left of the middle, three right, each column lined up
    left_col = [b for b in boxes if b[2] < width / 2]
    right_col = [b for b in boxes if b[0] > width / 2]
    assert len(left_col) == len(right_col) == 3
    for column in (left_col, right_col):
        assert max(b[0] for b in column) - min(b[0] for b in column) <= 3
    # three rows of two, evenly spaced down the page
    by_row = sorted(boxes, key=lambda b: b[1])
    rows = [by_row[i : i + 2] for i in (0, 2, 4)]
    for row in rows:
        assert abs(row[0][1] - row[1][1]) <= 3
    tops = [row[0][1] for row in rows]
    assert abs((tops[1] - tops[0]) - (tops[2] - tops[1])) <= 3 and tops[1] - tops[0] > 80 * mm

    # nothing printed in the margins: no line or card runs past them (1 px for antialiasing)
    inked = [
        (x, y)
        for x in range(width)
        for y in range(height)
        if (x < margin - 1 or x > width - margin + 1 or y < margin - 1 or y > height - margin + 1) and px[x, y] < 250
    ]
    assert inked == []

    # the cutting lines, found in the blank padding strips of the first card: the left strip
    # (between the page margin and the text) crosses every line across, the top strip every line down
    strip_x = range(round(margin) + 2, round(margin + 5 * mm))
    strip_y = range(round(margin) + 2, round(margin + 5 * mm))
    across = _lines([sum(px[x, y] < 200 for x in strip_x) / len(strip_x) for y in range(height)])
    down = _lines([sum(px[x, y] < 200 for y in strip_y) / len(strip_y) for x in range(width)])
    # one line between two cards, so one cut separates them
    left_edge = max(b[2] for b in left_col)
    right_edge = min(b[0] for b in right_col)
    assert len([x for x in down if left_edge < x < right_edge]) == 1, down
    for upper, lower in zip(rows, rows[1:], strict=False):
        between = [y for y in across if max(b[3] for b in upper) < y < min(b[1] for b in lower)]
        assert len(between) == 1, across
    # and the outer lines on the margins, not past them
    assert len(down) == 3 and len(across) == 4
    assert all(margin - 2 <= x <= width - margin + 2 for x in down)
    assert all(margin - 2 <= y <= height - margin + 2 for y in across)
