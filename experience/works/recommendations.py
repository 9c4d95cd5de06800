"""推荐单位意见: a province's recommendation of a work (附件2, optional).

The registration form's last box is the opinion of a recommending unit, which must be a
local market regulation department. Here the unit asks the market regulation department
of its province; that province's staff recommend the work with 附件2's standard sentence
or decline with a reason. Each request is a ``Recommendation`` row and the latest counts:

- the unit asks while it may change the work, or after submitting it (the province's
  opinion is not part of the sealed form's version: ``submission.form_fields``); not while
  a request waits, nor once the work was recommended; again after a decline or after
  taking a request back;
- the unit may take back a request nobody answered yet (``withdraw``);
- the province's staff recommend or decline (the reason is required; the unit reads it).

Two staff of a province may answer the same request at once, or the unit take it back
while they do: every answer is one conditional ``UPDATE … WHERE state = 'requested'``, so
the first wins and the other is told who answered (or that the unit took it back). A new
request first locks the work's row (PostgreSQL; SQLite runs one write transaction at a
time already), so that two clicks never open two requests.

Rules as plain functions: each writes its audit entry and its notice; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import contains_eager, joinedload

from experience.accounts.models import Province, Role
from experience.campaigns.models import Campaign
from experience.core import audit, clock
from experience.core.errors import RuleError
from experience.core.permissions import can, rule
from experience.extensions import db
from experience.notices.services import notify
from experience.works import submission
from experience.works.models import Recommendation, RecommendationState, Work, WorkState

MESSAGES = {
    "request_open": _l("A request for the province's recommendation is already waiting for an answer."),
    "already_recommended": _l("The province has already recommended this work."),
    "not_the_province": _l(
        "Only the staff of the market regulation department that was asked can answer this request."
    ),
    "withdrawn_meanwhile": _l("The unit took this request back meanwhile: there is nothing to answer."),
    "answered_meanwhile": _l("%(who)s already answered this request at %(at)s (%(state)s)."),
    "answered_already": _l("The province already answered this request (%(state)s): it can no longer be taken back."),
    "withdrawn_already": _l("This request was already taken back."),
    "reason_required": _l("Please give the reason for declining: the unit reads it."),
    "reason_too_long": _l("The reason may have at most %(max)s characters."),
}

#: a decline's reason, at most (characters)
REASON_MAX_CHARS = 1000
#: requests on a page of the province's list
PAGE_SIZE = 50

REQUESTED = RecommendationState.REQUESTED


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


# -- Who may do what -------------------------------------------------------------------------


def _own(user, work: Work) -> bool:
    return user.role is Role.SUBMITTER and user.unit_id is not None and work.unit_id == user.unit_id


@rule("request_recommendation")
def _request_recommendation(user, work) -> bool:
    """Only the work's unit asks; whether it may now is the rule's decision (``request_refusal``)."""
    return _own(user, work)


@rule("withdraw_recommendation")
def _withdraw_recommendation(user, recommendation) -> bool:
    return _own(user, recommendation.work)


@rule("decide_recommendation")
def _decide_recommendation(user, recommendation) -> bool:
    """The staff of the province that was asked; for anyone else the request does not exist."""
    return user.role is Role.PROVINCE and user.province_code == recommendation.province_code


@rule("list_recommendations")
def _list_recommendations(user, obj) -> bool:
    """A province's staff list the requests their province received."""
    return user.role is Role.PROVINCE and user.province_code is not None


# -- What the form says ----------------------------------------------------------------------


def recommender_name(province_code: str) -> str:
    """The recommending unit as the form names it: the province's market regulation
    department, e.g. 北京市市场监督管理局. A proper name, so it is Chinese in every language
    of the interface (as it is printed on the registration form)."""
    province = db.session.get(Province, province_code)
    with force_locale("zh_CN"):
        return gettext("%(province)s Administration for Market Regulation", province=province.name)


