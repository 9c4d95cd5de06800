"""What a screen opens with its secret link, and the protocol it speaks (feed.py).

No login, no session, no cookie: the token in the path is the screen's only credential.
A token that matches no screen spends the address's failure budget (shared with the
scanner tokens, core.ratelimit), so guessing stays bounded; a known token costs no
limiter write at all, which matters on ``sync``: 200 screens poll it every 1.5 s.

No ``@limiter.exempt`` on these routes: the app has no default limits to escape, and in
Flask-Limiter 4 exempting a route drops its decorated limits too, the failure budget
among them (the budget would then never refuse a guesser).
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache

import sqlalchemy as sa
from flask import Response, abort, current_app, jsonify, render_template, request, send_from_directory, url_for

from experience.core import clock, files, uploads
from experience.core.ratelimit import failure_budget, lookup_failed
from experience.core.web import public, small_int
from experience.displays import bp, feed, screens
from experience.displays.models import Screen
from experience.extensions import db

#: what core.tokens.new_code makes: anything else is refused without a query
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,32}")


def _json_429(minutes: int):
    return Response(
        f'{{"error": "too_many_requests", "retry_in_minutes": {minutes}}}',
        status=429,
        mimetype="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _screen_budget():
    """The failure budget for the screen's JSON routes: a 429 in JSON, not a page."""
    return failure_budget("token", answer=_json_429)


def _known(token: str) -> bool:
    """Whether the token names a screen (a revoked or expired one too). Only asked after a
    refusal, so a live screen never pays for it."""
    if not _TOKEN.fullmatch(token):
        return False
    return db.session.scalar(sa.select(Screen.id).where(Screen.token == token)) is not None


def _dead(token: str) -> None:
    """Record a refused token: an unknown one spends the budget, a revoked one was real."""
    if not _known(token):
        lookup_failed()


def _gone_json(token: str):
    _dead(token)
    return Response('{"gone": true}', status=410, mimetype="application/json", headers={"Cache-Control": "no-store"})


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _active(token: str) -> Screen | None:
    return feed.screen_for(token, clock.now()) if _TOKEN.fullmatch(token) else None


#: the page's own files, versioned by their content (``?v=``): the offline cache keeps the
#: script and style that go with the page it keeps, and copies them forward between playlist
#: versions only while they are the same bytes
SHELL_FILES = ("displays/screen.js", "displays/screen.css")


@lru_cache(maxsize=8)
def _content_tag(path: str, mtime_ns: int, size: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def shell_url(filename: str) -> str:
    """The static file's address with ``?v=`` its content's hash: hashed once per version of
    the file (keyed on its modification time), not on each request."""
    path = os.path.join(current_app.static_folder, filename)
    stat = os.stat(path)
    return url_for("static", filename=filename, v=_content_tag(path, stat.st_mtime_ns, stat.st_size))


def link_expires_ms(screen: Screen) -> int:
    """When the screen's link stops working (the event's end + LINK_HOURS_AFTER_END), in
    epoch milliseconds: the service worker deletes the screen's caches past it even if no
    page of the screen runs again to hear a 410."""
    return int(clock.aware(screens.link_expires_at(screen.event)).timestamp() * 1000)


@bp.get("/s/<token>")
@public
@failure_budget("token")
def screen(token: str):
    """The page a venue PC opens: an empty stage; screen.js fills it from the feed."""
    screen = _active(token)
    if screen is None:
        known = _known(token)
        if not known:
            lookup_failed()
        # nothing of the event: a dead link says only that it no longer works
        return _no_store(Response(render_template("displays/gone.html"), status=410 if known else 404))
    page = render_template(
        "displays/screen.html",
        urls={
            "sync": url_for("displays.sync", token=token),
            "content": url_for("displays.content", token=token),
            "live": url_for("displays.live", token=token),
            "manifest": url_for("displays.manifest", token=token),
            "worker": url_for("displays.service_worker"),
        },
        shell={"js": shell_url(SHELL_FILES[0]), "css": shell_url(SHELL_FILES[1])},
        # the Cache Storage caches of this screen are named "screen-<token>-<version>"
        cache_prefix=f"screen-{token}-",
        link_expires=link_expires_ms(screen),
    )
    return _no_store(Response(page, mimetype="text/html"))


@bp.get("/s/sw.js")
@public
def service_worker():
    """The screens' service worker (static/displays/sw.js), served from /s/ so that its
    scope covers every screen's page. ``no-cache``: a new version reaches the screens at
    their next load, not a day later."""
    response = send_from_directory(current_app.static_folder, "displays/sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/s/<token>/sync")
@public
@_screen_budget()
def sync(token: str):
    """The poll: the screen's heartbeat, and 304 until the display state changes. A live
    screen's poll is answered before Flask by displays.fastpath with the same rule; this
    view answers the rest (dead links, a spent budget) and the tests' direct calls."""
    if not _TOKEN.fullmatch(token):
        return _gone_json(token)
    # feed.poll writes a due heartbeat in a transaction of its own (SQLite: a reader
    # cannot become a writer once another writer committed after it began)
    polled = feed.poll(
        db.session,
        token,
        clock.now(),
        shown=request.args.get("shown", ""),
        shown_version=small_int(request.args.get("sv")),
        agent=request.headers.get("User-Agent", ""),
        cache=request.args.get("cache"),
        bad=request.args.get("bad"),
    )
    db.session.commit()
    if polled is None:
        return _gone_json(token)
    version, state = polled[0].version, polled[1]
    etag = f'"{version}"'
    headers = {"ETag": etag, "Cache-Control": "no-store"}
    if etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers=headers)
    return Response(current_app.json.dumps(state), mimetype="application/json", headers=headers)


