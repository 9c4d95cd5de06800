"""Every page, rendered in Chinese, punctuates Chinese sentences the Chinese way.

An ASCII colon, comma or bracket beside a Chinese character ("孙丽: 签到成功",
"活动(1)", "北京市, 朝阳区") reads as a typo to a Chinese reader; the full-width forms
(：，（）) are the norm. Clock times (09:30) and English words are left alone.
"""

import os
import re
from html.parser import HTMLParser

import pytest

from tests.conftest import PASSWORD
from tests.test_access_matrix import MATRIX, ROLES, world  # noqa: F401  (the fixture)

#: a page's punctuation does not depend on the engine under it (every view runs on both in
#: the access matrix and the fuzz test)
pytestmark = pytest.mark.skipif(os.environ.get("TEST_DB") == "postgresql", reason="text checked on the SQLite pass")

CJK = r"[\u3400-\u9fff\uf900-\ufaff]"
ASCII_BESIDE_CJK = re.compile(rf"{CJK} ?[:(),]|[:(),] ?{CJK}")
#: attributes whose text a person reads or hears
READ_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt", "value"}


class _Text(HTMLParser):
    """The text a person reads: text nodes and the attributes above, not scripts or styles."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        kinds = dict(attrs)
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value and not (name == "value" and kinds.get("type") == "hidden"):
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def ascii_punctuation_in_chinese(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    found = []
    for part in parser.parts:
        for m in ASCII_BESIDE_CJK.finditer(part):
            found.append(part[max(0, m.start() - 12) : m.end() + 12].strip())
    return found


def test_the_check_catches_what_it_should_and_leaves_the_rest():
    assert ascii_punctuation_in_chinese("<p>孙丽: 签到成功</p>")
    assert ascii_punctuation_in_chinese("<h2>活动(1)</h2>")
    assert ascii_punctuation_in_chinese('<input placeholder="北京市, 朝阳区">')
    assert not ascii_punctuation_in_chinese("<p>09:30 签到；孙丽：签到成功（1）</p><script>a(甲)</script>")
    assert not ascii_punctuation_in_chinese('<p>Sign in: 3 (of 5)</p><input type="hidden" value="甲:乙">')


@pytest.mark.parametrize("role", ROLES)
def test_every_page_punctuates_chinese_the_chinese_way(app, world, role):  # noqa: F811
    users, ids = world
    client = app.test_client()
    if role != "anonymous":
        client.post("/login", data={"username": users[role].username, "password": PASSWORD})
    wrong = []
    for endpoint, (method, template, expected, *_extra) in MATRIX.items():
        if method != "GET" or expected[role] != 200 or endpoint in ("static", "healthz"):
            continue
        url = template.format(**ids)
        r = client.get(url, headers={"Accept-Language": "zh-CN"})
        if r.mimetype == "text/html":
            wrong += [f"{url}: {found}" for found in ascii_punctuation_in_chinese(r.get_data(as_text=True))]
        r.close()
    missing = client.get("/events/999999", headers={"Accept-Language": "zh-CN"})
    wrong += [f"404: {found}" for found in ascii_punctuation_in_chinese(missing.get_data(as_text=True))]
    assert not wrong, "\n".join(sorted(set(wrong)))
