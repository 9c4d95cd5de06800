"""Registering a unit in a test, as the registration page does (its account included)."""

from __future__ import annotations

import itertools

from experience.extensions import db
from experience.units import services
from experience.units.models import Unit, UnitType
from tests.conftest import NOW, PASSWORD

#: Real, published credit codes, with where each was found:
REAL_CODES = {
    # 华为技术有限公司: the infobox of zh.wikipedia.org/zh-hk/華爲
    "914403001922038216": "44",
    # 柯兴科技（深圳）有限公司: the footer of the company's own web site (its source is on GitHub)
    "91440300MA5H0HLK5U": "44",
    # Two Shanghai companies from Hutool's own test (dromara/hutool, CreditCodeUtilTest.java)
    "91310115591693856A": "31",
    "91310110666007217T": "31",
    # 晋中市文化和旅游局 (a government body: authority 1, kind 1) and 山西晋韵古建筑有限公司: the parties of
    # a published government procurement contract (省级红色文化遗址保护标志树立项目), quoted in a public repository
    "11140800558745220K": "14",
    "91140106713678575D": "14",
    # a company in 雄安新区 (area 133100), from its published qualification details in a public repository
    "91133100MA0D8N1J7G": "13",
    # a university registered at national level (area 100000), printed on a railway e-invoice in a public test
    "12100000470095016Q": "11",
}

_codes = itertools.cycle(REAL_CODES)


def unit_data(**overrides) -> dict:
    data = dict(
        name="华为技术有限公司",
        credit_code=next(_codes),
        unit_type=UnitType.RELATED_ENTERPRISE,
        province_code="44",
        contact_name="王小明",
        contact_mobile="13812345678",
        contact_email="wang@example.com",
        password=PASSWORD,
        declaration_version=services.DECLARATION_VERSION,
        now=NOW,
        ip="192.0.2.10",
    )
    data.update(overrides)
    return data


def register_unit(**overrides) -> Unit:
    unit = services.register_unit(**unit_data(**overrides))
    db.session.commit()
    return unit
