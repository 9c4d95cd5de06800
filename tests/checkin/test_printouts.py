"""The printouts of check-in, read back as a person reads paper: the PDF's text."""

import io
import os
import subprocess
from datetime import timedelta

import pytest
from pypdf import PdfReader

from experience.accounts.models import Role
from experience.checkin import printouts
from tests.browser.conftest import ARTIFACTS


@pytest.fixture
def event(app, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    app.config["FROZEN_NOW"] = event.starts_at - timedelta(hours=1)
    return event


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_sign_in_sheet_prints_its_title_once_per_sheet(client, auth, event, make_guest, tmp_path):
    for i in range(printouts.ROWS_PER_SHEET + 3):  # two sheets of names, then the blank rows
        make_guest(event, name=f"来宾{i:02d}")
    auth.login("bjstaff")
    with client.get(f"/events/{event.id}/sign-in-sheet.pdf") as r:
        pdf = r.data
    # for a person's eyes: test-artifacts/ gets the sheets as images
    (tmp_path / "sheet.pdf").write_bytes(pdf)
    ARTIFACTS.mkdir(exist_ok=True)
    prefix = ARTIFACTS / f"{os.environ.get('TEST_DB', 'sqlite')}-sign-in-sheet"
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(tmp_path / "sheet.pdf"), str(prefix)], check=True)
    texts = pages_text(pdf)
    assert len(texts) >= 2
    for number, text in enumerate(texts, start=1):
        assert text.count(event.title) == 1, (number, text[:200])
        assert text.count("签到表") == 1, (number, text[:200])
    assert "来宾00" in texts[0]
    assert "来宾20" in texts[1]
