"""Who may do what in screening.

The works secretariat runs screening: rounds, experts, assignments, results, decisions.
An expert (role ``reviewer``) reaches only the works assigned to them, through their
assignments, and only while the assignment is theirs (a declared conflict or a removal
ends it); a round still being set up shows them nothing. Everyone else: nothing.
"""

from __future__ import annotations

from experience.accounts.models import Role
from experience.core.permissions import rule
from experience.screening.models import AssignmentState, RoundState


@rule("manage_screening")
def _manage_screening(user, obj) -> bool:
    """Rounds, experts, assignments, results and decisions: the works secretariat."""
    return user.role is Role.SECRETARIAT


@rule("review_works")
def _review_works(user, obj) -> bool:
    """An expert's own list of assigned works."""
    return user.role is Role.REVIEWER


@rule("view_assignment")
def _view_assignment(user, assignment) -> bool:
    """An expert opens a work through their own active assignment of an opened round
    (after the round closes they still read what they scored). Whether they may still
    change a score is the service's decision (the round must be open)."""
    return (
        user.role is Role.REVIEWER
        and assignment.expert_id == user.id
        and assignment.state is AssignmentState.ACTIVE
        and assignment.round.state is not RoundState.DRAFT
    )
