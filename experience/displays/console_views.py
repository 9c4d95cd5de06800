"""The organiser's console (phone-first): screens, playlists, commands.

Every route loads the event with the "run_displays" rule (a refusal is a 404 in the
audit log, like every event page). The rules live in control.py and screens.py; these
views turn a form into a call, commit once, and say what happened. Commands answer JSON
to console.js (the panel updates at once, without a reload) and redirect with a flash to
a plain form post, so the console also works without JavaScript.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from babel.lists import format_list
from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.routing import BuildError

from experience.core import clock
from experience.core.errors import RuleError, wants_json
from experience.core.permissions import client_ip, load
from experience.core.qr import qr_svg
from experience.core.web import apply_rule, beijing, confirm_page, confirmed, public_url, small_int
from experience.displays import bp, control, feed, screens
from experience.displays.forms import ScreenNameForm, scenes_form
from experience.displays.models import DisplayState, Scene, Screen
from experience.events.models import Event
from experience.extensions import db
from experience.ratings.models import Rating
from experience.ratings.services import highlight_candidates, public_name
from experience.works.models import Work

#: what a command did, said to the person who pressed it
DONE = {
    "pause": _l("Paused: the screens stay on what they show."),
    "resume": _l("Resumed: the screens rotate again."),
    "next": _l("The screens move on to the next item."),
    "goto": _l("The screens go to this scene: %(scene)s."),
    "pin": _l("Pinned: the screens show it until you unpin it."),
    "unpin": _l("Unpinned: the screens rotate again."),
    "hide": _l("Hidden on every screen."),
    "show": _l("Shown again on the screens."),
    "blank": _l("Blank: every screen shows the safe slide with the event title."),
    "unblank": _l("The screens show their content again."),
}
LINK_STATES = {
    "active": _l("Link works"),
    "revoked": _l("Link revoked"),
    "expired": _l("Link expired"),
}
VERSION_STATES = {
    "current": _l("Up to date"),
    "behind": _l("Behind"),
    "unknown": _l("Not yet loaded"),
}
#: the approved comments offered to hide or pin on the console: the latest, as on a wall
COMMENTS_SHOWN = feed.COMMENTS_MAX
#: the scene a screen reports while blank (screen.js) is not a Scene
BLANK_SHOWN = "blank"


def _event(event_id: int) -> Event:
    return load(Event, event_id, "run_displays")


def _screen(event: Event, screen_id: int) -> Screen:
    screen = db.session.get(Screen, screen_id)
    if screen is None or screen.event_id != event.id:
        abort(404)
    return screen


def screen_link(screen: Screen) -> str:
    """The absolute link the venue's PC opens (PUBLIC_BASE_URL, like printed QR codes)."""
    try:
        return public_url("displays.screen", token=screen.token)
    except BuildError:  # the screen's own pages are another module's; until they exist
        return public_url("displays.console", event_id=screen.event_id).split("/events/")[0] + f"/s/{screen.token}"


# -- What the console shows ------------------------------------------------------------------


def _labels(event: Event, keys: set[str]) -> dict[str, str]:
    """Items named in words (a work's title, a guest's photo or comment), for the keys
    the display state and the screens' heartbeats mention. Only this event's guests'
    records and its campaign's works are looked up."""
    ids: dict[str, list[int]] = {"work": [], "photo": [], "comment": []}
    for key in keys:
        kind, _sep, ident = key.partition(":")
        if kind in ids and ident.isdigit() and len(ident) <= 10:
            ids[kind].append(int(ident))
    labels = {}
    if ids["work"]:
        for work_id, title in db.session.execute(
            sa.select(Work.id, Work.title).where(Work.id.in_(ids["work"]), Work.campaign_id == event.campaign_id)
        ):
            labels[f"work:{work_id}"] = _("Work: %(title)s", title=title)
    ratings = ids["photo"] + ids["comment"]
    if ratings:
        rows = db.session.scalars(sa.select(Rating).where(Rating.id.in_(ratings), Rating.event_id == event.id))
        for r in rows:
            if r.id in ids["photo"]:
                labels[f"photo:{r.id}"] = _("Guest photo: %(name)s", name=public_name(r))
            if r.id in ids["comment"]:
                text = r.comment if len(r.comment) <= 24 else r.comment[:24] + "…"
                labels[f"comment:{r.id}"] = _("Comment: %(text)s", text=text)
    for key in keys:
        labels.setdefault(key, _("An item no longer shown (%(key)s)", key=key))
    return labels


