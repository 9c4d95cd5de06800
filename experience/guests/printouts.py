"""Invitation cards for any number of guests: up to SYNC_LIMIT in the request, beyond
that as a background job (core.jobs) with its progress shown."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, render_template, url_for
from flask_babel import gettext

from experience.core import jobs
from experience.core.pdf import render_pdf_in_parts
from experience.core.qr import qr_data_uri
from experience.core.web import public_url
from experience.events.models import Event
from experience.extensions import db
from experience.guests.models import Guest

#: a request renders at most this many cards itself (about 5 s on one core); more is a job
SYNC_LIMIT = 200
CARDS_PER_SHEET = 6
#: sheets per rendered part (whole sheets, so that no part ends in a half-empty one): 20
#: sheets are laid out by WeasyPrint in well under a second
SHEETS_PER_PART = 20


def invited(event: Event):
    return sa.select(Guest).where(Guest.event_id == event.id, Guest.walk_in.is_(False))


def invited_count(event: Event) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(invited(event).subquery())) or 0


def invitations_pdf(event: Event, progress=lambda done, total: None) -> bytes:
    """All the event's invitation cards, six to an A4 sheet, in the list's order."""
    total = invited_count(event)
    ids = db.session.scalars(invited(event).with_only_columns(Guest.id).order_by(Guest.category, Guest.id)).all()
    done = [0]

    def parts():
        if not ids:
            yield render_template("guests/pdf/invitations.html", event=event, cards=[])
        part = SHEETS_PER_PART * CARDS_PER_SHEET
        for start in range(0, len(ids), part):
            chunk = ids[start : start + part]
            guests = db.session.scalars(
                sa.select(Guest).where(Guest.id.in_(chunk)).order_by(Guest.category, Guest.id)
            ).all()
            # a PNG, not the inline SVG the one-page posters use: WeasyPrint draws an SVG path
            # in Python, over a third of a card's time (5,000 cards took 175 s); 8 pixels
            # a module, drawn unsmoothed (image-rendering: pixelated), prints as sharp
            cards = [(g, qr_data_uri(public_url("checkin.guest", code=g.code), box_size=8)) for g in guests]
            done[0] += len(guests)
            yield render_template("guests/pdf/invitations.html", event=event, cards=cards)
            for guest in guests:  # not needed again: the memory a part takes is given back
                db.session.expunge(guest)

    progress(0, total)
    base = current_app.config["PUBLIC_BASE_URL"]
    return render_pdf_in_parts(parts(), base_url=base, progress=lambda: progress(done[0], total))


@jobs.handler("invitations")
def _invitations_job(job: jobs.Job, progress) -> tuple[bytes, str]:
    event = db.session.get(Event, job.params["event_id"])
    return invitations_pdf(event, progress), f"invitations-{event.id}.pdf"


def _title(job: jobs.Job):
    return gettext("Invitation cards"), url_for("guests.index", event_id=job.params["event_id"])


jobs.TITLES["invitations"] = _title
