"""What a screen receives: its heartbeat, the state it follows, the live figures."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import sqlalchemy as sa

from experience.displays import control, feed, screens
from experience.displays.models import Screen
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests.models import Guest
from experience.ratings.models import Display, Score
from experience.ratings.services import dimensions, highlight_candidates, submit_rating
from tests.displays.conftest import DURING


def seen(screen):
    db.session.expire_all()
    s = db.session.get(Screen, screen.id)
    return s.seen_at, s.shown


def test_a_sync_answers_the_state_and_writes_the_heartbeat_only_now_and_then(event, screen, staff):
    version, answer = feed.sync(screen.token, DURING, shown="welcome", shown_version=1, agent="Chrome")
    db.session.commit()
    assert answer["v"] == version and answer["blank"] is False and answer["sync_ms"] == 1500
    assert seen(screen) == (DURING, "welcome")
    later = DURING + timedelta(seconds=feed.HEARTBEAT_WRITE_SECONDS - 1)
    feed.sync(screen.token, later, shown="welcome", shown_version=1)
    db.session.commit()
    assert seen(screen) == (DURING, "welcome")  # nothing new to say: no write
    feed.sync(screen.token, later, shown="works/work:3", shown_version=1)
    db.session.commit()
    assert seen(screen) == (later, "works/work:3")  # what it shows changed: written at once
    latest = later + timedelta(seconds=feed.HEARTBEAT_WRITE_SECONDS)
    feed.sync(screen.token, latest, shown="works/work:3", shown_version=1)
    db.session.commit()
    assert seen(screen)[0] == latest
    assert feed.alive(db.session.get(Screen, screen.id), latest + timedelta(seconds=feed.ALIVE_SECONDS - 1))
    assert not feed.alive(db.session.get(Screen, screen.id), latest + timedelta(seconds=feed.ALIVE_SECONDS))


def test_a_command_changes_the_version_a_screen_sees(event, screen, staff):
    version, _ = feed.sync(screen.token, DURING)
    control.command(event, "blank", actor=staff, now=DURING)
    db.session.commit()
    new, answer = feed.sync(screen.token, DURING)
    assert new > version and answer["blank"] is True
    assert feed.sync("not-a-token", DURING) is None


def test_live_counts_by_category_and_only_approved_unhidden_comments(event, screen, staff, make_guest, rate):
    for _ in range(3):
        make_guest(event).checked_in_at = DURING
    make_guest(event, category=GuestCategory.MEDIA)  # invited, not there yet
    db.session.commit()
    named = rate(event, "非常专业", display=Display.NAME, name="李四", phone="13912345678")
    by_category = rate(event, "第一次了解服务认证")
    rate(event, "还没审核", approved=False)
    rate(event, "不愿公开", display=Display.NONE)
    hidden = rate(event, "被隐藏")
    control.command(event, "hide", item=f"comment:{hidden.id}", actor=staff, now=DURING)
    db.session.commit()
    live = feed.live(screen)
    assert live["checked_in"] == 8 and live["expected"] == 12  # 3 + the 5 raters; 10 consumers + 2 media
    assert [(c["checked_in"], c["expected"]) for c in live["categories"]] == [(8, 10), (0, 2)]  # consumers, media
    assert {c["text"] for c in live["comments"]} == {"第一次了解服务认证", "非常专业"}
    names = {c["text"]: c["name"] for c in live["comments"]}
    assert names["非常专业"] == "李四"
    assert "李四" not in names["第一次了解服务认证"]
    assert "13912345678" not in str(live) and "8765" not in str(live)
    assert f"comment:{named.id}" in {c["key"] for c in live["comments"]}
    assert f"comment:{by_category.id}" in {c["key"] for c in live["comments"]}


def test_the_wall_shows_the_newest_approval_first_and_one_order_for_those_approved_together(event, screen, rate):
    """Approved in one batch, comments share their approval time: the later rating comes
    first, the same on every poll and on every database (PostgreSQL's ties change)."""
    first, second, third = (rate(event, text) for text in ("第一条", "第二条", "第三条"))
    first.comment_approved_at = DURING + timedelta(minutes=1)  # approved on its own, later
    db.session.commit()
    assert [c["text"] for c in feed.live(screen)["comments"]] == ["第一条", "第三条", "第二条"]


def test_the_console_lists_comments_and_photos_approved_together_newest_rating_first(event, rate):
    ratings = [rate(event, text) for text in ("第一条", "第二条", "第三条")]
    assert [r.comment for r in highlight_candidates(event)] == ["第三条", "第二条", "第一条"]
    for r in ratings:
        r.photo_key = r.photo_web_key = f"rating-{r.id}-web.jpg"
        r.photo_consent, r.photo_approved_at = True, DURING
    db.session.commit()
    assert [p.rating_id for p in screens.approved_photos(event)] == [r.id for r in reversed(ratings)]


def test_a_guest_changing_an_approved_comment_takes_it_off_the_wall_at_once(event, screen, staff, rate):
    rating = rate(event, "讲解很清楚")
    assert [c["text"] for c in feed.live(screen)["comments"]] == ["讲解很清楚"]
    version = control.state_of(event.id).version
    stars = {d.id: 4 for d in dimensions(event.campaign_id)}
    submit_rating(rating.guest, stars=stars, comment="改成了别的话", display=rating.display, now=DURING)
    db.session.commit()
    assert control.state_of(event.id).version > version  # the figures kept per version are not served again
    assert feed.live(screen)["comments"] == []  # the new text waits for approval


def test_the_live_count_reads_the_index_alone(event):
    """Every few seconds per event: at 200,000 guests, reading each checked-in guest's
    row for its category took ten times as long as the index alone (migration 0018)."""
    # enough guests, a quarter of them in, for PostgreSQL's planner to choose as it would
    db.session.execute(
        sa.insert(Guest),
        [
            {
                "event_id": event.id,
                "name": f"嘉宾{i}",
                "category": list(GuestCategory)[i % 5],
                "created_at": DURING,
                "checked_in_at": DURING if i % 4 == 0 else None,
            }
            for i in range(3000)
        ],
    )
    db.session.commit()
    compiled = feed.arrivals_by_category(event.id).compile(db.engine, compile_kwargs={"literal_binds": True})
    if db.engine.dialect.name == "sqlite":
        plan = " ".join(str(row) for row in db.session.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}")))
        assert "COVERING INDEX ix_guest_event_id_checked_in_at_category" in plan, plan
    else:
        # PostgreSQL weighs heap pages against index pages by its statistics: an index-only
        # scan is its choice at scale; here the index is found, whichever way it reads it
        db.session.execute(sa.text("ANALYZE guest"))
        plan = " ".join(r[0] for r in db.session.execute(sa.text(f"EXPLAIN {compiled}")))
        assert "ix_guest_event_id_checked_in_at_category" in plan, plan


def heartbeat(screen):
    db.session.expire_all()
    s = db.session.get(Screen, screen.id)
    return s.seen_at, s.cache_state, s.bad_media, s.bad_media_at


def poll(screen, now, **said):
    polled = feed.poll(db.session, screen.token, now, shown="works/work:1", shown_version=1, **said)
    db.session.commit()
    return polled


def test_the_offline_cache_and_bad_media_are_written_when_they_change_and_not_on_every_poll(event, screen):
    poll(screen, DURING, cache="0/7")
    assert heartbeat(screen) == (DURING, "0/7", "", None)
    soon = DURING + timedelta(seconds=1)
    poll(screen, soon, cache="0/7")
    assert heartbeat(screen)[0] == DURING  # the same news: no write (200 screens poll every 1.5 s)
    poll(screen, soon, cache="7/7", bad="work:12")
    assert heartbeat(screen) == (soon, "7/7", "work:12", soon)
    later = soon + timedelta(seconds=2)
    poll(screen, later, cache="7/7", bad="work:12")
    assert heartbeat(screen)[0] == soon
    poll(screen, later, cache="7/7", bad="work:12,photo:3")
    assert heartbeat(screen) == (later, "7/7", "work:12,photo:3", later)  # a new report: its own time
    poll(screen, later + timedelta(seconds=1), cache="7/7")  # nothing bad any more
    assert heartbeat(screen)[2:] == ("", None)


def test_a_poll_that_says_nothing_of_its_cache_keeps_the_last_word(event, screen):
    poll(screen, DURING, cache="none")
    poll(screen, DURING + timedelta(seconds=1))
    assert heartbeat(screen)[1] == "none"


def test_a_malformed_cache_word_is_ignored(event, screen):
    poll(screen, DURING, cache="3/7")
    for n, cache in enumerate(["8/7", "-1/7", "1/2/3", "all", "12345678/12345678", "none ", "<b>", "１/２", "7/7\n"]):
        assert poll(screen, DURING + timedelta(seconds=n + 1), cache=cache) is not None, cache
        assert heartbeat(screen)[1] == "3/7", cache


def test_bad_media_keeps_well_formed_items_only_each_once_and_at_most_a_few(event, screen):
    said = ",".join(["work:1", "work:1", "comment:5", "work:01", "photo:x", "<script>", "photo:2\n"])
    said += "," + ",".join(f"work:{n}" for n in range(2, 40))
    poll(screen, DURING, bad=said)
    kept = heartbeat(screen)[2].split(",")
    assert kept[0] == "work:1"
    assert len(kept) == feed.BAD_MEDIA_MAX and len(set(kept)) == len(kept)
    assert all(k.startswith("work:") for k in kept)  # no comment, no junk
    poll(screen, DURING + timedelta(seconds=1), bad="x" * 10_000)  # nothing well formed: nothing bad
    assert heartbeat(screen)[2] == ""


def test_the_heartbeat_fits_its_columns_whatever_is_said(event, screen):
    longest = ",".join(f"photo:{9_000_000_000 + n}" for n in range(feed.BAD_MEDIA_MAX))
    poll(screen, DURING, cache="99999/99999", bad=longest)
    _seen, cache, bad, _at = heartbeat(screen)
    assert cache == "99999/99999" and bad == longest
    assert len(cache) <= Screen.cache_state.type.length and len(bad) <= Screen.bad_media.type.length


def _kept(app, event):
    return app.extensions["displays.live"][feed.live_key(event.id, control.state_of(event.id).version)]


def test_one_thread_computes_an_events_figures_while_the_others_answer_with_the_last(app, event, screen, monkeypatch):
    """200 screens asking together for figures that take seconds to compute (an event with
    a hundred thousand ratings) computed them all at once, over and over, until the server
    did nothing else: one thread computes them, the others answer with the same version's
    last figures meanwhile."""
    first = feed.live(screen)
    kept = _kept(app, event)
    kept.at -= kept.keep  # past their time (kept longer than 3 s if computing them was slow)
    computing, done, calls, errors = threading.Event(), threading.Event(), [], []
    real = feed._live

    def slow(event, hidden):
        calls.append(event.id)
        computing.set()
        done.wait(10)
        return real(event, hidden)

    monkeypatch.setattr(feed, "_live", slow)
    screen_id = screen.id  # read here: the other thread must not touch this session's objects
    db.session.commit()  # and this thread holds no transaction while it runs

    def screen_asks():
        try:
            with app.app_context():
                feed.live(db.session.get(Screen, screen_id))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    asking = threading.Thread(target=screen_asks)
    asking.start()
    while not computing.wait(0.05) and asking.is_alive():
        pass
    assert errors == [] and computing.is_set()
    assert feed.live(db.session.get(Screen, screen_id)) == first  # answered at once, with the last figures
    done.set()
    asking.join(10)
    assert errors == [] and calls == [event.id]  # computed once
    assert _kept(app, event).fresh(time.monotonic())


def test_figures_that_take_long_to_compute_are_kept_longer(app, event, screen, monkeypatch):
    real, calls = feed._live, []

    def slow(event, hidden):
        calls.append(event.id)
        time.sleep(0.05)
        return real(event, hidden)

    monkeypatch.setattr(feed, "_live", slow)
    monkeypatch.setattr(feed, "LIVE_COST_FACTOR", 200)  # 0.05 s of work or more: kept 10 s or more
    feed.live(screen)
    kept = _kept(app, event)
    assert kept.keep >= 10
    kept.at -= feed.LIVE_CACHE_SECONDS + 1  # older than cheap figures are kept
    feed.live(screen)
    assert calls == [event.id]
    kept.at -= kept.keep  # past its own time
    feed.live(screen)
    assert calls == [event.id, event.id]


def test_the_counts_stay_fresh_while_costly_averages_are_kept_longer(app, event, screen, rate, monkeypatch):
    """A hundred thousand ratings' averages took a third of a second, the counts and the
    comments a few milliseconds: the averages are kept apart, longer when they cost more
    (never longer than their limit), and the counts and comments stay seconds fresh."""
    real, calls = feed._averages, []

    def slow(event):
        calls.append(event.id)
        time.sleep(0.05)
        return real(event)

    monkeypatch.setattr(feed, "_averages", slow)
    monkeypatch.setattr(feed, "AVERAGES_COST_FACTOR", 200)  # 0.05 s of work or more: 10 s or more …
    monkeypatch.setattr(feed, "AVERAGES_KEEP_MAX_SECONDS", 8)  # … but never past 8 s
    questions = dimensions(event.campaign_id)

    def rated(stars, comment):
        rating = rate(event, comment)
        db.session.add_all(Score(rating_id=rating.id, dimension_id=d.id, stars=stars) for d in questions)
        db.session.commit()

    rated(5, "第一位")
    live = feed.live(screen)
    assert live["responses"] == 1 and {d["average"] for d in live["ratings"]} == {5}
    kept = app.extensions["displays.live"]
    averages = kept[("averages", event.id)]
    assert averages.keep == 8
    rated(1, "第二位")
    counts = kept[feed.live_key(event.id, control.state_of(event.id).version)]
    counts.at -= counts.keep  # the counts past their time (3 s, or longer on a slow machine)
    live = feed.live(screen)
    assert live["responses"] == 2 and live["checked_in"] == 2
    assert {c["text"] for c in live["comments"]} == {"第一位", "第二位"}
    assert {d["average"] for d in live["ratings"]} == {5} and calls == [event.id]  # the averages kept
    for figures in kept.values():
        figures.at -= figures.keep  # both past their time
    assert {d["average"] for d in feed.live(screen)["ratings"]} == {3} and calls == [event.id, event.id]
