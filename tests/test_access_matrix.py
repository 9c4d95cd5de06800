"""Every route × every role: who gets in, who is refused, and that refusals are logged.

The table must name every endpoint of the app: a new route without a line here fails
the test, so nobody adds a page without deciding who may open it.
"""

import base64
import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from experience.accounts.models import Role
from experience.checkin.services import check_in, create_api_token
from experience.core import jobs
from experience.core.audit import AuditEntry, unwritten_refusal_counts
from experience.core.clock import now as clock_now
from experience.core.images import clean_photo
from experience.core.uploads import store_bytes, store_upload
from experience.displays import screens
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests.models import CheckInVia
from experience.guests.services import add_guest
from experience.plans import services as plans
from experience.ratings.models import Display
from experience.ratings.services import dimensions, submit_rating
from experience.reports.services import add_own_photo, province_summary
from experience.screening import blind, experts, rounds
from experience.screening.models import Assignment, Decision, Entry, Objection, Outcome, Publication, RoundState
from experience.transfers import services as transfers
from experience.works import recommendations, submission
from experience.works import services as works
from experience.works.models import WorkCategory
from tests.conftest import NOW, PASSWORD
from tests.plans.test_services import TEXTS
from tests.units.helpers import register_unit

ROLES = [
    "anonymous",
    "hq",
    "secretariat",
    "province",
    "province_other",
    "organizer",
    "organizer_unassigned",
    "submitter",
    "submitter_other",
    "reviewer",
    "reviewer_other",
]
LOGGED_IN = ROLES[1:]


def only(allowed: dict, default: int) -> dict:
    """Expected status per role: the roles named get theirs, the other logged-in roles
    ``default``, anonymous the login redirect."""
    return {"anonymous": 302, **{r: default for r in LOGGED_IN}, **allowed}


#: a submitting unit's account reaches none of the staff pages
NOT_UNITS = {"submitter": 403, "submitter_other": 403}
UNITS = ("submitter", "submitter_other")
#: an expert reaches screening's pages for experts and nothing of the staff's
NOT_EXPERTS = {"reviewer": 403, "reviewer_other": 403}
#: a unit lists its own works, the secretariat all, province staff their province's
WORK_LISTS = only({r: 200 for r in ("secretariat", "province", "province_other", *UNITS)}, 403)
MANAGE_GET = only({"province": 200, "organizer": 200}, 404)
MANAGE_POST = only({"province": 302, "organizer": 302}, 404)
VIEW_GET = only({"hq": 200, "province": 200, "organizer": 200}, 404)
TUS = {"Tus-Resumable": "1.0.0"}
SECRETARIAT_ONLY = only({"secretariat": 200}, 403)
#: public pages whose 404 is "not public (yet)", the same for everyone: no refusal to log
PUBLIC_NOT_FOUND = {"platform.file", "displays.guest_photo"}
SECRETARIAT_POST = only({"secretariat": 302}, 403)

