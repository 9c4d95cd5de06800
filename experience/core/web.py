"""Request plumbing shared by every page: reading the body first, read phases, template
helpers, and the small helpers that keep views thin (apply_rule, download, public_url)."""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit

from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import format_date, format_datetime, get_locale, get_translations, gettext
from jinja2 import pass_context
from werkzeug.routing import IntegerConverter

from experience.core import clock
from experience.core.errors import RuleError
from experience.core.permissions import can
from experience.core.phone import mask_phone
from experience.extensions import db

T = TypeVar("T")


class DatabaseId(IntegerConverter):
    """``<int:…>`` in every URL: at most what a 64-bit database integer holds, so that an
    id too large for SQLite (an OverflowError) or PostgreSQL never reaches a query; such a
    URL matches no route and answers 404 like any missing record."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def register_converters(app: Flask) -> None:
    """Before any route is added: a rule takes its converter when it is added."""
    app.url_map.converters["int"] = DatabaseId


def register(app: Flask) -> None:
    """Hooks every request needs, before any capability's own (accounts adds the login)."""
    app.before_request(read_the_body_first)
    app.after_request(no_store_for_pages)
    app.add_template_filter(beijing, "bj")
    app.add_template_filter(day, "day")
    app.jinja_env.globals["time_range"] = time_range
    app.add_template_filter(mask_phone, "mask_phone")
    app.jinja_env.globals["can"] = can
    app.jinja_env.globals["now"] = clock.now
    app.jinja_env.globals["public_base_is_loopback"] = public_base_is_loopback
    app.context_processor(_locale)
    # after Flask-Babel's init_app, whose callables these replace
    app.jinja_env.install_gettext_callables(
        gettext=_page_gettext,
        ngettext=_page_ngettext,
        newstyle=True,
        pgettext=_page_pgettext,
        npgettext=_page_npgettext,
    )


def _locale() -> dict:
    return {"locale": str(get_locale()), "_translations": get_translations()}


# A page's texts are translated with the catalogue looked up once per page (by _locale,
# as the page is rendered), not once per text: Flask-Babel's own callables look it up
# through the request's globals for each of a page's dozens of texts, which cost a
# guest's one-tap page a tenth of its CPU. Anything rendered without the context (a macro
# imported without it) looks it up as before.


@pass_context
def _page_gettext(context, string: str) -> str:
    return (context.get("_translations") or get_translations()).ugettext(string)


@pass_context
def _page_ngettext(context, singular: str, plural: str, n: int) -> str:
    return (context.get("_translations") or get_translations()).ungettext(singular, plural, n)


@pass_context
def _page_pgettext(context, msgctxt: str, string: str) -> str:
    return (context.get("_translations") or get_translations()).upgettext(msgctxt, string)


@pass_context
def _page_npgettext(context, msgctxt: str, singular: str, plural: str, n: int) -> str:
    return (context.get("_translations") or get_translations()).unpgettext(msgctxt, singular, plural, n)


def read_the_body_first():
    """Take the whole request body in before anything touches the database. A POST
    takes SQLite's write lock at its first query (see _tune_sqlite), and a slow
    upload read after that would hold the lock, and every check-in, for its duration.
    A view marked @streams_body reads its body itself (and keeps no transaction open
    while it does)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "streams_body", False):
        return
    if request.method in ("POST", "PUT", "PATCH") and request.content_length != 0:
        if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            request.form  # noqa: B018 - parsing reads (and spools) the body
        else:
            request.get_data(cache=True)
    if request.is_json and request.content_length != 0:
        # Pages take form posts. Flask-WTF would read a JSON body as form data, where a
        # field can then hold a list or an object no form expects: only views marked
        # @takes_json accept one.
        if not getattr(view, "takes_json", False):
            abort(415)
        # Parsed once here and cached for the view: JSON nested a few thousand deep
        # exhausts Python's recursion limit inside the parser, the client's fault.
        try:
            request.get_json(silent=True)
        except RecursionError:
            abort(400)
    # No text anyone types contains a NUL, and PostgreSQL refuses to store one.
    if any("\x00" in v for v in (*request.args.values(), *request.form.values())):
        abort(400)


def no_store_for_pages(response):
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


#: the numeric patterns the pages use, as strftime: they read the same in every locale, and
#: Babel's formatter (a pattern parse and a locale lookup per call) cost a guest's
#: check-in page more than its database write
_NUMERIC = {"yyyy-MM-dd HH:mm": "%Y-%m-%d %H:%M", "HH:mm": "%H:%M", "yyyy-MM-dd": "%Y-%m-%d"}


def beijing(dt: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """A stored (UTC) time in Beijing time, by a CLDR pattern."""
    if dt is None:
        return ""
    numeric = _NUMERIC.get(fmt)
    if numeric is not None:
        return clock.to_beijing(dt).strftime(numeric)
    return format_datetime(clock.aware(dt), fmt)


def time_range(starts: datetime, ends: datetime) -> str:
    """When an event runs, in Beijing time: the end's date is written whenever it is not
    the start's day, so that 23:30 – 01:00 never reads as ending before it starts."""
    start, end = clock.to_beijing(starts), clock.to_beijing(ends)
    if start.date() == end.date():
        return f"{beijing(starts)} – {beijing(ends, 'HH:mm')}"
    if (end.date() - start.date()).days == 1:
        next_day = gettext("next day")
        return f"{beijing(starts)} – {next_day} {beijing(ends, 'HH:mm')}"
    return f"{beijing(starts)} – {beijing(ends)}"


