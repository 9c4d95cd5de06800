"""Resumable uploads (tus 1.0.0): big files in chunks that survive dropped connections,
reloads and sleeping laptops, for any capability that registers a purpose (works' videos
and photos). See services.py for the protocol's rules and views.py for its HTTP side."""

from flask import Blueprint

bp = Blueprint("transfers", __name__)

# Importing them registers the rule with core.permissions and the clean-up with the worker.
from experience.transfers import jobs, permissions  # noqa: E402,F401