# endpoint: (method, url template, {role: status}[, request kwargs]). Objects: event A in Beijing (11) with the
# organiser assigned; event B in Zhejiang (33); plans of both submitted; a Zhejiang organiser; submitting unit
# BJ in Beijing (the submitter's) and unit ZJ in Zhejiang (the other submitter's).
MATRIX = {
    "static": ("GET", "/static/css/app.css", {r: 200 for r in ROLES}),
    "healthz": ("GET", "/healthz", {r: 200 for r in ROLES}),
    "accounts.login": ("GET", "/login", {"anonymous": 200, **{r: 302 for r in LOGGED_IN}}),
    "accounts.language": ("POST", "/language", {r: 302 for r in ROLES}),
    "accounts.switch_language": ("GET", "/language/en?next=/login", {r: 302 for r in ROLES}),
    "accounts.change_password": ("GET", "/password", only({}, 200)),
    "accounts.users": ("GET", "/users", only({"hq": 200, "province": 200, "province_other": 200}, 403)),
    "accounts.reset_password": (
        "POST",
        "/users/{zj_org}/reset",
        only({"hq": 200, "province_other": 200, "province": 404}, 403),
    ),
    "accounts.set_active": (
        "POST",
        "/users/{zj_org}/active",
        only({"hq": 302, "province_other": 302, "province": 404}, 403),
    ),
    "accounts.audit_log": ("GET", "/audit", only({"hq": 200}, 403)),
    # a unit's start page is its own (units.home)
    "campaigns.home": (
        "GET",
        "/",
        only({r: 302 for r in ("submitter", "submitter_other", "reviewer", "reviewer_other")}, 200),
    ),
    "campaigns.edit": ("GET", "/campaign", only({"hq": 200}, 403)),
    "events.index": ("GET", "/events", only({"secretariat": 403, **NOT_UNITS, **NOT_EXPERTS}, 200)),
    "events.new": ("GET", "/events/new", only({"hq": 403, "secretariat": 403, **NOT_UNITS, **NOT_EXPERTS}, 200)),
    "events.view": ("GET", "/events/{event_a}", only({"hq": 200, "province": 200, "organizer": 200}, 404)),
    "events.edit": ("GET", "/events/{event_a}/edit", only({"province": 200, "organizer": 200}, 404)),
    "events.cancel": ("POST", "/events/{event_a}/cancel", only({"province": 302, "organizer": 302}, 404)),
    "events.organizers": ("POST", "/events/{event_a}/organizers", only({"province": 302, "organizer": 403}, 404)),
    "events.attachment": (
        "GET",
        "/events/{event_a}/attachment",
        only({"hq": 200, "province": 200, "organizer": 200}, 404),
    ),
    # everyone but the organisers and the experts has notices: to their province, account or role, or HQ's
    "notices.index": ("GET", "/notices", only({"organizer": 403, "organizer_unassigned": 403, **NOT_EXPERTS}, 200)),
    "notices.mark_read": (
        "POST",
        "/notices/read",
        only({"organizer": 403, "organizer_unassigned": 403, **NOT_EXPERTS}, 302),
    ),
    "plans.edit": ("GET", "/plan", only({"province": 200, "province_other": 200}, 403)),
    "plans.document": ("GET", "/plans/{plan_bj}/document", only({"hq": 200, "province": 200}, 404)),
    "plans.national": ("GET", "/hq/plans", only({"hq": 200}, 403)),
    "plans.national_xlsx": ("GET", "/hq/plans.xlsx", only({"hq": 200}, 403)),
    "plans.extension": ("POST", "/hq/extensions", only({"hq": 302}, 403)),
    "plans.review": ("GET", "/hq/plans/{plan_bj}", only({"hq": 200}, 403)),
    "plans.return_": ("POST", "/hq/plans/{plan_zj}/return", only({"hq": 302}, 403)),
    "plans.confirm": ("POST", "/hq/plans/{plan_zj}/confirm", only({"hq": 302}, 403), {"data": {"confirmed": "1"}}),
    "plans.launch": ("POST", "/hq/events/{event_b}/launch", only({"hq": 302}, 403)),
    # Guests and check-in: the event's province and its organisers only; HQ works with figures.
    "guests.index": ("GET", "/events/{event_a}/guests", MANAGE_GET),
    "guests.edit": ("GET", "/guests/{guest_a}", MANAGE_GET),
    "guests.qr": ("GET", "/guests/{guest_a}/qr.png", MANAGE_GET),
    "guests.revoke": ("POST", "/guests/{guest_a}/revoke", MANAGE_POST, {"data": {"confirmed": "1"}}),
    "guests.delete": ("POST", "/guests/{guest_c}/delete", MANAGE_POST),
    "guests.template": ("GET", "/events/{event_a}/guests/template.xlsx", MANAGE_GET),
    "guests.import_": ("GET", "/events/{event_a}/guests/import", MANAGE_GET),
    "guests.import_confirm": ("POST", "/events/{event_a}/guests/import/confirm", MANAGE_POST),
    "guests.export": ("GET", "/events/{event_a}/guests.xlsx", MANAGE_GET),
    "guests.invitations": ("GET", "/events/{event_a}/invitations.pdf", MANAGE_GET),
    "checkin.setup": ("GET", "/events/{event_a}/checkin", MANAGE_GET),
    "checkin.create_token": ("POST", "/events/{event_a}/tokens", MANAGE_POST),
    "checkin.revoke_token": ("POST", "/events/{event_a}/tokens/{token_a}/revoke", MANAGE_POST),
    "checkin.poster": ("GET", "/events/{event_a}/poster.pdf", MANAGE_GET),
    "checkin.sign_in_sheet": ("GET", "/events/{event_a}/sign-in-sheet.pdf", MANAGE_GET),
    "checkin.desk": ("GET", "/events/{event_a}/desk", MANAGE_GET),
    "checkin.desk_live": ("GET", "/events/{event_a}/desk/live", MANAGE_GET),
    "checkin.desk_check_in": ("POST", "/events/{event_a}/desk/guests/{guest_a}/checkin", MANAGE_POST),
    "checkin.desk_undo": (
        "POST",
        "/events/{event_a}/desk/guests/{guest_a}/undo",
        MANAGE_POST,
        {"data": {"confirmed": "1"}},
    ),
    "checkin.scanner": ("GET", "/events/{event_a}/scanner", MANAGE_GET),
    "checkin.scanner_scan": (
        "POST",
        "/events/{event_a}/scanner/scan",
        only({"province": 201, "organizer": 201}, 404),
        {"json": {"code": "{code_b}"}},
    ),
    # Public: the guest's link and the walk-in poster; the API wants its token and JSON.
    "checkin.guest": ("GET", "/c/{code_b}", {r: 200 for r in ROLES}),
    "checkin.walk_in": ("GET", "/w/{walk_in}", {r: 200 for r in ROLES}),
    "checkin.api_check_in": ("POST", "/api/v1/checkins", {r: 401 for r in ROLES}, {"json": {"code": "x"}}),
    # Ratings: the guest's form is public; results for the event's viewers (HQ included);
    # review and export for those who manage the event; the questions for HQ.
    "ratings.rate": ("GET", "/c/{code_d}/rate", {r: 200 for r in ROLES}),
    "ratings.live": ("GET", "/events/{event_a}/ratings", only({"hq": 200, "province": 200, "organizer": 200}, 404)),
    "ratings.photo": ("GET", "/ratings/{rating_d}/photo", only({"hq": 200, "province": 200, "organizer": 200}, 404)),
    "ratings.approval": (
        "POST",
        "/ratings/{rating_d}/approval",
        MANAGE_POST,
        {"data": {"what": "comment", "approved": "1"}},
    ),
    "ratings.export": ("GET", "/events/{event_a}/ratings.xlsx", MANAGE_GET),
    "ratings.dimensions": ("GET", "/campaign/dimensions", only({"hq": 200}, 403)),
    # Summaries: the event's viewers (HQ included); the province's own; HQ's national report.
    "reports.event": ("GET", "/events/{event_a}/summary", VIEW_GET),
    "reports.event_pdf": ("GET", "/events/{event_a}/summary.pdf", VIEW_GET),
    "reports.event_xlsx": ("GET", "/events/{event_a}/summary.xlsx", VIEW_GET),
    "reports.own_photo": ("GET", "/events/{event_a}/summary/photos/{own_photo}", VIEW_GET),
    "reports.province": ("GET", "/summary", only({"province": 200, "province_other": 200}, 403)),
    "reports.province_pdf": ("GET", "/provinces/11/summary.pdf", only({"hq": 200, "province": 200}, 404)),
    "reports.province_xlsx": ("GET", "/provinces/11/summary.xlsx", only({"hq": 200, "province": 200}, 404)),
    "reports.national": ("GET", "/hq/summaries", only({"hq": 200}, 403)),
    "reports.national_pdf": ("GET", "/hq/summaries.pdf", only({"hq": 200}, 403)),
    "reports.national_xlsx": ("GET", "/hq/summaries.xlsx", only({"hq": 200}, 403)),
    "reports.return_summary": ("POST", "/hq/summaries/{summary_bj}/return", only({"hq": 302}, 403)),
    "reports.purge": ("POST", "/hq/purge", only({"hq": 302}, 403)),
    # A background job's page and result: its owner only (the province's staff here).
    "jobs.page": ("GET", "/jobs/{job}", only({"province": 200}, 404)),
    "jobs.result": ("GET", "/jobs/{job}/result", only({"province": 200}, 404)),
    # Submitting units: the call and the registration are public; a unit sees its own; the secretariat manages
    # them all; province staff list their province's, read-only; HQ sees counts.
    "units.call": ("GET", "/works/call", {r: 200 for r in ROLES}),
    "units.register": ("GET", "/units/register", {"anonymous": 200, **{r: 302 for r in LOGGED_IN}}),
    "units.home": ("GET", "/unit", only({"submitter": 200, "submitter_other": 200}, 403)),
    "units.index": ("GET", "/units", only({"secretariat": 200, "province": 200, "province_other": 200}, 403)),
    "units.view": ("GET", "/units/{unit_bj}", only({"secretariat": 200, "province": 200, "submitter": 200}, 404)),
    "units.set_active": ("POST", "/units/{unit_zj}/active", only({"secretariat": 302}, 403)),
    "units.handover": ("GET", "/units/{unit_zj}/handover", only({"secretariat": 200}, 403)),
    "units.counts": ("GET", "/hq/units", only({"hq": 200, "secretariat": 200}, 403)),
    # Works: a unit its own (edits them); the secretariat all; the unit's province reads; HQ counts only.
    "works.index": ("GET", "/works", WORK_LISTS),
    "works.counts": ("GET", "/hq/works", only({"hq": 200, "secretariat": 200}, 403)),
    "works.new": ("GET", "/works/new", only({"submitter": 200, "submitter_other": 200}, 403)),
    "works.view": ("GET", "/works/{work_bj}", only({"submitter": 200, "secretariat": 200, "province": 200}, 404)),
    "works.file": ("GET", "/works/files/{file_bj}", only({"submitter": 200, "secretariat": 200, "province": 200}, 404)),
    "works.edit": ("GET", "/works/{work_bj}/edit", only({"submitter": 200}, 404)),
    "works.declarations": ("GET", "/works/{work_bj}/declarations", only({"submitter": 200}, 404)),
    "works.text_file": ("POST", "/works/{work_bj}/text-file", only({"submitter": 200}, 404)),
    "works.add_photo": ("GET", "/works/{work_bj}/photos/new", only({"submitter": 200}, 404)),
    "works.upload_video": ("POST", "/works/{work_bj}/video", only({"submitter": 200}, 404)),
    "works.caption": ("GET", "/works/{work_bj}/files/{file_bj}/caption", only({"submitter": 200}, 404)),
    "works.move": ("POST", "/works/{work_bj}/files/{file_bj}/move", only({"submitter": 302}, 404)),
    "works.delete": ("POST", "/works/{work_bj}/delete", only({"submitter": 200}, 404)),  # asks first
    "works.remove_file": ("POST", "/works/{work_bj}/files/{file_bj}/remove", only({"submitter": 302}, 404)),
    # after the file's routes: a typed text replaces the text's file
    "works.text": ("POST", "/works/{work_bj}/text", only({"submitter": 302}, 404), {"data": {"body": "正文"}}),
    # the registration form: work_bj is incomplete, so its readers are sent back to its page
    "works.form_pdf": (
        "GET",
        "/works/{work_bj}/form.pdf",
        only({"submitter": 302, "secretariat": 302, "province": 302}, 404),
    ),
    "works.form_scan": ("POST", "/works/{work_bj}/form-scan", only({"submitter": 302}, 404)),
    # submitting and the secretariat's decisions (refused or asked first, never reached by others)
    "works.submit": ("POST", "/works/{work_bj}/submit", only({"submitter": 302}, 404)),
    "works.withdraw": ("POST", "/works/{work_bj}/withdraw", only({"submitter": 200}, 404)),  # asks first
    "works.send_back": ("POST", "/works/{work_bj}/return", only({"secretariat": 302}, 404)),
    "works.extend": ("POST", "/works/{work_bj}/extension", only({"secretariat": 302}, 404)),
    # the secretariat's desk (nothing ticked: the download goes back to the desk)
    "works.desk": ("GET", "/works/desk", only({"secretariat": 200}, 403)),
    "works.desk_export": ("GET", "/works/desk/export.xlsx", only({"secretariat": 200}, 403)),
    "works.desk_download": ("POST", "/works/desk/download", only({"secretariat": 302}, 403)),
    # the province's recommendation
    "works.request_recommendation": (
        "POST",
        "/works/{work_bj}/recommendation",
        only({"submitter": 302}, 404),
    ),
    "works.withdraw_recommendation": (
        "POST",
        "/works/recommendations/{rec_bj}/withdraw",
        only({"submitter": 302}, 404),
    ),
    "works.recommend": (
        "POST",
        "/works/recommendations/{rec_bj}/recommend",
        only({"province": 302}, 404),
        {"data": {"confirmed": "1"}},
    ),
    "works.decline_recommendation": (
        "POST",
        "/works/recommendations/{rec_bj}/decline",
        only({"province": 302}, 404),
        {"data": {"decline-reason": "不符合要求"}},
    ),
    "works.recommendation_requests": (
        "GET",
        "/works/recommendations",
        only({"province": 200, "province_other": 200}, 403),
    ),
    # Resumable uploads (tus): a script's requests, so no login redirect (401); an upload answers its owner only;
    # only a unit starts one, and only for its own work.
    "transfers.discover": ("OPTIONS", "/transfers/", {"anonymous": 401, **{r: 204 for r in LOGGED_IN}}),
    "transfers.create": (
        "POST",
        "/transfers/",
        {**only({"submitter": 201, "submitter_other": 404}, 403), "anonymous": 401},
        {"headers": {**TUS, "Upload-Length": "10", "Upload-Metadata": "{video_meta}"}},
    ),
    "transfers.offset": (
        "HEAD",
        "/transfers/{upload_bj}",
        {**only({"submitter": 200}, 404), "anonymous": 401},
        {"headers": TUS},
    ),
    "transfers.append": (
        "PATCH",
        "/transfers/{upload_bj}",
        {**only({"submitter": 204}, 404), "anonymous": 401},
        {"headers": {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, "data": b"abc"},
    ),
    "transfers.terminate": (
        "DELETE",
        "/transfers/{upload_bj}",
        {**only({"submitter": 204}, 404), "anonymous": 401},
        {"headers": TUS},
    ),
    # Screening: the secretariat runs it; an expert reaches only the works of their own active assignments
    # (assigned_a is the reviewer's, assigned_b and assigned_c the other expert's).
    "screening.publication": ("GET", "/screening/publication", SECRETARIAT_ONLY),
    "screening.objection": ("GET", "/screening/objections/{objection_a}", SECRETARIAT_ONLY),
    "screening.withdraw_selected": ("GET", "/screening/works/{work_video}/withdraw", SECRETARIAT_ONLY),
    # objections to a published work during its 公示: anyone, no login
    "screening.objection_form": ("GET", "/gongshi/works/{work_video}/objection", {r: 200 for r in ROLES}),
    "screening.objection_thanks": ("GET", "/gongshi/works/{work_video}/objection/thanks", {r: 200 for r in ROLES}),
    "screening.duplicates": ("GET", "/screening/duplicates", SECRETARIAT_ONLY),
    # Event display screens: the console is the event's managers'; a screen opens by its secret link
    "displays.console": ("GET", "/events/{event_a}/screens", MANAGE_GET),
    "displays.console_status": ("GET", "/events/{event_a}/screens/status", MANAGE_GET),
    "displays.command": ("POST", "/events/{event_a}/screens/command", MANAGE_POST, {"data": {"name": "next"}}),
    "displays.screen_edit": ("GET", "/events/{event_a}/screens/{screen_a}", MANAGE_GET),
    # the token is a screen's only credential: the same answer whoever is logged in
    "displays.screen": ("GET", "/s/{screen_token}", {r: 200 for r in ROLES}),
    "displays.sync": ("GET", "/s/{screen_token}/sync", {r: 200 for r in ROLES}),
    "displays.content": ("GET", "/s/{screen_token}/content", {r: 200 for r in ROLES}),
    "displays.live": ("GET", "/s/{screen_token}/live", {r: 200 for r in ROLES}),
    "displays.manifest": ("GET", "/s/{screen_token}/manifest", {r: 200 for r in ROLES}),
    "displays.service_worker": ("GET", "/s/sw.js", {r: 200 for r in ROLES}),
    # a rating without an approved photo on the screen's playlist: not found, for everyone
    "displays.guest_photo": ("GET", "/s/{screen_token}/photos/{rating_d}", {r: 404 for r in ROLES}),
    # The public platform: the selection from the start of its 公示, for everyone, no login (a text work: no files)
    "platform.index": ("GET", "/showcase", {r: 200 for r in ROLES}),
    "platform.work": ("GET", "/showcase/{work_video}", {r: 200 for r in ROLES}),
    "platform.file": ("GET", "/showcase/{work_video}/files/{file_bj}", {r: 404 for r in ROLES}),
    "screening.index": ("GET", "/screening", SECRETARIAT_ONLY),
    "screening.new_round": ("GET", "/screening/rounds/new", SECRETARIAT_ONLY),
    "screening.round": ("GET", "/screening/rounds/{round_1}", SECRETARIAT_ONLY),
    # the world's rounds are open before the works deadline: refused with a message
    "screening.open_round": ("POST", "/screening/rounds/{round_2}/open", SECRETARIAT_POST),
    "screening.close_round": ("POST", "/screening/rounds/{round_2}/close", SECRETARIAT_ONLY),  # asks first
    "screening.reopen_round": ("POST", "/screening/rounds/{round_2}/reopen", SECRETARIAT_POST),
    "screening.experts": ("GET", "/screening/experts", SECRETARIAT_ONLY),
    "screening.new_expert": ("GET", "/screening/experts/new", SECRETARIAT_ONLY),
    "screening.expert": ("GET", "/screening/experts/{expert_a}", SECRETARIAT_ONLY),
    "screening.reset_expert_password": (
        "POST",
        "/screening/experts/{expert_a}/password",
        only({"secretariat": 200}, 403),
    ),
    "screening.assignments": ("GET", "/screening/rounds/{round_1}/assignments", SECRETARIAT_ONLY),
    "screening.assign_now": ("POST", "/screening/rounds/{round_1}/assign", SECRETARIAT_POST),
    "screening.add_expert": ("POST", "/screening/entries/{entry_a}/experts", SECRETARIAT_POST),
    "screening.remove_expert": ("POST", "/screening/assignments/{assigned_b}/remove", SECRETARIAT_POST),
    "screening.results": ("GET", "/screening/rounds/{round_1}/results", SECRETARIAT_ONLY),
    "screening.entry": ("GET", "/screening/entries/{entry_a}", SECRETARIAT_ONLY),
    "screening.decide": ("POST", "/screening/entries/{entry_a}/decision", SECRETARIAT_POST),
    "screening.apply": ("GET", "/screening/rounds/{round_1}/apply", SECRETARIAT_ONLY),
    "screening.scores_xlsx": ("GET", "/screening/rounds/{round_1}/scores.xlsx", SECRETARIAT_ONLY),
    "screening.results_pdf": ("GET", "/screening/rounds/{round_1}/results.pdf", SECRETARIAT_ONLY),
    "screening.retry_copies": ("POST", "/screening/rounds/{round_1}/copies", SECRETARIAT_POST),
    "screening.review": ("GET", "/review", only({"reviewer": 200, "reviewer_other": 200}, 403)),
    "screening.review_work": ("GET", "/review/{assigned_a}", only({"reviewer": 200}, 404)),
    "screening.review_file": ("GET", "/review/{assigned_a}/files/{copy_a}", only({"reviewer": 200}, 404)),
    "screening.review_conflict": ("GET", "/review/{assigned_a}/conflict", only({"reviewer": 200}, 404)),
    "accounts.logout": ("POST", "/logout", {r: 302 for r in ROLES}),  # last: it ends the session
}

#: an endpoint's other method, where it does something of its own (MATRIX names each
#: endpoint once: its keys are checked against the app's)
SECOND_METHOD = {
    "displays.console": ("POST", "/events/{event_a}/screens", MANAGE_POST, {"data": {"name": "侧屏"}}),
    "displays.screen_edit": (
        "POST",
        "/events/{event_a}/screens/{screen_a}",
        MANAGE_POST,
        {"data": {"action": "rename", "name": "主屏二"}},
    ),
}


def test_matrix_names_every_route(app):
    assert set(MATRIX) == {rule.endpoint for rule in app.url_map.iter_rules()}


@pytest.fixture
def world(app, campaign, make_user, make_event, pdf_bytes):
    users = {
        "hq": make_user(Role.HQ, username="hqboss"),
        "secretariat": make_user(Role.SECRETARIAT, username="secret"),
        "province": make_user(Role.PROVINCE, "11", username="bjstaff"),
        "province_other": make_user(Role.PROVINCE, "33", username="zjstaff"),
        "organizer": make_user(Role.ORGANIZER, "11", username="bjorg"),
        "organizer_unassigned": make_user(Role.ORGANIZER, "11", username="bjorg2"),
    }
    zj_org = make_user(Role.ORGANIZER, "33", username="zjorg")
    unit_bj = register_unit(province_code="11", credit_code="914403001922038216")
    unit_zj = register_unit(province_code="33", credit_code="91440300MA5H0HLK5U")
    users.update(submitter=unit_bj.account, submitter_other=unit_zj.account)
    event_a = make_event("11", actor=users["province"])
    event_a.organizers.append(users["organizer"])
    event_a.attachment_key, event_a.attachment_name = store_upload(
        __import__("werkzeug.datastructures", fromlist=["FileStorage"]).FileStorage(io.BytesIO(pdf_bytes), "a.pdf"),
        "attachment",
    )
    event_b = make_event("33", actor=users["province_other"])
    screen_a = screens.create_screen(event_a, "主屏", actor=users["province"], now=NOW)
    ids = {
        "screen_a": screen_a.id,
        "screen_token": screen_a.token,
        "event_a": event_a.id,
        "event_b": event_b.id,
        "zj_org": zj_org.id,
        "walk_in": event_a.walk_in_code,
        "unit_bj": unit_bj.id,
        "unit_zj": unit_zj.id,
    }
    guests = [
        add_guest(
            event_a,
            actor=users["province"],
            now=NOW,
            name=n,
            category=GuestCategory.CONSUMER,
            level=None,
            organisation="",
            title="",
            phone=None,
            note="",
        )
        for n in ("甲", "乙", "丙")
    ]
    token, _ = create_api_token(event_a, "扫码枪", actor=users["province"], now=NOW)
    ids.update(
        guest_a=guests[0].id, code_a=guests[0].code, code_b=guests[1].code, guest_c=guests[2].id, token_a=token.id
    )
    # inside event A's check-in window, so that scans can succeed
    app.config["FROZEN_NOW"] = event_a.starts_at + timedelta(minutes=30)
    rated = add_guest(
        event_a,
        actor=users["province"],
        now=NOW,
        name="丁",
        category=GuestCategory.MEDIA,
        level=None,
        organisation="",
        title="",
        phone=None,
        note="",
    )
    check_in(rated.code, via=CheckInVia.PHONE, now=event_a.starts_at)
    db.session.refresh(rated)
    photo = clean_photo(_jpeg())
    rating, _ = submit_rating(
        rated,
        stars={d.id: 5 for d in dimensions(campaign.id)},
        comment="很好",
        display=Display.CATEGORY,
        now=event_a.starts_at,
        photo_consent=True,
        photo=(store_bytes(photo.original, "photo", "jpg"), store_bytes(photo.web, "photo", "jpg")),
    )
    ids.update(code_d=rated.code, rating_d=rating.id)
    own = clean_photo(_jpeg())
    own_web = store_bytes(own.web, "photo", "jpg")
    add_own_photo(event_a, store_bytes(own.original, "photo", "jpg"), own_web, "现场", actor=users["province"], now=NOW)
    ids.update(own_photo=own_web, summary_bj=province_summary(campaign, "11").id)
    for code, key in (("11", "plan_bj"), ("33", "plan_zj")):
        plan = plans.plan_for(campaign, code)
        plans.save_plan(plan, actor=users["province"], now=NOW, **TEXTS)
        plan.document_key, _ = store_upload(
            __import__("werkzeug.datastructures", fromlist=["FileStorage"]).FileStorage(io.BytesIO(pdf_bytes), "p.pdf"),
            "plan_document",
        )
        plan.document_name = "p.pdf"
        plans.submit_plan(plan, actor=users["province"], now=NOW)
        ids[key] = plan.id
    work = works.create_work(
        unit_bj,
        campaign,
        actor=unit_bj.account,
        now=NOW,
        title="认证让养老更安心",
        category=WorkCategory.TEXT,
        completed_on=date(2024, 6, 1),
        contact_name="王小明",
        contact_phone="13812345678",
        summary="简介",
    )
    text = works.receive(FileStorage(io.BytesIO("作品正文".encode()), "正文.txt"), "txt", lambda size: None)
    text_file = works.attach_text_file(work, text, actor=unit_bj.account, now=NOW, text="作品正文")
    ids.update(work_bj=work.id, file_bj=text_file.id)
    ids["rec_bj"] = recommendations.request(work, actor=unit_bj.account, now=NOW).id
    # the requests run in the week, after the works deadline: the unit has an extension
    submission.extend_deadline(unit_bj, campaign, date(2024, 10, 31), "", actor=users["secretariat"], now=NOW)
    video = works.create_work(
        unit_bj,
        campaign,
        actor=unit_bj.account,
        now=NOW,
        title="认证让出行更放心",
        category=WorkCategory.VIDEO,
        completed_on=date(2024, 6, 1),
        contact_name="王小明",
        contact_phone="13812345678",
        summary="简介",
    )
    upload = transfers.create_upload(
        unit_bj.account,
        transfers.purpose("work-video"),
        target=str(video.id),
        length=10,
        filename="a.mp4",
        now=app.config["FROZEN_NOW"],  # the clock the requests read: an upload expires a day after its last chunk
    )
    target = base64.b64encode(str(video.id).encode()).decode()
    ids.update(upload_bj=upload.id, video_meta=f"purpose {base64.b64encode(b'work-video').decode()},target {target}")
    ids.update(_screening(campaign, users, work, video))
    job = jobs.start("invitations", owner=users["province"], now=NOW, event_id=event_a.id)
    db.session.commit()
    jobs.enqueue(job)
    ids["job"] = job.id
    db.session.commit()
    return users, ids


def _screening(campaign, users, work, video) -> dict:
    """Two experts from Guangdong (no conflict with the Beijing unit); round 1 open with the
    reviewer assigned the text work (``assigned_a``) and the other expert the video
    (``assigned_b``); round 2 open with the other expert on the text work (``assigned_c``):
    for the reviewer an unassigned work and another round."""
    for role, name in (("reviewer", "expert_a"), ("reviewer_other", "expert_b")):
        users[role] = experts.create_expert(
            username=name,
            display_name=name,
            organisation="广东省标准化研究院",
            credit_code=None,
            province_code="44",
            password=PASSWORD,
            actor=users["secretariat"],
            now=NOW,
        )
        users[role].must_change_password = False
    first = rounds.create_round(campaign, actor=users["secretariat"], now=NOW)
    second = rounds.create_round(campaign, actor=users["secretariat"], now=NOW)
    first.state = second.state = RoundState.OPEN  # opened as if after the deadline (open_round would refuse now)
    db.session.flush()
    ids = {"round_1": first.id, "round_2": second.id, "expert_a": users["reviewer"].id}
    for key, round_, shown, expert in (
        ("a", first, work, "reviewer"),
        ("b", first, video, "reviewer_other"),
        ("c", second, work, "reviewer_other"),
    ):
        entry = db.session.scalar(sa.select(Entry).filter_by(round_id=round_.id, work_id=shown.id))
        if entry is None:
            entry = Entry(round_id=round_.id, work_id=shown.id, entered_at=NOW)
            db.session.add(entry)
            db.session.flush()
        assignment = Assignment(entry_id=entry.id, round_id=round_.id, expert_id=users[expert].id, assigned_at=NOW)
        db.session.add(assignment)
        db.session.flush()
        ids[f"entry_{key}"], ids[f"assigned_{key}"] = entry.id, assignment.id
    # the video work selected in round 1 and the selection in its 公示 (the world's clock is in September)
    ids["work_video"] = video.id
    db.session.add(
        Decision(
            entry_id=ids["entry_b"],
            pass_no=1,
            outcome=Outcome.SELECTED,
            decided_by_id=users["secretariat"].id,
            decided_at=NOW,
            applied_at=NOW,
            applied_by_id=users["secretariat"].id,
        )
    )
    publication = Publication(
        campaign_id=campaign.id,
        starts_on=date(2024, 9, 1),
        ends_on=date(2024, 9, 30),
        published_by_id=users["secretariat"].id,
        published_at=NOW,
    )
    db.session.add(publication)
    db.session.flush()
    objection = Objection(
        publication_id=publication.id,
        work_id=video.id,
        name="李女士",
        phone="13900001111",
        reason="作品中的画面与实际服务不符。",
        notice_version="2024-1",
        created_at=NOW,
    )
    db.session.add(objection)
    db.session.flush()
    ids["objection_a"] = objection.id
    blind.request_copies(first, now=NOW, actor=users["secretariat"])
    db.session.commit()  # the copies' job runs on commit (immediate in the tests)
    copy = blind.copies_for(work)[0]
    ids["copy_a"] = copy.id
    return ids


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(buf, "JPEG")
    return buf.getvalue()


def _denials() -> int:
    """Refusals on record, one way or the other: ``access.denied`` rows (the first 20 of a
    user's minute), the ``access.denied_count`` entries of minutes over, and the counts of
    minutes not over yet (the clock is frozen here), which tests/core/test_budgets.py shows
    becoming entries when the minute ends."""
    rows = db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "access.denied")
    )
    written = sum(
        e.detail["count"]
        for e in db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "access.denied_count"))
    )
    waiting = sum(c.count for c in unwritten_refusal_counts(clock_now() + timedelta(minutes=1)))
    return rows + written + waiting