def day(d) -> str:
    return format_date(d, "yyyy-MM-dd") if d else ""


def public_url(endpoint: str, **values) -> str:
    """An absolute link for outside the app (a QR code, a printed card, a message): it
    starts with PUBLIC_BASE_URL, whatever address the request came in on."""
    if has_request_context():
        path = url_for(endpoint, **values)
    else:  # a background job: build from the URL map alone
        path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def public_base_is_loopback() -> bool:
    """True when printed links would point at this machine itself (127.0.0.1, localhost):
    a guest's phone cannot open them, so print pages warn before anyone prints."""
    host = urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


MIMETYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
    "jpg": "image/jpeg",
    "csv": "text/csv; charset=utf-8",
}


def download(data: bytes, name: str, *, attachment: bool = True):
    """A generated file (PDF, .xlsx, PNG) as a response, its type taken from ``name``."""
    mimetype = MIMETYPES[name.rsplit(".", 1)[-1].lower()]
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=attachment, download_name=name)


def apply_rule(action: Callable[[], T], *, done=None, refused: Callable[[RuleError], None] | None = None) -> bool:
    """Run a business rule in the request's transaction, the way every form does.

    It passes: commit, flash ``done`` (if given), return True. It refuses with a
    RuleError: roll back (nothing half-saved), tell the user (``refused(error)``, or by
    default a flash of the rule's message), return False. The caller then redirects or
    re-renders."""
    try:
        action()
    except RuleError as e:
        db.session.rollback()
        if refused is None:
            flash(str(e), "error")
        else:
            refused(e)
        return False
    db.session.commit()
    if done:
        flash(done, "success")
    return True


def confirmed() -> bool:
    """Whether this POST comes from the confirmation step (see :func:`confirm_page`)."""
    return request.form.get("confirmed") == "1"


def confirm_page(
    question: str, *, explain: str = "", button: str, back: str, back_label: str = "", danger: bool = False
):
    """The step between a consequential button and what it does (cancel an event, undo a
    check-in, send a plan): a page that says what will happen and posts the same fields
    again with ``confirmed=1``. A page of its own rather than a script's dialog, so it
    works without JavaScript and under the CSP; the view checks permission and validates
    the form before calling it, so the question never reaches someone who may not act.
    ``back_label`` replaces "go back without changing anything" when something was already
    saved before the question (a plan's draft)."""
    fields = [(k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token", "confirmed")]
    return render_template(
        "core/confirm.html",
        question=question,
        explain=explain,
        button=button,
        back=back,
        back_label=back_label,
        danger=danger,
        action=request.path,
        fields=fields,
    )


#: a Chinese input method types full-width digits (２０): they are the same number
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def small_int(value) -> int | None:
    """A form's id or number: digits only (ASCII, or full width as a Chinese input method
    types them), nine at most (no "²", no 5,000 nines), spaces around it ignored."""
    text = str(value or "").strip().translate(_FULL_WIDTH_DIGITS)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def public(view):
    """Mark a view reachable without logging in."""
    view.public = True
    return view


def takes_json(view):
    """Mark a view that reads a JSON body (an API); every other view refuses one (415)."""
    view.takes_json = True
    return view


def streams_body(view):
    """Mark a view that reads its request body in pieces as it arrives (a resumable
    upload's chunk, transfers.views): read_the_body_first leaves it alone, and the view
    must hold no database transaction while it reads."""
    view.streams_body = True
    return view


def writes(view):
    """Mark a GET view that writes (an audit entry, a row made on first visit), so that
    on SQLite it takes the write lock at BEGIN rather than failing to upgrade later."""
    view.writes = True
    return view


def request_writes() -> bool:

    if g.get("read_phase"):
        return False
    if request.method not in ("GET", "HEAD"):
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "writes", False))


@contextmanager
def read_phase():
    """Run the body in a read-only transaction that starts deferred on SQLite, then end it.

    A hot write (a check-in) reads and validates here first, so that the write lock it
    takes afterwards is held only for its few writes. ORM objects loaded before are
    expired at the end: pass ids to what follows.
    """
    db.session.rollback()
    g.read_phase = True
    try:
        yield
    finally:
        db.session.rollback()
        g.read_phase = False
