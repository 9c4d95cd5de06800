"""Works (作品征集): what units submit for the call for works, and the rules their files pass."""

from flask import Blueprint

bp = Blueprint("works", __name__)

# Importing it registers the works' rules with core.permissions and its file reader with core.files.
from experience.works import permissions  # noqa: E402,F401