@pytest.mark.parametrize("role", ROLES)
def test_role_walks_every_route(app, world, role):
    users, ids = world
    client = app.test_client()
    if role != "anonymous":
        assert client.post("/login", data={"username": users[role].username, "password": PASSWORD}).status_code == 302
    wrong = []
    walk = [*SECOND_METHOD.items(), *MATRIX.items()]  # the second methods before MATRIX's logout
    for endpoint, (method, template, expected, *extra) in walk:
        before = _denials()
        url = template.format(**ids)
        kwargs = {
            k: ({kk: str(vv).format(**ids) for kk, vv in v.items()} if isinstance(v, dict) else v)
            for k, v in (extra[0] if extra else {"data": {"active": "1"}} if method == "POST" else {}).items()
        }
        r = client.open(url, method=method, **kwargs)
        r.close()  # file downloads stream
        if r.status_code != expected[role]:
            wrong.append(f"{role} {method} {url}: {r.status_code}, expected {expected[role]}")
        refusal = expected[role] in (403, 404) and endpoint not in PUBLIC_NOT_FOUND
        if role != "anonymous" and refusal and _denials() != before + 1:
            wrong.append(f"{role} {method} {url}: refusal not audit-logged")
        if (
            role == "anonymous"
            and expected[role] == 302
            and endpoint
            not in (
                "accounts.language",
                "accounts.switch_language",
                "accounts.logout",
            )
        ):
            assert "/login" in r.headers["Location"]
    assert not wrong, "\n".join(wrong)