def sentence(recommendation: Recommendation | None = None):
    """附件2's sentence in the wording the recommendation was given with (the current one
    for a request not answered yet)."""
    version = recommendation.text_version if recommendation is not None and recommendation.text_version else ""
    return submission.RECOMMENDATION_TEXTS[version or submission.RECOMMENDATION_VERSION]


def open_request(work: Work) -> Recommendation | None:
    latest = work.recommendation
    return latest if latest is not None and latest.state is REQUESTED else None


# -- The unit asks, or takes its request back ------------------------------------------------


def request_refusal(work: Work, now: datetime) -> RuleError | None:
    """Why the unit cannot ask for a recommendation now (None: it can)."""
    latest = work.recommendation
    if latest is not None and latest.state is REQUESTED:
        return _fail("request_open")
    if latest is not None and latest.state is RecommendationState.RECOMMENDED:
        return _fail("already_recommended")
    if work.state is WorkState.SUBMITTED:
        return None  # a recommendation may come after submission: the sealed form stays valid
    return submission.edit_refusal(work, now)


def request(work: Work, *, actor, now: datetime, ip: str = "") -> Recommendation:
    """The unit asks the market regulation department of its province to recommend the work.

    :raises RuleError: request_open, already_recommended, and the refusals of
        ``submission.edit_refusal`` (deadline_passed, reopen_closed, …) for a work that is
        not submitted and cannot be changed any more.
    """
    db.session.execute(sa.select(Work.id).where(Work.id == work.id).with_for_update())
    db.session.refresh(work, ["recommendations"])  # a request made meanwhile counts
    refusal = request_refusal(work, now)
    if refusal is not None:
        raise refusal
    recommendation = Recommendation(
        work=work,
        province_code=work.unit.province_code,
        state=REQUESTED,
        requested_by_id=actor.id,
        requested_at=now,
    )
    db.session.add(recommendation)
    db.session.flush()
    audit.record(
        "work.recommendation_request",
        now=now,
        actor=actor,
        target=work,
        ip=ip,
        recommendation=recommendation.id,
        number=work.number,
    )
    notify(
        recommendation.province_code,
        "recommendation_requested",
        now=now,
        link=("works.view", {"work_id": work.id}),
        unit=work.unit.name,
        title=work.title,
    )
    return recommendation


def withdraw(recommendation: Recommendation, *, actor, now: datetime, ip: str = "") -> None:
    """The unit takes back a request the province has not answered yet.

    :raises RuleError: withdrawn_already, answered_already.
    """
    if not _close(recommendation, RecommendationState.WITHDRAWN, actor=actor, now=now):
        if recommendation.state is RecommendationState.WITHDRAWN:
            raise _fail("withdrawn_already")
        raise _fail("answered_already", state=str(recommendation.state.label))
    audit.record(
        "work.recommendation_withdraw",
        now=now,
        actor=actor,
        target=recommendation.work,
        ip=ip,
        recommendation=recommendation.id,
    )


# -- The province answers ----------------------------------------------------------------------


def recommend(recommendation: Recommendation, *, actor, now: datetime, ip: str = "") -> None:
    """The province recommends the work with 附件2's sentence (in its current wording).

    :raises RuleError: not_the_province, withdrawn_meanwhile, answered_meanwhile.
    """
    _check_decider(recommendation, actor)
    version = submission.RECOMMENDATION_VERSION
    if not _close(recommendation, RecommendationState.RECOMMENDED, actor=actor, now=now, text_version=version):
        raise _answered(recommendation)
    work = recommendation.work
    audit.record(
        "work.recommendation_give",
        now=now,
        actor=actor,
        target=work,
        ip=ip,
        recommendation=recommendation.id,
        number=work.number,
        text_version=version,
    )
    _notify_unit(work, "recommendation_given", now, province=recommender_name(recommendation.province_code))


