"""One state machine for everything sent to someone by a deadline: a province's plan and
its summary today, a submitting unit's works next.

A submission starts ``NOT_SUBMITTED``. Its sender ``submit``\\ s it (``SUBMITTED``); the
receiver may ``send_back`` it with a reason (``RETURNED``), and the sender may
``withdraw`` it while the receiver has not acted on it. The rules of time:

- Deadlines are Beijing days: "by Aug 23" means until 23:59:59 that day in Beijing.
- A first submission must come by the deadline, or by the later day of an extension.
  Whether it was late is judged once, on that first submission, against the original
  deadline (an extension lets it in, it does not make it on time), and never changes.
- A returned submission may always come back, unless the return named a last day
  (``reopen_until``).
- A first submission taken back counts as never made: the next one faces the deadline
  again. A resubmission taken back is returned again, with the same comment and window.

What a capability adds (a plan's sealed document and events, HQ's confirmation) stays in
the capability, which also writes its audit entries and notices under its own names: this
module knows no capability, no audit log and no clock of its own. Refusals are
:class:`RuleError`\\ s with stable codes (see ``MESSAGES``); a model may word them for its
people through its ``messages``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from experience.core import clock
from experience.core.errors import RuleError
from experience.core.models import enum_column

#: the refusals of the state machine, by code; a model's ``messages`` may reword any of them
MESSAGES = {
    "wrong_state": _l("This action is not possible in the current state (%(state)s)."),
    "past_deadline": _l("The deadline was %(deadline)s 23:59 Beijing time. Please ask for an extension."),
    "reopen_closed": _l("After the return it could be sent again until %(date)s 23:59 Beijing time."),
    "comment_required": _l("Please say what should change."),
    "reopen_past": _l("The last day to send it again cannot be in the past."),
    "extension_past": _l("The new deadline must be later than the current one, and not in the past."),
}


@dataclass(frozen=True)
class Deadline:
    """When a first submission is due (``due``, the campaign's date) and the later day an
    extension allows (``extended_to``), both Beijing days."""

    due: date
    extended_to: date | None = None

    @property
    def day(self) -> date:
        """The last day a first submission is accepted."""
        return max(self.due, self.extended_to) if self.extended_to else self.due

    @property
    def extended(self) -> bool:
        return self.day != self.due

    def passed(self, now: datetime) -> bool:
        return now > clock.end_of_day(self.day)


def check_extension(deadline: Deadline, new_day: date, now: datetime) -> None:
    """An extension moves the deadline later, and not to a day already over.

    :raises RuleError: extension_past.
    """
    if new_day <= deadline.day or new_day < clock.beijing_today(now):
        raise RuleError("extension_past", MESSAGES["extension_past"])


class Submission:
    """Mixin for a model sent by a deadline: the shared columns and the transitions.

    The model names its state enum in ``State``; the enum has at least the members
    ``NOT_SUBMITTED``, ``SUBMITTED`` and ``RETURNED`` (values ``not_submitted``,
    ``submitted``, ``returned``) and may add its own (a plan's ``CONFIRMED``), with the
    transitions to them written in its capability. Nothing here is unique per sender:
    a sender may have many submissions (a unit's works).
    """

    #: the model's state enum
    State: ClassVar[type[enum.Enum]]
    #: the model's wording for some codes of MESSAGES
    messages: ClassVar[Mapping[str, Any]] = {}

    @declared_attr
    def state(cls) -> Mapped[Any]:
        return enum_column("state", cls.State, default=cls.State.NOT_SUBMITTED)

    #: the submission that counts for the deadline and for lateness (None until made, and
    #: again if it is withdrawn)
    first_submitted_at: Mapped[datetime | None] = mapped_column()
    #: the last time it was sent
    submitted_at: Mapped[datetime | None] = mapped_column()
    #: the first submission came after the original deadline (within an extension)
    late: Mapped[bool] = mapped_column(default=False)
    #: the last return, with what to change
    returned_at: Mapped[datetime | None] = mapped_column()
    return_comment: Mapped[str] = mapped_column(sa.Text, default="")
    #: after a return, the last Beijing day it may come back (None: any time)
    reopen_until: Mapped[date | None] = mapped_column()
    #: the last time its sender took it back
    withdrawn_at: Mapped[datetime | None] = mapped_column()

    @property
    def editable(self) -> bool:
        """With its sender: never sent, taken back, or returned."""
        return self.state in (self.State.NOT_SUBMITTED, self.State.RETURNED)

    def refusal(self, code: str, **params: Any) -> RuleError:
        """The RuleError for ``code``, in the model's words if it has its own."""
        return RuleError(code, self.messages.get(code, MESSAGES.get(code)), **params)

    def wrong_state(self) -> RuleError:
        """The refusal of a transition the current state does not allow (also for the
        capability's own transitions, such as confirming a plan)."""
        return self.refusal("wrong_state", state=str(getattr(self.state, "label", self.state)))

    def submit(self, now: datetime, deadline: Deadline) -> bool:
        """Send it to the receiver.

        :param deadline: the sender's deadline, with its extension if any
        :returns: whether this is the first submission (a resubmission after a return is not)
        :raises RuleError: wrong_state; past_deadline for a first submission after the
            deadline's day; reopen_closed for a returned one after its ``reopen_until``.
        """
        if self.state is self.State.RETURNED:
            if self.reopen_until is not None and now > clock.end_of_day(self.reopen_until):
                raise self.refusal("reopen_closed", date=self.reopen_until.isoformat())
            first = False
        elif self.state is self.State.NOT_SUBMITTED:
            if deadline.passed(now):
                raise self.refusal("past_deadline", deadline=deadline.day.isoformat())
            self.first_submitted_at = now
            self.late = now > clock.end_of_day(deadline.due)
            first = True
        else:
            raise self.wrong_state()
        self.state = self.State.SUBMITTED
        self.submitted_at = now
        return first

    def send_back(self, reason: str, now: datetime, reopen_until: date | None = None) -> str:
        """The receiver returns it with what to change.

        :param reopen_until: the last Beijing day it may come back; None for any time
        :returns: the reason as kept (stripped)
        :raises RuleError: wrong_state, comment_required, reopen_past.
        """
        if self.state is not self.State.SUBMITTED:
            raise self.wrong_state()
        reason = reason.strip()
        if not reason:
            raise self.refusal("comment_required")
        if reopen_until is not None and reopen_until < clock.beijing_today(now):
            raise self.refusal("reopen_past")
        self.state = self.State.RETURNED
        self.return_comment = reason
        self.returned_at = now
        self.reopen_until = reopen_until
        return reason

    def withdraw(self, now: datetime) -> None:
        """The sender takes it back before the receiver acted on it.

        A first submission taken back counts as never made (first_submitted_at, submitted_at
        and late are cleared; the audit log keeps it); one sent again after a return goes
        back to RETURNED, with the same comment and reopen_until.

        :raises RuleError: wrong_state.
        """
        if self.state is not self.State.SUBMITTED:
            raise self.wrong_state()
        if self.returned_at is None:
            self.state = self.State.NOT_SUBMITTED
            self.first_submitted_at = self.submitted_at = None
            self.late = False
        else:
            self.state = self.State.RETURNED
        self.withdrawn_at = now
