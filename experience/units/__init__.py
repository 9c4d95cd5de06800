"""Submitting units (作品报送单位): self-registration with a credit code, the call for works,
and the secretariat's list, disabling and handover."""

from flask import Blueprint

bp = Blueprint("units", __name__)

# Importing it registers the unit rules with core.permissions.
from experience.units import permissions  # noqa: E402,F401
