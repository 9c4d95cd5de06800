"""core.web helpers that pages share."""

import pytest

from experience.core.web import public_base_is_loopback


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