def _shown_words(shown: str, labels: dict[str, str]) -> str:
    """What a screen said it shows ("works/work:12", "checkin", "blank") in words."""
    if not shown:
        return ""
    scene, _sep, key = shown.partition("/")
    if scene == BLANK_SHOWN:
        words = str(_("Blank slide"))
    else:
        try:
            words = str(Scene(scene).label)
        except ValueError:
            words = scene[:20]
    if key:
        words += " · " + labels.get(key, key)
    return words


def _media_names(event: Event, keys: set[str]) -> dict[str, str]:
    """The items screens could not play, named for "无法播放：…": a work by its title, a
    guest's photo as the console names it elsewhere."""
    names = _labels(event, {k for k in keys if not k.startswith("work:")})
    work_ids = [int(k[5:]) for k in keys if k.startswith("work:") and k[5:].isdigit() and len(k) <= 15]
    if work_ids:
        titles = db.session.execute(
            sa.select(Work.id, Work.title).where(Work.id.in_(work_ids), Work.campaign_id == event.campaign_id)
        )
        names.update({f"work:{work_id}": title for work_id, title in titles})
    for key in keys:
        names.setdefault(key, _("An item no longer shown (%(key)s)", key=key))
    return names


def _cache_words(cache_state: str) -> str:
    """The screen's offline cache as the console says it: "无离线缓存", "离线缓存 12/15"."""
    if cache_state == "none":
        return str(_("No offline cache"))
    cached, sep, total = cache_state.partition("/")
    if not sep:
        return ""
    return str(_("Offline cache %(cached)s/%(total)s", cached=cached, total=total))


def _bad_keys(screen: Screen, version: str) -> list[str]:
    """What the screen could not play, while its report is about the current playlist."""
    return screen.bad_media.split(",") if screen.bad_media and version == "current" else []


def _state_dict(state: DisplayState | None, labels: dict[str, str]) -> dict:
    """The display state as the panel shows it; an event whose screens never got a
    command has no row yet and shows the defaults."""
    hidden = list(state.hidden or []) if state else []
    pinned = state.pinned if state else None
    return {
        "version": state.version if state else 0,
        "content_version": state.content_version if state else 0,
        "paused": bool(state and state.paused),
        "blank": bool(state and state.blank),
        "pinned": {"key": pinned, "label": labels.get(pinned, pinned)} if pinned else None,
        "hidden": [{"key": k, "label": labels.get(k, k)} for k in hidden],
    }


def _screen_dict(
    screen: Screen, state: DisplayState | None, labels: dict[str, str], now: datetime, media: dict[str, str]
) -> dict:
    if screen.shown_version is None:
        version = "unknown"
    elif state is not None and screen.shown_version < state.content_version:
        version = "behind"
    else:
        version = "current"
    link = screens.link_state(screen, now)
    cached, _sep, total = screen.cache_state.partition("/")
    return {
        "id": screen.id,
        "name": screen.name,
        "alive": feed.alive(screen, now),
        "seen_at": beijing(screen.seen_at, "yyyy-MM-dd HH:mm:ss") if screen.seen_at else "",
        "shown": screen.shown,
        "shown_words": _shown_words(screen.shown, labels),
        "version": version,
        "version_words": str(VERSION_STATES[version]),
        "shown_version": screen.shown_version,
        "link": link,
        "link_words": str(LINK_STATES[link]),
        "cache": screen.cache_state,
        "cache_words": _cache_words(screen.cache_state),
        # "none", or cached but not all of it: the mark asks someone to look
        "cache_short": screen.cache_state == "none" or (bool(total) and cached != total),
        "bad": [
            {"key": k, "words": str(_("Cannot play: %(title)s", title=media.get(k, k)))}
            for k in _bad_keys(screen, version)
        ],
        "url": url_for("displays.screen_edit", event_id=screen.event_id, screen_id=screen.id),
    }


def status(event: Event, now: datetime) -> dict:
    """The panel and every screen as they are now: what console.js shows every 3 s."""
    state = db.session.get(DisplayState, event.id)
    all_screens = screens.screens_of(event)
    keys = set(state.hidden or []) if state else set()
    if state and state.pinned:
        keys.add(state.pinned)
    keys |= {s.shown.partition("/")[2] for s in all_screens if "/" in s.shown}
    labels = _labels(event, keys)
    media = _media_names(event, {k for s in all_screens for k in s.bad_media.split(",") if k})
    return {
        "state": _state_dict(state, labels),
        "screens": [_screen_dict(s, state, labels, now, media) for s in all_screens],
    }


