"""A scanner's check-in answered before Flask's request machinery.

Scanners at a venue's gates post ``/api/v1/checkins`` by the hundred a second at the
opening hour. Through Flask a scan cost three times what its database work costs (the
request context, URL matching, the session, Flask-Limiter's and flask-talisman's request
handling: ``bench/profile_api.py``). This middleware answers a well-formed scan of a live
token itself, with the same steps as the view (``views.api_check_in``) in the same order:

1. the address has not spent its failure budget on unknown tokens (read, not spent);
2. the token is known and not revoked (``services.token_info``, kept 5 s);
3. one hit on the token's rate limit, in the very bucket Flask-Limiter counts the view's
   requests in (same limit, key and scope), so that fast and slow requests share it;
4. ``services.scan`` decides, writes and commits the scan before the answer is made;
5. ``api.answer`` makes the answer, with Flask-Limiter's rate-limit headers.

Anything else goes on to the view, which answers it as it always has: a body that is
not a small JSON object of the right shape, a request with a cookie (a browser: the
view's session and language apply), an unknown or revoked token (the view spends the
budget and answers 401), a spent budget or a reached limit (the view answers 429; the
limit then counts that request twice, which changes nothing once it is reached), and a
database error before the scan committed (rolled back: the view tries again).
"""

from __future__ import annotations

import io
import json
import time

import sqlalchemy as sa
from flask import current_app, g
from limits import parse as parse_limit

from experience.checkin import api, services
from experience.core.fastpath import FastPath
from experience.core.ratelimit import budget_spent
from experience.core.web import read_phase
from experience.extensions import db, limiter

STATUS_LINES = {201: "201 Created", 200: "200 OK", 404: "404 Not Found", 409: "409 Conflict"}


class ScannerCheckIns(FastPath):
    """WSGI middleware: ``app.wsgi_app = ScannerCheckIns(app, app.wsgi_app)``."""

    def __init__(self, app, wsgi_app):
        super().__init__(app, wsgi_app)
        self.rate = parse_limit(api.RATE)

    def match(self, environ):
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or environ.get("PATH_INFO") != api.PATH
            or "HTTP_COOKIE" in environ
            or environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != "application/json"
        ):
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if not 0 < length <= api.MAX_BODY:
            return None
        body = environ["wsgi.input"].read(length)
        # the view reads the body again if it answers after all
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            parsed = api.scan_request(json.loads(body))
        except (ValueError, RecursionError):
            return None
        return None if isinstance(parsed, str) else parsed

    def answer(self, found, environ, start_response):
        code, nonce = found
        bearer = api.bearer(environ.get("HTTP_AUTHORIZATION"))
        address = environ.get("REMOTE_ADDR", "")
        with self.app.app_context():
            g.writes = True  # like a POST through Flask: a transaction outside read_phase writes
            if not bearer or budget_spent("token", address):
                return None
            try:
                with read_phase():
                    token = services.token_info(bearer)
                if token is None or token.revoked:
                    return None
                bucket = self.bucket(bearer, address)
                if limiter.enabled and not limiter.limiter.hit(self.rate, *bucket):
                    return None
                result = api.check_in(code, nonce, token, address)
            except (sa.exc.SQLAlchemyError, limiter.storage.base_exceptions):
                db.session.rollback()
                return None  # nothing committed: the view tries again, and answers whatever happens
            # the scan is committed: from here on, this answers whatever happens
            with read_phase():
                body, status = api.answer(result, token.event_id)
            return self.json(body, start_response, status=STATUS_LINES[status], headers=self.limit_headers(bucket))

    def bucket(self, bearer: str, address: str) -> list[str]:
        """Where Flask-Limiter counts the view's requests: (prefix,) key, scope."""
        prefix = current_app.config.get("RATELIMIT_KEY_PREFIX")
        return [*([prefix] if prefix else []), api.token_rate_key(bearer, address), api.ENDPOINT]

    def limit_headers(self, bucket: list[str]) -> list[tuple[str, str]]:
        """Flask-Limiter's headers (RATELIMIT_HEADERS_ENABLED), as it writes them."""
        if not (limiter.enabled and current_app.config.get("RATELIMIT_HEADERS_ENABLED")):
            return []
        try:
            reset, remaining = limiter.limiter.get_window_stats(self.rate, *bucket)
        except limiter.storage.base_exceptions:
            return []  # the scan is committed: answer it without them
        reset_at = int(reset + 1)
        return [
            ("X-RateLimit-Limit", str(self.rate.amount)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", str(reset_at)),
            ("Retry-After", str(int(reset_at - time.time()))),
        ]