@bp.get("/s/<token>/content")
@public
@_screen_budget()
def content(token: str):
    """What the screen plays: the welcome, its scenes and its playlist."""
    screen = _active(token)
    if screen is None:
        return _gone_json(token)
    return _no_store(jsonify(feed.content(screen, clock.now())))


@bp.get("/s/<token>/manifest")
@public
@_screen_budget()
def manifest(token: str):
    """What the screen keeps for playing offline, for its playlist version ``cv``: the
    playlist's media (their ``?v=`` addresses: the same bytes for ever) and the page's
    own files; and ``expires``, when the link stops working (epoch ms), past which the
    service worker deletes what it kept."""
    screen = _active(token)
    if screen is None:
        return _gone_json(token)
    plays = feed.content(screen, clock.now())
    return _no_store(jsonify(cv=plays["cv"], urls=offline_urls(token, plays), expires=link_expires_ms(screen)))


def offline_urls(token: str, plays: dict) -> list[str]:
    """The page, its script and style, then each item's media, each address once."""
    urls = [url_for("displays.screen", token=token), *(shell_url(f) for f in SHELL_FILES)]
    for item in plays["items"]:
        if item["kind"] == "video":
            urls += [u for u in (item.get("poster"), item["url"]) if u]
        elif item["kind"] == "photos":
            urls += [p["url"] for p in item["photos"]]
        elif item["kind"] == "guest_photo":
            urls.append(item["url"])
    return list(dict.fromkeys(urls))


@bp.get("/s/<token>/live")
@public
@_screen_budget()
def live(token: str):
    """The live figures: check-in counts, approved comments, ratings' averages."""
    screen = _active(token)
    if screen is None:
        return _gone_json(token)
    return _no_store(jsonify(feed.live(screen)))


@bp.get("/s/<token>/photos/<int:rating_id>")
@public
@failure_budget("token")
def guest_photo(token: str, rating_id: int):
    """A guest's approved photo on this screen's playlist; 404 for anything else.
    ``no-store``: the screen's Cache Storage is its offline copy, under the worker's rules
    (deleted with the link); the browser's HTTP cache must not keep a guest's photo for a
    year beside it."""
    screen = _active(token)
    if screen is None:
        _dead(token)
        abort(404)
    key = feed.guest_photo_key(screen, rating_id)
    if key is None:
        abort(404)
    response = files.serve(key, mimetype=uploads.mimetype_of(key))
    response.headers["Cache-Control"] = "no-store"
    return response
