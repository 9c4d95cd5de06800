"""A live screen's poll is answered before Flask's request machinery, with the answer
the Flask view gives; everything else reaches the view."""

from __future__ import annotations

import json

from flask import request_started
from werkzeug.test import Client

from experience.core.fastpath import innermost
from experience.displays import control
from experience.displays.fastpath import ScreenPolls
from experience.extensions import db
from tests.displays.conftest import DURING


def through_flask(app) -> Client:
    """A client of the app without the fast path: the view itself answers."""
    assert isinstance(app.wsgi_app, ScreenPolls)
    return Client(innermost(app.wsgi_app))


def test_the_fast_path_answers_like_the_view_without_flask(app, client, event, screen, staff):
    app.config["FROZEN_NOW"] = DURING
    flask_requests = []
    request_started.connect(lambda sender, **kw: flask_requests.append(1), app, weak=False)
    fast = client.get(f"/s/{screen.token}/sync?shown=welcome&sv=1")
    assert flask_requests == []  # Flask never saw it
    slow = through_flask(app).get(f"/s/{screen.token}/sync?shown=welcome&sv=1")
    assert flask_requests == [1]
    assert (fast.status_code, slow.status_code) == (200, 200)
    assert json.loads(fast.get_data()) == json.loads(slow.get_data())
    for header in ("ETag", "Cache-Control", "X-Content-Type-Options", "Content-Type"):
        assert fast.headers[header] == slow.headers[header], header
    etag = fast.headers["ETag"]
    assert client.get(f"/s/{screen.token}/sync", headers={"If-None-Match": etag}).status_code == 304
    control.command(event, "blank", actor=staff, now=DURING)
    db.session.commit()
    changed = client.get(f"/s/{screen.token}/sync", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json["blank"] is True
    assert flask_requests == [1]


def test_a_dead_link_and_other_paths_reach_flask(app, client, event, screen, staff):
    app.config["FROZEN_NOW"] = DURING
    flask_requests = []
    request_started.connect(lambda sender, **kw: flask_requests.append(1), app, weak=False)
    assert client.get("/s/AAAAAAAAAAAAAAAAAAAAAA/sync").status_code == 410  # unknown: the view counts it
    assert client.get(f"/s/{screen.token}/content").status_code == 200
    assert client.post(f"/s/{screen.token}/sync").status_code == 405
    assert len(flask_requests) == 3


def test_live_figures_computed_lately_are_answered_before_flask(app, client, event, screen, staff, rate):
    app.config["FROZEN_NOW"] = DURING
    rate(event, "讲解很清楚")
    flask_requests = []
    request_started.connect(lambda sender, **kw: flask_requests.append(1), app, weak=False)
    first = client.get(f"/s/{screen.token}/live")  # computed by the view, kept a few seconds
    again = client.get(f"/s/{screen.token}/live")
    assert flask_requests == [1]
    assert first.json == again.json and again.json["comments"][0]["text"] == "讲解很清楚"
    assert again.headers["Cache-Control"] == "no-store"
    hidden = again.json["comments"][0]["key"]
    control.command(event, "hide", item=hidden, actor=staff, now=DURING)  # a new version: computed anew
    db.session.commit()
    assert client.get(f"/s/{screen.token}/live").json["comments"] == []
    assert flask_requests == [1, 1]


def test_a_query_no_screen_sends_is_left_to_the_view(app, client, event, screen):
    app.config["FROZEN_NOW"] = DURING
    many = "&".join(f"f{n}=1" for n in range(20))
    assert client.get(f"/s/{screen.token}/sync?{many}").status_code == 200