def test_an_expert_reaches_only_the_works_assigned_to_them(app, world):
    """The reviewer: their work in round 1; the other expert's work in round 1 and the same
    work in round 2 (assigned to the other expert there) do not exist for them; the reverse
    for the other expert."""
    users, ids = world
    owners = {"a": "reviewer", "b": "reviewer_other", "c": "reviewer_other"}
    wrong = []
    for role in ("reviewer", "reviewer_other"):
        client = app.test_client()
        assert client.post("/login", data={"username": users[role].username, "password": PASSWORD}).status_code == 302
        for key, owner in owners.items():
            for suffix in ("", "/conflict"):
                before = _denials()
                r = client.get(f"/review/{ids[f'assigned_{key}']}{suffix}")
                expected = 200 if owner == role else 404
                if r.status_code != expected:
                    wrong.append(f"{role} /review/assigned_{key}{suffix}: {r.status_code}, expected {expected}")
                if expected == 404 and _denials() != before + 1:
                    wrong.append(f"{role} /review/assigned_{key}{suffix}: refusal not audit-logged")
        listed = client.get("/review").get_data(as_text=True)
        for key, owner in owners.items():
            if (f"/review/{ids[f'assigned_{key}']}" in listed) != (owner == role):
                wrong.append(f"{role}'s list and assigned_{key}")
    assert not wrong, "\n".join(wrong)


def test_isolation_holds_for_lists_and_exports(app, world, client):
    users, ids = world
    client.post("/login", data={"username": "bjstaff", "password": PASSWORD})
    page = client.get("/events").get_data(as_text=True)
    assert f'/events/{ids["event_a"]}"' in page and f'/events/{ids["event_b"]}"' not in page
    client.post("/logout")
    client.post("/login", data={"username": "bjorg2", "password": PASSWORD})
    page = client.get("/events").get_data(as_text=True)
    assert f'/events/{ids["event_a"]}"' not in page
