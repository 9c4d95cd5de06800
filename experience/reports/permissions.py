"""Who may read a province's summary."""

from experience.accounts.models import Role
from experience.core.permissions import rule


@rule("view_summary")
def _view_summary(user, province) -> bool:
    """HQ reads every province's summary; province staff their own."""
    return user.role is Role.HQ or (user.role is Role.PROVINCE and province.province_code == user.province_code)
