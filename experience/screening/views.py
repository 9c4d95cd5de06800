"""Screening's pages, one module per part; importing this module registers them all on ``bp``."""

from experience.screening import (  # noqa: F401
    assignment_views,
    expert_views,
    prescreen_views,
    publication_views,
    results_views,
    round_views,
    scoring_views,
)
from experience.screening import bp as bp