def decline(recommendation: Recommendation, reason: str, *, actor, now: datetime, ip: str = "") -> None:
    """The province declines to recommend the work, saying why.

    :raises RuleError: reason_required, reason_too_long, not_the_province,
        withdrawn_meanwhile, answered_meanwhile.
    """
    reason = (reason or "").strip()
    if not reason:
        raise _fail("reason_required")
    if len(reason) > REASON_MAX_CHARS:
        raise _fail("reason_too_long", max=REASON_MAX_CHARS)
    _check_decider(recommendation, actor)
    if not _close(recommendation, RecommendationState.DECLINED, actor=actor, now=now, reason=reason):
        raise _answered(recommendation)
    work = recommendation.work
    audit.record(
        "work.recommendation_decline",
        now=now,
        actor=actor,
        target=work,
        ip=ip,
        recommendation=recommendation.id,
        number=work.number,
        reason=reason,
    )
    _notify_unit(
        work, "recommendation_declined", now, province=recommender_name(recommendation.province_code), reason=reason
    )


def _check_decider(recommendation: Recommendation, actor) -> None:
    # The views let only the province's staff reach here; the rule holds for any other caller too.
    if not can(actor, "decide_recommendation", recommendation):
        raise _fail("not_the_province")


def _close(recommendation: Recommendation, state: RecommendationState, *, actor, now: datetime, **values) -> bool:
    """Move an open request to ``state`` in one conditional UPDATE; False when it was no
    longer open (answered or taken back by someone else first). The row is read again
    either way, so the caller sees what happened."""
    result = db.session.execute(
        sa.update(Recommendation)
        .where(Recommendation.id == recommendation.id, Recommendation.state == REQUESTED)
        .values(state=state, decided_by_id=actor.id, decided_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(recommendation)
    return result.rowcount == 1


def _answered(recommendation: Recommendation) -> RuleError:
    if recommendation.state is RecommendationState.WITHDRAWN:
        return _fail("withdrawn_meanwhile")
    who = recommendation.decided_by
    return _fail(
        "answered_meanwhile",
        who=(who.display_name or who.username) if who is not None else "—",
        at=clock.to_beijing(recommendation.decided_at).strftime("%Y-%m-%d %H:%M") if recommendation.decided_at else "",
        state=str(recommendation.state.label),
    )


def _notify_unit(work: Work, kind: str, now: datetime, **params) -> None:
    account = work.unit.account
    if account is not None:
        link = ("works.view", {"work_id": work.id})
        notify(None, kind, user_id=account.id, now=now, link=link, title=work.title, **params)


# -- The province's list -----------------------------------------------------------------------


def _current_campaign_id():
    return sa.select(Campaign.id).order_by(Campaign.year.desc()).limit(1).scalar_subquery()


def requests_to(province_code: str, campaign: Campaign, *, page: int = 1) -> tuple[list[Recommendation], bool]:
    """One page of the requests a province received for the campaign's works: those
    waiting first (oldest first), then the others (latest answer first), each with its
    work, unit and decider loaded in the same query; and whether more follow."""
    waiting = Recommendation.state == REQUESTED
    fetched = list(
        db.session.scalars(
            sa.select(Recommendation)
            .join(Recommendation.work)
            .where(Recommendation.province_code == province_code, Work.campaign_id == campaign.id)
            .options(
                contains_eager(Recommendation.work).joinedload(Work.unit),
                joinedload(Recommendation.decided_by),
            )
            .order_by(
                sa.case((waiting, 0), else_=1),
                sa.case((waiting, Recommendation.requested_at)),
                Recommendation.decided_at.desc(),
                Recommendation.id.desc(),
            )
            .limit(PAGE_SIZE + 1)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    return fetched[:PAGE_SIZE], len(fetched) > PAGE_SIZE


def waiting_count(province_code: str) -> int:
    """How many requests of the current campaign wait for the province's answer (one query)."""
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Recommendation)
            .join(Recommendation.work)
            .where(
                Recommendation.province_code == province_code,
                Recommendation.state == REQUESTED,
                Work.campaign_id == _current_campaign_id(),
            )
        )
        or 0
    )
