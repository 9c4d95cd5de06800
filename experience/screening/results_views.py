"""(being built)"""

from experience.screening import bp  # noqa: F401