# -- The console -----------------------------------------------------------------------------


@bp.route("/events/<int:event_id>/screens", methods=["GET", "POST"])
def console(event_id: int):
    """The console: the commands for every screen of the event, each screen as it is,
    and a form to add a screen."""
    event = _event(event_id)
    now = clock.now()
    form = ScreenNameForm()
    if form.validate_on_submit():
        made = []

        def create():
            made.append(screens.create_screen(event, form.name.data or "", actor=current_user, now=now, ip=client_ip()))

        if apply_rule(create, done=_("Screen added: open its link on the venue's PC."), refused=form.show_refusal):
            return redirect(url_for("displays.screen_edit", event_id=event.id, screen_id=made[0].id))
    hidden = set(db.session.scalar(sa.select(DisplayState.hidden).where(DisplayState.event_id == event.id)) or [])
    comments = highlight_candidates(event)[: COMMENTS_SHOWN + len(hidden)]
    return render_template(
        "displays/console.html",
        event=event,
        status=status(event, now),
        form=form,
        scenes=list(Scene),
        comments=comments,
        hidden=hidden,
        public_name=public_name,
        no_new_screen=screens.no_new_screen(event, now),
    ), (422 if form.errors else 200)


@bp.get("/events/<int:event_id>/screens/status")
def console_status(event_id: int):
    """The panel and the screens as JSON, polled by console.js."""
    event = _event(event_id)
    return jsonify(status(event, clock.now()))


def _with_scene_off(event: Event, scene: str, done: str) -> str:
    """A goto's message, naming the screens it leaves where they are (the scene is off there)."""
    off = [
        s.name
        for s in screens.screens_of(event)
        if s.revoked_at is None and not (s.scenes or {}).get(scene, {}).get("on")
    ]
    if not off:
        return done
    names = format_list([f"“{name}”" for name in off], locale=get_locale())  # “主屏”和“签到处”
    return _("%(done)s The scene is off on %(names)s: those stay as they are.", done=done, names=names)


@bp.post("/events/<int:event_id>/screens/command")
def command(event_id: int):
    """One command to every screen of the event (blank, pause, next, go to a scene, pin,
    hide…). console.js posts it with fetch and gets the panel back as JSON."""
    event = _event(event_id)
    now = clock.now()
    name = request.form.get("name", "")
    item = request.form.get("item") or None
    scene = request.form.get("scene") or None
    refusal: list[RuleError] = []

    def act():
        control.command(event, name, item=item, scene=scene, actor=current_user, now=now, ip=client_ip())

    ok = apply_rule(act, refused=refusal.append)
    if ok:
        params = {"scene": str(Scene(scene).label)} if name == "goto" else {}
        message = str(DONE[name]) % params if params else str(DONE[name])
        if name == "goto":
            message = _with_scene_off(event, scene, message)
    else:
        message = str(refusal[0])
    if wants_json():
        answer = status(event, now)
        answer.update(ok=ok, message=message)
        return jsonify(answer), (200 if ok else 400)
    flash(message, "success" if ok else "error")
    # pressed on a screen's page (pin, hide an item of its playlist): back to that page
    back = db.session.get(Screen, small_int(request.form.get("screen")) or 0)
    if back is not None and back.event_id == event.id:
        return redirect(url_for("displays.screen_edit", event_id=event.id, screen_id=back.id))
    return redirect(url_for("displays.console", event_id=event.id))


# -- One screen ------------------------------------------------------------------------------


#: the screen page's POST actions that change it for good, asked once more first
CONFIRM = {
    "new_link": (
        _l("Make a new link for this screen?"),
        _l("The old link stops working at once: the venue's PC must open the new one."),
        _l("Make a new link"),
    ),
    "revoke": (
        _l("Revoke this screen's link?"),
        _l(
            "The screen stops showing anything of the event at its next sync. This cannot be undone; "
            "make a new screen instead."
        ),
        _l("Revoke the link"),
    ),
}


