"""Who may read a province's plan."""

from experience.accounts.models import Role
from experience.core.permissions import rule


@rule("view_plan")
def _view_plan(user, plan) -> bool:
    """HQ reads every plan; province staff their own province's."""
    return user.role is Role.HQ or (user.role is Role.PROVINCE and plan.province_code == user.province_code)
