"""Entry point for the background worker: ``huey_consumer experience.worker.huey -w 1``.

The consumer imports this module: it builds the app once, and every job runs in its
context (core.jobs)."""

from experience import create_app
from experience.core import jobs

app = create_app()
jobs.bind(app)
huey = jobs.huey
