"""Where printed links point: what a phone scanning a card or the poster will open."""

import subprocess
import sys

from experience.config import ROOT, development_base_url, lan_address


def _base_url_of_a_fresh_process(**env) -> str:
    out = subprocess.run(
        [sys.executable, "-c", "from experience.config import Config; print(Config.PUBLIC_BASE_URL)"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_links_follow_the_port_make_run_listens_on():
    assert _base_url_of_a_fresh_process(PORT="18200") == "http://127.0.0.1:18200"
    assert _base_url_of_a_fresh_process(HOST="127.0.0.1", PORT="8080") == "http://127.0.0.1:8080"
    assert _base_url_of_a_fresh_process() == "http://127.0.0.1:8000"


def test_a_wildcard_host_prints_the_lan_address_never_0_0_0_0():
    url = _base_url_of_a_fresh_process(HOST="0.0.0.0", PORT="18200")
    assert "0.0.0.0" not in url
    assert url == f"http://{lan_address()}:18200"
    assert development_base_url({"HOST": "::", "PORT": "9000"}) == f"http://{lan_address()}:9000"


def test_an_explicit_public_base_url_wins():
    assert (
        _base_url_of_a_fresh_process(HOST="0.0.0.0", PORT="18200", PUBLIC_BASE_URL="https://tiyan.example.gov.cn")
        == "https://tiyan.example.gov.cn"
    )


def test_an_ipv6_host_is_bracketed():
    assert development_base_url({"HOST": "fe80::1", "PORT": "8000"}) == "http://[fe80::1]:8000"
