"""Answers made before Flask's request machinery, for the few requests that come by the
hundred a second: a screen's poll (displays.fastpath) and a scanner's check-in
(checkin.fastpath).

Through Flask each such request pays for a request context, URL matching, the session,
the limiter's and the security headers' request handling: more CPU than the one row it
reads or writes. A fast path is WSGI middleware that recognises its request, answers it
with the same rules and the same answer as its Flask view (shared code, not a copy), and
hands everything else to Flask untouched: any request it is not sure of (malformed, an
unknown or revoked token, a limit reached, a database error before anything was
written) goes on to the view, which answers it as everywhere else.
"""

from __future__ import annotations

import json


class FastPath:
    """``app.wsgi_app = Subclass(app, app.wsgi_app)``; a subclass says which requests it
    takes (``match``) and answers them (``answer``: an iterable, or None for Flask)."""

    def __init__(self, app, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app
        self.headers = json_headers(app)

    def __call__(self, environ, start_response):
        found = self.match(environ)
        if found is not None:
            answered = self.answer(found, environ, start_response)
            if answered is not None:
                return answered
        return self.wsgi_app(environ, start_response)

    def match(self, environ):
        raise NotImplementedError

    def answer(self, found, environ, start_response):
        raise NotImplementedError

    def json(self, data, start_response, *, status: str = "200 OK", headers: list | tuple = ()):
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        start_response(
            status,
            [*headers, *self.headers, ("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]


def json_headers(app) -> list[tuple[str, str]]:
    """What the app's own JSON answers carry (flask-talisman's headers, the CSP of a
    document that loads nothing), fixed once: they depend on the configuration alone."""
    headers = [
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
        ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
        ("Permissions-Policy", "browsing-topics=()"),
    ]
    if app.config.get("SESSION_COOKIE_SECURE"):
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return headers


def innermost(wsgi_app):
    """Flask's own WSGI app under every fast path (tests ask the views themselves)."""
    while isinstance(wsgi_app, FastPath):
        wsgi_app = wsgi_app.wsgi_app
    return wsgi_app
