"""The submission state machine on its own: a model of its own (on a separate declarative
base, so the app's schema does not see it), transient rows, Beijing days."""

from __future__ import annotations

import enum
from datetime import date, datetime

import pytest
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from experience.core import clock
from experience.core.errors import RuleError
from experience.core.submissions import MESSAGES, Deadline, Submission, check_extension


class DocState(enum.Enum):
    NOT_SUBMITTED = "not_submitted"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class Base(DeclarativeBase):
    pass


class Doc(Submission, Base):
    __tablename__ = "doc"
    State = DocState
    messages = {"comment_required": "Say what the unit should change."}

    id: Mapped[int] = mapped_column(primary_key=True)


#: due Aug 23, extended to Aug 30
DUE = Deadline(date(2024, 8, 23))
EXTENDED = Deadline(date(2024, 8, 23), date(2024, 8, 30))


def bj(*args) -> datetime:
    return clock.from_beijing(datetime(*args))


def doc() -> Doc:
    return Doc(state=DocState.NOT_SUBMITTED, late=False, return_comment="")


def submitted() -> Doc:
    """Sent on Aug 20, on time."""
    d = doc()
    d.submit(bj(2024, 8, 20, 10, 0), DUE)
    return d


def refused(action) -> RuleError:
    with pytest.raises(RuleError) as e:
        action()
    return e.value


def test_first_submission_on_the_deadline_day_at_23_59_59_is_on_time():
    d = doc()
    at = bj(2024, 8, 23, 23, 59, 59)
    assert d.submit(at, DUE) is True
    assert d.state is DocState.SUBMITTED
    assert (d.first_submitted_at, d.submitted_at, d.late) == (at, at, False)


def test_first_submission_after_the_deadline_day_is_refused_naming_it():
    d = doc()
    e = refused(lambda: d.submit(bj(2024, 8, 24, 0, 0, 1), DUE))
    assert e.code == "past_deadline"
    assert "2024-08-23" in str(e)
    assert d.state is DocState.NOT_SUBMITTED
    assert d.first_submitted_at is None


def test_within_the_extension_a_first_submission_is_accepted_and_late():
    d = doc()
    d.submit(bj(2024, 8, 30, 23, 0), EXTENDED)
    assert d.state is DocState.SUBMITTED
    assert d.late is True


def test_after_the_extension_the_refusal_names_the_extended_day():
    e = refused(lambda: doc().submit(bj(2024, 8, 31, 0, 0, 1), EXTENDED))
    assert e.code == "past_deadline"
    assert "2024-08-30" in str(e)


def test_a_submitted_one_cannot_be_submitted_again():
    d = submitted()
    assert refused(lambda: d.submit(bj(2024, 8, 21, 10, 0), DUE)).code == "wrong_state"


def test_a_state_of_the_model_beyond_the_machine_refuses_submission_and_names_it():
    d = submitted()
    d.state = DocState.ACCEPTED
    e = refused(lambda: d.submit(bj(2024, 8, 21, 10, 0), DUE))
    assert e.code == "wrong_state"
    assert "accepted" in str(e)


def test_send_back_keeps_the_reason_stripped():
    d = submitted()
    assert d.send_back("  补充材料 ", bj(2024, 8, 21, 9, 0)) == "补充材料"
    assert d.state is DocState.RETURNED
    assert (d.return_comment, d.returned_at, d.reopen_until) == ("补充材料", bj(2024, 8, 21, 9, 0), None)


def test_send_back_needs_a_reason_in_the_models_words():
    e = refused(lambda: submitted().send_back("   ", bj(2024, 8, 21, 9, 0)))
    assert e.code == "comment_required"
    assert str(e) == "Say what the unit should change."


def test_codes_the_model_does_not_word_use_the_default_message():
    e = refused(lambda: submitted().send_back("x", bj(2024, 8, 21, 9, 0), reopen_until=date(2024, 8, 20)))
    assert e.code == "reopen_past"
    assert str(e) == str(MESSAGES["reopen_past"])


def test_only_a_submitted_one_can_be_sent_back():
    assert refused(lambda: doc().send_back("x", bj(2024, 8, 21, 9, 0))).code == "wrong_state"


