from flask import Blueprint

bp = Blueprint("reports", __name__, cli_group=None)

# Importing it registers the summary rules with core.permissions.
from experience.reports import permissions  # noqa: E402,F401
