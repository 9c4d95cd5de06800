"""The screens' poll answered before Flask's request machinery.

Every screen asks ``GET /s/<token>/sync`` every 1.5 seconds; 200 screens make 133 polls
a second, all day, beside the check-ins. Through Flask each poll paid for a request
context, URL matching, the limiter's storage read, the login and session machinery and
the security headers' rebuilding: about 2 ms of CPU for a one-row read. This WSGI
middleware answers a live screen's poll itself with the same rule (``feed.sync``, in an
app context, so the same session, engine and clock) and the same answer as the Flask
view ``screen_views.sync``; anything else — an unknown, revoked or expired token, a
database error, another path — goes on to Flask unchanged, where the view answers it,
the failure budget counts it and errors are handled as everywhere else.

An address that has spent its failure budget on bad tokens is left to the view (a 429
for a live token too, as everywhere): one read of the limits store per poll, without
the rest of Flask-Limiter's request handling.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

import sqlalchemy as sa

from experience.core import clock
from experience.core.ratelimit import budget_spent
from experience.core.web import small_int
from experience.displays import feed
from experience.extensions import db

SYNC_PATH = re.compile(r"/s/([A-Za-z0-9_-]{16,32})/sync")


class ScreenPolls:
    """WSGI middleware: ``app.wsgi_app = ScreenPolls(app, app.wsgi_app)``."""

    def __init__(self, app, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app
        # what the app's own answers carry (flask-talisman), fixed for a JSON answer
        self.headers = [
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "same-origin"),
            ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
        ]
        if app.config.get("SESSION_COOKIE_SECURE"):
            self.headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET":
            found = SYNC_PATH.fullmatch(environ.get("PATH_INFO", ""))
            if found:
                answered = self.poll(found.group(1), environ, start_response)
                if answered is not None:
                    return answered
        return self.wsgi_app(environ, start_response)

    def poll(self, token: str, environ, start_response):
        args = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=10)
        shown = (args.get("shown") or [""])[0]
        shown_version = small_int((args.get("sv") or [None])[0])
        agent = environ.get("HTTP_USER_AGENT", "")
        with self.app.app_context():
            if budget_spent("token", environ.get("REMOTE_ADDR", "")):
                return None
            try:
                answer = feed.sync(token, clock.now(), shown=shown, shown_version=shown_version, agent=agent)
                db.session.commit()
            except sa.exc.SQLAlchemyError:
                db.session.rollback()
                return None  # the Flask view tries again, and answers whatever happens
        if answer is None:
            return None  # a dead link: the view answers 410 and counts an unknown token
        version, state = answer
        etag = f'"{version}"'
        headers = [("ETag", etag), *self.headers]
        if etag in environ.get("HTTP_IF_NONE_MATCH", ""):
            start_response("304 Not Modified", headers)
            return [b""]
        body = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode()
        start_response("200 OK", [*headers, ("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