def test_a_returned_one_comes_back_any_time_and_lateness_stays_as_judged_first():
    d = submitted()
    first = d.first_submitted_at
    d.send_back("补充", bj(2024, 8, 25, 9, 0))
    assert d.submit(bj(2024, 12, 1, 9, 0), DUE) is False
    assert d.state is DocState.SUBMITTED
    assert (d.first_submitted_at, d.submitted_at, d.late) == (first, bj(2024, 12, 1, 9, 0), False)


def test_a_return_with_a_last_day_accepts_until_its_end_in_beijing():
    d = submitted()
    d.send_back("补充", bj(2024, 8, 25, 9, 0), reopen_until=date(2024, 8, 28))
    d.submit(bj(2024, 8, 28, 23, 59, 59), DUE)
    assert d.state is DocState.SUBMITTED


def test_a_return_with_a_last_day_refuses_after_it():
    d = submitted()
    d.send_back("补充", bj(2024, 8, 25, 9, 0), reopen_until=date(2024, 8, 28))
    e = refused(lambda: d.submit(bj(2024, 8, 29, 0, 0, 1), DUE))
    assert e.code == "reopen_closed"
    assert "2024-08-28" in str(e)
    assert d.state is DocState.RETURNED


def test_a_reopen_day_today_is_allowed():
    d = submitted()
    d.send_back("补充", bj(2024, 8, 25, 9, 0), reopen_until=date(2024, 8, 25))
    assert d.reopen_until == date(2024, 8, 25)


def test_a_withdrawn_first_submission_counts_as_never_made():
    d = submitted()
    d.withdraw(bj(2024, 8, 21, 9, 0))
    assert d.state is DocState.NOT_SUBMITTED
    assert (d.first_submitted_at, d.submitted_at, d.late) == (None, None, False)
    assert d.withdrawn_at == bj(2024, 8, 21, 9, 0)
    assert d.editable


def test_after_withdrawing_a_first_submission_the_deadline_holds_again():
    d = submitted()
    d.withdraw(bj(2024, 8, 21, 9, 0))
    assert refused(lambda: d.submit(bj(2024, 8, 24, 9, 0), DUE)).code == "past_deadline"


def test_a_withdrawn_resubmission_is_returned_again_with_its_comment_and_window():
    d = submitted()
    d.send_back("补充", bj(2024, 8, 25, 9, 0), reopen_until=date(2024, 9, 1))
    d.submit(bj(2024, 8, 26, 9, 0), DUE)
    d.withdraw(bj(2024, 8, 27, 9, 0))
    assert d.state is DocState.RETURNED
    assert (d.return_comment, d.reopen_until) == ("补充", date(2024, 9, 1))
    assert d.first_submitted_at == bj(2024, 8, 20, 10, 0)


def test_only_a_submitted_one_can_be_withdrawn():
    assert refused(lambda: doc().withdraw(bj(2024, 8, 21, 9, 0))).code == "wrong_state"


def test_editable_while_with_its_sender():
    d = doc()
    assert d.editable
    d.submit(bj(2024, 8, 20, 10, 0), DUE)
    assert not d.editable
    d.send_back("补充", bj(2024, 8, 21, 9, 0))
    assert d.editable


def test_deadline_day_is_the_later_of_due_and_extension():
    assert DUE.day == date(2024, 8, 23)
    assert not DUE.extended
    assert EXTENDED.day == date(2024, 8, 30)
    assert EXTENDED.extended


def test_deadline_passes_at_midnight_beijing():
    assert not DUE.passed(bj(2024, 8, 23, 23, 59, 59))
    assert DUE.passed(bj(2024, 8, 24, 0, 0, 0))


@pytest.mark.parametrize(
    "new_day, now",
    [
        (date(2024, 8, 23), bj(2024, 8, 13, 10, 0)),  # not later than the deadline
        (date(2024, 8, 20), bj(2024, 8, 13, 10, 0)),  # earlier
        (date(2024, 8, 25), bj(2024, 8, 27, 9, 0)),  # later, but already over
    ],
)
def test_an_extension_must_be_later_and_not_over(new_day, now):
    assert refused(lambda: check_extension(DUE, new_day, now)).code == "extension_past"


def test_an_extension_to_today_is_allowed():
    check_extension(DUE, date(2024, 8, 27), bj(2024, 8, 27, 9, 0))
