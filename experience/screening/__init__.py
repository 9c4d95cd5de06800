"""Screening (筛选) of the submitted works: rounds, experts, assignment, blind scoring,
results and decisions (models.py explains the records)."""

from flask import Blueprint

bp = Blueprint("screening", __name__)

# Importing them registers screening's rules with core.permissions, its file reader with
# core.files, and its answer to a work sent again after 退回修改 (works.submission's signal).
from experience.screening import permissions  # noqa: E402,F401
