"""core.web helpers that pages share."""

import pytest

from experience.core.web import public_base_is_loopback, small_int


@pytest.mark.parametrize(
    "base, loopback",
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:18200", True),
        ("http://[::1]:8000", True),
        ("http://127.0.1.1", True),
        ("http://192.168.1.20:8000", False),
        ("https://tiyan.example.gov.cn", False),
        ("http://testserver", False),
    ],
)
def test_print_pages_know_when_links_reach_only_this_machine(app, base, loopback):
    app.config["PUBLIC_BASE_URL"] = base
    with app.app_context():
        assert public_base_is_loopback() is loopback


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_beijing_times_read_as_babel_formats_them_in_both_languages(app, lang):
    """The numeric patterns skip Babel's formatter (the guests' pages are hot): same text."""
    from datetime import datetime

    from flask import session
    from flask_babel import format_datetime

    from experience.core import clock
    from experience.core.web import beijing

    with app.test_request_context("/"):
        session["lang"] = lang
        for dt in (datetime(2024, 9, 10, 15, 30), datetime(2024, 12, 31, 16, 0), datetime(2025, 1, 1, 0, 5)):
            for pattern in ("yyyy-MM-dd HH:mm", "HH:mm", "yyyy-MM-dd"):
                assert beijing(dt, pattern) == format_datetime(clock.aware(dt), pattern)
        assert beijing(datetime(2024, 9, 10, 15, 30)) == "2024-09-10 23:30"


@pytest.mark.parametrize(
    "typed, number",
    [("20", 20), ("２０", 20), (" 15 ", 15), ("０", 0), ("999999999", 999999999)]
    + [(bad, None) for bad in ("", "²", "1.5", "-5", "1e3", "٣", "1 000", "1234567890", "２０ｓ", None)],
)
def test_a_number_typed_in_a_form_in_ascii_or_full_width_digits(typed, number):
    assert small_int(typed) == number
