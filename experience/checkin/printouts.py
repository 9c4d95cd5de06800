"""The paper sign-in sheet for any number of guests: a request prints up to SYNC_LIMIT
rows itself, beyond that a background job (core.jobs) does, with its progress shown."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, render_template, url_for
from flask_babel import gettext

from experience.core import jobs
from experience.core.pdf import render_pdf_in_parts
from experience.events.models import Event
from experience.extensions import db
from experience.guests.models import Guest

#: rows a request prints itself (28 sheets, a few seconds); more is a job
SYNC_LIMIT = 500
ROWS_PER_SHEET = 18
#: sheets per rendered part
SHEETS_PER_PART = 25
#: empty numbered rows after the list, for walk-ins signing on paper
BLANK_ROWS = 15


@dataclass
class Sheet:
    number: int
    rows: list  # (row number, guest or None)


def listed(event: Event):
    return sa.select(Guest).where(Guest.event_id == event.id)


def listed_count(event: Event) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(listed(event).subquery())) or 0


def sign_in_sheet_pdf(event: Event, progress=lambda done, total: None) -> bytes:
    ids = db.session.scalars(listed(event).with_only_columns(Guest.id).order_by(Guest.category, Guest.name)).all()
    numbered = list(enumerate([*ids, *([None] * BLANK_ROWS)], start=1))
    sheets = [numbered[i : i + ROWS_PER_SHEET] for i in range(0, len(numbered), ROWS_PER_SHEET)]
    total_pages, per_part = len(sheets), SHEETS_PER_PART
    done = [0]

    def parts():
        for first in range(0, total_pages, per_part):
            chunk = sheets[first : first + per_part]
            wanted = [gid for sheet in chunk for _, gid in sheet if gid is not None]
            guests = {g.id: g for g in db.session.scalars(sa.select(Guest).where(Guest.id.in_(wanted)))}
            pages = [
                Sheet(first + i + 1, [(no, guests.get(gid) if gid else None) for no, gid in sheet])
                for i, sheet in enumerate(chunk)
            ]
            done[0] += len(wanted)
            yield render_template("checkin/pdf/sign_in_sheet.html", event=event, pages=pages, total_pages=total_pages)
            for guest in guests.values():  # not needed again: memory stays that of one part
                db.session.expunge(guest)

    progress(0, len(ids))
    base = current_app.config["PUBLIC_BASE_URL"]
    return render_pdf_in_parts(parts(), base_url=base, progress=lambda: progress(done[0], len(ids)))


@jobs.handler("sign_in_sheet")
def _sign_in_sheet_job(job: jobs.Job, progress) -> tuple[bytes, str]:
    event = db.session.get(Event, job.params["event_id"])
    return sign_in_sheet_pdf(event, progress), f"sign-in-{event.id}.pdf"


jobs.TITLES["sign_in_sheet"] = lambda job: (
    gettext("Sign-in sheet"),
    url_for("checkin.setup", event_id=job.params["event_id"]),
)
