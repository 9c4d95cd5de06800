"""gunicorn settings for `make run`, the benchmark and production (gunicorn reads this
file from the working directory; command-line flags override it).

Threads, not only processes: a guest's phone on weak venue Wi-Fi, or an organiser's 20 MB
upload, keeps its connection open for seconds; with sync workers each such client would
hold a whole worker and queue the check-ins behind it. In production put nginx in front
as well: it buffers request bodies (`proxy_request_buffering on`, its default), so the
app only ever sees complete requests.
"""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
worker_class = "gthread"
# each worker accepts connections whatever its pool holds, so give it room: a slow client
# costs a thread (idle, waiting on the network), not a process
threads = int(os.environ.get("WEB_THREADS", 16))
# a client that sends nothing for this long is dropped
timeout = 30
keepalive = 5
accesslog = "-"
