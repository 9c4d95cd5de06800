"""The unified social credit code (统一社会信用代码) of GB 32100-2015.

Eighteen characters from a 31-character set (the digits and the capitals without I, O, Z,
S and V, which read like 1, 0, 2, 5 and U):

- 1: the registration authority (登记管理部门代码), e.g. 9 market regulation, 5 civil affairs;
- 2: the kind of organisation within that authority (机构类别代码);
- 3–8: the GB/T 2260 area code of the registering office (登记管理机关行政区划码);
- 9–17: the subject identifier (主体标识码, the old organisation code of GB 11714);
- 18: the check character: the weighted sum of the first 17 (weights 3^i mod 31), and
  31 minus that sum mod 31 (31 becoming 0).

The check character only catches typing mistakes: anyone can compute it, so a valid code
proves nothing about who typed it (see the handover in services).

Not checked: the GB 11714 check digit inside characters 9–17. A few codes issued in the
early pilot areas do not follow the standard in full, and a unit must never be locked out
by a rule stricter than the one its own certificate follows.
"""

from __future__ import annotations

import re
import unicodedata

from flask_babel import lazy_gettext as _l

from experience.core.errors import RuleError

LENGTH = 18
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
#: 3^i mod 31 for the first 17 positions: 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
WEIGHTS = tuple(pow(3, i, 31) for i in range(LENGTH - 1))

#: registration authority → the organisation kinds it registers (GB 32100-2015, table 1,
#: with the codes added since: A for the Central Military Commission's establishment
#: office, N for agriculture's rural collective economic organisations)
AUTHORITIES = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 群众团体, 其他
    "2": "19",  # 外交: 外国常驻新闻机构, 其他
    "3": "123459",  # 司法行政: 律师执业机构, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
    "4": "19",  # 文化: 外国在华文化中心, 其他
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",  # 旅游: 外国旅游部门常驻代表机构, 港澳台旅游部门常驻代表机构, 其他
    "7": "129",  # 宗教: 宗教活动场所, 宗教院校, 其他
    "8": "19",  # 工会: 基层工会, 其他
    "9": "123",  # 工商 (市场监管): 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室: 军队事业单位, 其他
    "N": "1239",  # 农业: 组级, 村级, 乡镇级集体经济组织, 其他
    "Y": "1",  # 其他: not divided further
}

#: the first two digits of a registering office's area code: the 31 GB/T 2260 provinces,
#: 66 for 新疆生产建设兵团 (as national systems give it), and 10 for offices at national
#: level (area code 100000: central bodies registered by a ministry in Beijing)
AREA_PREFIXES = frozenset(
    str(n) for n in (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52)
) | frozenset(str(n) for n in (53, 54, 61, 62, 63, 64, 65, 66, 10))

#: letters people type for the digits they resemble; the code's alphabet has none of them
CONFUSABLE = {"O": "0", "I": "1", "Z": "2", "S": "5", "V": "U"}

MESSAGES = {
    "length": _l(
        "A unified social credit code has 18 characters; this one has %(count)s. "
        "Please copy it from the unit's business licence or registration certificate."
    ),
    "confusable": _l(
        "Credit codes never use the letter %(letter)s. Did you mean %(instead)s? "
        "Please check the code on the unit's certificate."
    ),
    "character": _l("Credit codes use only digits and capital letters; “%(char)s” cannot be part of one."),
    "authority": _l("The first character (the registration authority) cannot be %(char)s. Please check the code."),
    "kind": _l(
        "The second character (the kind of organisation) cannot be %(char)s after %(authority)s. Please check the code."
    ),
    "area": _l("Characters 3 to 8 must be the area code of the registering office. Please check the code."),
    "check": _l(
        "This credit code is not valid: its last character does not match the others. "
        "Please check each character against the unit's certificate."
    ),
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(f"credit_code_{code}", MESSAGES[code], **params)


def normalize(raw: str) -> str:
    """As people type or paste it: full-width characters, spaces anywhere, lower case."""
    text = unicodedata.normalize("NFKC", str(raw or ""))
    return re.sub(r"\s+", "", text).upper()


def check_character(first17: str) -> str:
    """The 18th character for the first 17 (which must be from ALPHABET)."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def validate(raw: str) -> str:
    """The code, normalised, if it could be a real one.

    :raises RuleError: credit_code_length, credit_code_confusable, credit_code_character,
        credit_code_authority, credit_code_kind, credit_code_area or credit_code_check.
    """
    code = normalize(raw)
    if len(code) != LENGTH:
        raise _fail("length", count=len(code))
    for char in code:
        if char in CONFUSABLE:
            raise _fail("confusable", letter=char, instead=CONFUSABLE[char])
        if char not in _VALUE:
            raise _fail("character", char=char)
    authority, kind, area = code[0], code[1], code[2:8]
    if authority not in AUTHORITIES:
        raise _fail("authority", char=authority)
    if kind not in AUTHORITIES[authority]:
        raise _fail("kind", char=kind, authority=authority)
    if not area.isdigit() or area[:2] not in AREA_PREFIXES:
        raise _fail("area")
    if check_character(code[:17]) != code[17]:
        raise _fail("check")
    return code
