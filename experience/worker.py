"""Entry point for the background worker: ``huey_consumer experience.worker.huey -w 1``.

The consumer imports this module: it builds the app once, and every job runs in its
context (core.jobs)."""

import os

from experience import create_app
from experience.core import jobs

# The worker yields the CPU to the web workers: a video's playable copy or a printout of
# thousands of cards may take minutes, a check-in must not wait behind it. WORKER_NICE
# changes how far (the test suite's own processes are not check-ins: it runs one at 0).
os.nice(int(os.environ.get("WORKER_NICE", "10")))

app = create_app()
jobs.bind(app)
huey = jobs.huey
