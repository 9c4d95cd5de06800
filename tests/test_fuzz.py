"""Malformed input never answers 5xx: every route in the URL map, as a role the access
matrix lets in, with huge ids, nested JSON, long keys, NUL bytes, invalid UTF-8 and
arrays where strings belong."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD
from tests.test_access_matrix import MATRIX, world  # noqa: F401  (the fixture)

HUGE = str(2**64)
NESTED = "[" * 1500 + "]" * 1500  # about 3 KB: under the API's 4 KB, far over the recursion limit
LONG = "x" * 5000

#: (what, url suffix or None, request kwargs) sent to every route
ATTACKS = [
    ("query: NUL", "?q=%00&page=1", {}),
    ("query: huge numbers", f"?page={HUGE}&province={HUGE}&guest={HUGE}", {}),
    ("query: long key", "?key=import-" + LONG, {}),
    ("query: invalid UTF-8", "?q=%ff%fe%fd", {}),
    ("form: NUL", "", {"data": {"name": "a\x00b"}}),
    ("form: arrays", "", {"data": {"name": ["a", "c"], "code": ["x", "y"], "organizers": ["1", "x"], "what": ["a"]}}),
    ("form: long key", "", {"data": {"key": "import-" + LONG, "filename": LONG + ".xlsx"}}),
    ("form: huge numbers", "", {"data": {"organizers": HUGE, "guest_id": HUGE, "capacity": HUGE, "d1": HUGE}}),
    ("form: invalid UTF-8", "", {"data": b"name=%ff%fe&key=%ff", "content_type": "application/x-www-form-urlencoded"}),
    ("json: nested arrays", "", {"data": '{"code": ' + NESTED + "}", "content_type": "application/json"}),
    ("json: arrays for strings", "", {"json": {"code": ["a"], "nonce": ["b"], "name": {"x": 1}}}),
    ("json: invalid UTF-8", "", {"data": b'{"code": "\xff\xfe"}', "content_type": "application/json"}),
]


def _role_for(expected: dict) -> str:
    """A role the matrix lets in (its answer is not a refusal), anonymous for public routes."""
    for role in ("province", "hq", "organizer", "province_other", "secretariat", "reviewer"):
        if expected[role] not in (401, 403, 404):
            return role
    return "anonymous"  # nobody logged in gets further: the public routes


def _url_variants(template: str, ids: dict) -> list[str]:
    """The route with valid ids, and with every id too large / every code too long or odd."""
    valid = template.format(**ids)
    variants = [valid]
    if re.search(r"\{\w+\}", template):
        bad = {k: (HUGE if isinstance(v, int) else LONG) for k, v in ids.items()}
        variants.append(template.format(**bad))
        odd = {k: (v if isinstance(v, int) else "%00%ff" + str(v)) for k, v in ids.items()}
        variants.append(template.format(**odd))
    return variants


#: the routes fuzzed, by blueprint: one world per blueprint, not per route (building the
#: access matrix's world is most of the cost; a route's answer to malformed input does not
#: depend on what an earlier route was sent)
BLUEPRINTS: dict[str, list[str]] = {}
for _endpoint in MATRIX:
    if _endpoint not in ("accounts.logout", "static"):
        BLUEPRINTS.setdefault(_endpoint.split(".")[0], []).append(_endpoint)


@pytest.mark.parametrize("blueprint", sorted(BLUEPRINTS))
def test_no_route_answers_5xx_to_malformed_input(app, world, blueprint):  # noqa: F811
    users, ids = world
    failures = []
    clients = {}  # one logged-in client per role
    for endpoint in BLUEPRINTS[blueprint]:
        method, template, expected, *_ = MATRIX[endpoint]
        role = _role_for(expected)
        client = clients.get(role)
        if client is None:
            client = clients[role] = app.test_client()
            if role != "anonymous":
                login = client.post("/login", data={"username": users[role].username, "password": PASSWORD})
                assert login.status_code == 302
        for url in _url_variants(template, ids):
            for what, suffix, kwargs in ATTACKS:
                if method == "GET" and not what.startswith("query"):
                    continue
                r = client.open(url + suffix, method=method, **kwargs)
                r.close()
                if r.status_code >= 500:
                    failures.append(f"{endpoint}: {role} {method} {url[:80]}{suffix[:40]} ({what}): {r.status_code}")
    assert failures == []
