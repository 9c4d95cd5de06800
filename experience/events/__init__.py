from flask import Blueprint

bp = Blueprint("events", __name__)

# Importing it registers the event rules with core.permissions.
from experience.events import permissions  # noqa: E402,F401
