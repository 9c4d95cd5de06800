"""The screens' polls answered before Flask's request machinery.

Every screen asks ``GET /s/<token>/sync`` every 1.5 seconds and ``/live`` every 5 seconds
while it shows live figures; 200 screens make about 160 requests a second, all day,
beside the check-ins. Through Flask each paid for a request context, URL matching, the
limiter's request handling, the login and session machinery and the headers' rebuilding:
more CPU than the one-row read it asks for. This WSGI middleware answers a live screen's
poll itself with the same rule (``feed.poll`` on a Core connection, in an app context for
the engine and the clock) and the same answer as the Flask views
(``screen_views.sync``, ``screen_views.live``). Anything else goes on to Flask unchanged,
where the views answer it, the failure budget counts it and errors are handled as
everywhere else: an unknown, revoked or expired token, live figures this process has not
computed in the last seconds, a database error, another path.

An address that has spent its failure budget on bad tokens is left to the views too (a
429 for a live token as well, as everywhere): one read of the limits store per request,
without the rest of Flask-Limiter's request handling.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import sqlalchemy as sa

from experience.core import clock
from experience.core.fastpath import FastPath
from experience.core.ratelimit import budget_spent
from experience.core.web import small_int
from experience.displays import feed
from experience.extensions import db

PATH = re.compile(r"/s/([A-Za-z0-9_-]{16,32})/(sync|live)")


class ScreenPolls(FastPath):
    """WSGI middleware: ``app.wsgi_app = ScreenPolls(app, app.wsgi_app)``."""

    def match(self, environ):
        if environ.get("REQUEST_METHOD") == "GET":
            found = PATH.fullmatch(environ.get("PATH_INFO", ""))
            return found.groups() if found else None
        return None

    def answer(self, found, environ, start_response):
        token, what = found
        try:
            args = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=10)
        except ValueError:
            return None  # a query no screen sends: the view answers it
        with self.app.app_context():
            if budget_spent("token", environ.get("REMOTE_ADDR", "")):
                return None
            try:
                with db.engine.connect() as conn:
                    if what == "live":
                        figures = feed.cached_live_for(conn, token, clock.now())
                        return None if figures is None else self.json(figures, start_response)
                    polled = self.poll(conn, token, args, environ)
                    conn.commit()  # the heartbeat, when one was due
            except sa.exc.SQLAlchemyError:
                return None  # the view tries again, and answers whatever happens
        if polled is None:
            return None  # a dead link: the view answers 410 and counts an unknown token
        row, state = polled
        etag = f'"{row.version}"'
        if etag in environ.get("HTTP_IF_NONE_MATCH", ""):
            start_response("304 Not Modified", [("ETag", etag), *self.headers])
            return [b""]
        return self.json(state, start_response, headers=[("ETag", etag)])

    @staticmethod
    def poll(conn, token: str, args: dict, environ):
        return feed.poll(
            conn,
            token,
            clock.now(),
            shown=(args.get("shown") or [""])[0],
            shown_version=small_int((args.get("sv") or [None])[0]),
            agent=environ.get("HTTP_USER_AGENT", ""),
            cache=(args.get("cache") or [None])[0],
            bad=(args.get("bad") or [None])[0],
        )
