"""Chinese phone numbers as people type them: full-width digits, +86, dashes, spaces."""

from __future__ import annotations

import re
import unicodedata

_MOBILE = re.compile(r"1[3-9]\d{9}")


def normalize_phone(raw: str) -> str | None:
    """A mobile as 11 digits, a landline as ``010-82260862`` (``-123`` extension kept);
    ``None`` when it is neither. Full-width characters and ``+86``/``86-`` prefixes are fine.
    """
    text = unicodedata.normalize("NFKC", str(raw or "")).strip()
    text = re.sub(r"[\s()（）]", "", text)
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    elif re.match(r"86[-\s]?1", text) and len(re.sub(r"\D", "", text)) == 13:
        text = text[2:]
    text = text.lstrip("-")
    digits = re.sub(r"[-—–]", "", text)
    if _MOBILE.fullmatch(digits):
        return digits
    landline = re.sub(r"[—–]", "-", text)
    main, _, ext = landline.partition("转")
    parts = main.split("-")
    if len(parts) >= 3 and not ext:
        main, ext = "-".join(parts[:2]), parts[2]
    compact = main.replace("-", "")
    m = re.fullmatch(r"(0\d{2,3})(\d{7,8})", compact)
    if not m or (ext and not re.fullmatch(r"\d{1,6}", ext)):
        return None
    area, number = m.groups()
    # 010 and 02X are 3-digit area codes with 8-digit numbers; others are 4 + 7/8.
    if area.startswith(("01", "02")) and len(area) == 4:
        area, number = area[:3], area[3:] + number
        if len(number) > 8:
            return None
    result = f"{area}-{number}"
    return f"{result}-{ext}" if ext else result


def mask_phone(phone: str | None) -> str:
    """138****1234 for a mobile; the middle of a landline number hidden likewise."""
    if not phone:
        return ""
    digits = phone.replace("-", "")
    if len(digits) <= 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"
