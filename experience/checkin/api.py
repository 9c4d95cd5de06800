"""The scanner API's protocol: what a request must carry and what it is answered.

Shared by the Flask view (``views.api_check_in``, which answers every request) and the
fast path (``checkin.fastpath``, which answers the well-formed ones before Flask), so that
both speak exactly the same protocol.
"""

from __future__ import annotations

import hashlib

from experience.checkin import services
from experience.core import clock
from experience.core.web import beijing
from experience.events.models import GuestCategory
from experience.guests.models import CheckInVia

PATH = "/api/v1/checkins"

#: a scanner's token may check in this many guests a minute (Flask-Limiter's notation)
RATE = "6000 per minute"

#: the Flask endpoint whose limit ``RATE`` is: the fast path counts in the same bucket
ENDPOINT = "checkin.api_check_in"

#: the largest body a scan needs (a code, a nonce) with room to spare
MAX_BODY = 4096

#: HTTP status of each answer in the API (and of the phone pages where it matters)
STATUS = {"ok": 201, "already_checked_in": 200, "unknown": 404, "not_open": 409, "wrong_event": 409, "revoked": 409}


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    header = header or ""
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def token_rate_key(bearer: str | None, ip: str | None) -> str:
    """The API's rate-limit key: a digest of the bearer token, never the token itself,
    which would otherwise sit in the limits store (a file, or Redis) for anyone reading it."""
    if bearer:
        return "token:" + hashlib.sha256(bearer.encode()).hexdigest()[:32]
    return "token-ip:" + (ip or "")[:64]


def scan_request(data) -> tuple[str, str | None] | str:
    """The code and nonce of a parsed JSON body, or what is wrong with it (the 400's message)."""
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        return 'expected {"code": "...", "nonce": "..."}'
    nonce = data.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not 1 <= len(nonce) <= 64 or not nonce.isprintable()):
        return "nonce: a string of 1 to 64 characters"
    return data["code"][:500], nonce


def check_in(code: str, nonce: str | None, token: services.TokenInfo, ip: str) -> services.ScanResult:
    """The scan of a well-formed request with a live token: decided, written, committed."""
    return services.scan(
        code, via=CheckInVia.API, now=clock.now(), scanner_event_id=token.event_id, token=token, nonce=nonce, ip=ip
    )


def answer(result: services.ScanResult, event_id: int | None) -> tuple[dict, int]:
    """The JSON body and status, built from what the scan decided (its guest, the scanner's
    event): no read of its own on the common path."""
    body = {"result": result.result}
    if result.checked_in_at and result.result in ("ok", "already_checked_in"):
        body["checked_in_at"] = clock.aware(result.checked_in_at).isoformat()
    if result.guest_name is not None and result.result in ("ok", "already_checked_in"):
        category = GuestCategory(result.guest_category)
        body["guest"] = {"name": result.guest_name, "category": category.value, "category_label": str(category.label)}
    window = services.event_window(result.event_id or event_id) if (result.event_id or event_id) else None
    body["message"] = services.message(result, window, beijing)
    if result.replay:
        body["replayed"] = True
    return body, STATUS.get(result.result, 409)