@bp.route("/events/<int:event_id>/screens/<int:screen_id>", methods=["GET", "POST"])
def screen_edit(event_id: int, screen_id: int):
    """One screen: its name, its link with a QR code, its scenes and its playlist."""
    event = _event(event_id)
    screen = _screen(event, screen_id)
    now = clock.now()
    action = request.form.get("action", "") if request.method == "POST" else ""
    # each form reads the post only when it was the one sent; otherwise it shows the screen
    name_form = ScreenNameForm(formdata=request.form if action == "rename" else None, data={"name": screen.name})
    scene_form = scenes_form(screen.scenes, formdata=request.form if action == "scenes" else None)
    if request.method == "POST":
        back = url_for("displays.screen_edit", event_id=event.id, screen_id=screen.id)
        if screen.revoked_at is not None:  # kept as a record: nothing of it changes any more
            flash(str(screens.MESSAGES["revoked"]), "error")
            return redirect(back)
        rule_args = dict(actor=current_user, now=now, ip=client_ip())
        if action == "rename":
            if name_form.validate() and apply_rule(
                lambda: screens.rename_screen(screen, name_form.name.data or "", **rule_args),
                done=_("Name saved."),
                refused=name_form.show_refusal,
            ):
                return redirect(back)
        elif action == "scenes":
            if scene_form.validate() and apply_rule(
                lambda: screens.set_scenes(screen, scene_form.scenes(), **rule_args),
                done=_("Scenes saved: the screen follows them at its next sync."),
                refused=scene_form.show_refusal,
            ):
                return redirect(back)
        elif action in CONFIRM:
            return _link_action(screen, action, back, rule_args)
        elif action in PLAYLIST_ACTIONS:
            PLAYLIST_ACTIONS[action](screen, rule_args)
            return redirect(back + "#playlist")
        else:
            abort(400)
    return _screen_page(event, screen, now, name_form, scene_form)


def _link_action(screen: Screen, action: str, back: str, rule_args: dict):
    """A new link, or the link revoked: each asked once more, since the old link stops."""
    if not confirmed():
        question, explain, button = CONFIRM[action]
        return confirm_page(str(question), explain=str(explain), button=str(button), back=back, danger=True)
    if action == "new_link":
        apply_rule(lambda: screens.new_link(screen, **rule_args), done=_("New link made: open it on the venue's PC."))
    else:
        apply_rule(lambda: screens.revoke_screen(screen, **rule_args), done=_("Link revoked."))
    return redirect(back)


def _add_items(screen: Screen, rule_args: dict) -> None:
    keys = request.form.getlist("item")
    if not keys:
        flash(_("Tick the items to add first."), "error")
        return
    added = []
    if apply_rule(lambda: added.append(screens.add_items(screen, keys, **rule_args))):
        flash(_("%(n)d items added to the playlist.", n=added[0]), "success")


def _posted_item_id() -> int:
    item_id = small_int(request.form.get("item_id"))
    if item_id is None:
        abort(400)
    return item_id


def _remove_item(screen: Screen, rule_args: dict) -> None:
    item_id = _posted_item_id()
    apply_rule(lambda: screens.remove_item(screen, item_id, **rule_args), done=_("Removed from the playlist."))


def _move(offset: int):
    def move(screen: Screen, rule_args: dict) -> None:
        item_id = _posted_item_id()
        apply_rule(lambda: screens.move_item(screen, item_id, offset, **rule_args))

    return move


PLAYLIST_ACTIONS = {"add": _add_items, "remove": _remove_item, "up": _move(-1), "down": _move(1)}


def _screen_page(event: Event, screen: Screen, now: datetime, name_form, scene_form):
    link_state = screens.link_state(screen, now)
    can_show = screens.available(event, now)
    state = db.session.get(DisplayState, event.id)
    in_playlist = {i.key for i in screen.items}
    playlist = []
    for item in screen.items:
        if item.work_id is not None:
            work = can_show.works.get(item.work_id)
            playlist.append((item, work, None))
        else:
            playlist.append((item, None, can_show.photos.get(item.rating_id)))
    missing_titles = _labels(event, {i.key for i, w, p in playlist if w is None and p is None})
    link = screen_link(screen) if link_state == "active" else ""
    errors = bool(name_form.errors or scene_form.errors)
    return render_template(
        "displays/screen_edit.html",
        event=event,
        screen=screen,
        link_state=link_state,
        link_words=LINK_STATES[link_state],
        link=link,
        qr=qr_svg(link) if link else "",
        expires_at=screens.link_expires_at(event),
        name_form=name_form,
        scene_form=scene_form,
        playlist=playlist,
        missing_titles=missing_titles,
        works=[w for w in can_show.works.values() if f"work:{w.id}" not in in_playlist],
        photos=[p for p in can_show.photos.values() if p.key not in in_playlist],
        pinned=state.pinned if state else None,
        hidden=set(state.hidden or []) if state else set(),
        read_only=link_state == "revoked",
    ), (422 if errors else 200)
