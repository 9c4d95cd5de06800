from flask import Blueprint

bp = Blueprint("plans", __name__)

# Importing it registers the plan rules with core.permissions.
from experience.plans import permissions  # noqa: E402,F401
