"""The duplicate storm (used by run.py): many requests claim the same guest at once.

The ladders send every request with a fresh code, so two requests never race for one
guest there. Here ``connections`` keep-alive connections (32 by default) each walk the
same list of codes in the same order, in step: every connection sends code i at the same
moment (a barrier per code), so each guest is claimed by that many requests at once, as
when many scanners and the guest's own phone read one invitation. Without the barrier the
connections drift apart within a few codes (a connection stays with one worker, and the
workers are not equally busy), and after a hundred codes the requests for one code are
seconds apart and no longer race. Each answer is read and classified, so the caller can
tell how many requests were told "checked in" for each code (exactly one should be), and
the database is checked afterwards.

A client of threads and ``http.client`` rather than wrk: wrk cannot stop once a list is
done, and the storm is about what each answer said, not about speed.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

#: what an answer was: the claim ("ok"), a repeat ("already"), refused by a rate limit
#: ("limited"), a server error (5xx), anything else ("unexpected"), or no answer at all
#: ("socket_error": timeout, reset)
KINDS = ("ok", "already", "limited", "server_error", "unexpected", "socket_error")


@dataclass
class Request:
    path: str
    body: bytes
    headers: dict


@dataclass
class StormResult:
    codes: int
    connections: int
    seconds: float
    answers: Counter = field(default_factory=Counter)
    #: code -> how many requests were answered "ok" for it
    ok_per_code: Counter = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return sum(self.answers.values())

    def codes_answered_ok(self, times: int) -> int:
        if times == 0:
            return self.codes - len(self.ok_per_code)
        return sum(1 for n in self.ok_per_code.values() if n == times)

    @property
    def codes_answered_ok_more_than_once(self) -> int:
        return sum(1 for n in self.ok_per_code.values() if n > 1)


def classify_api(status: int, body: bytes) -> str:
    """The scanner API: 201 with result ok is the check-in, 200 already_checked_in a repeat."""
    if status >= 500:
        return "server_error"
    if status == 429:
        return "limited"
    try:
        result = json.loads(body).get("result")
    except ValueError:
        result = None
    if status == 201 and result == "ok":
        return "ok"
    if status == 200 and result == "already_checked_in":
        return "already"
    return "unexpected"


def classify_page(marker: str) -> Callable[[int, bytes], str]:
    """The phone's tap: a 200 page either way; the success page carries ``marker``."""
    needle = marker.encode()

    def classify(status: int, body: bytes) -> str:
        if status >= 500:
            return "server_error"
        if status == 429:
            return "limited"
        if status == 200:
            return "ok" if needle in body else "already"
        return "unexpected"

    return classify


def run_storm(
    port: int,
    codes: list[str],
    connections: int,
    request: Callable[[str, int, int], Request],
    classify: Callable[[int, bytes], str],
    timeout: float = 30,
) -> StormResult:
    """Every connection sends ``request(code, connection, i)`` for each code in turn."""
    answers = [Counter() for _ in range(connections)]
    oks: list[list[str]] = [[] for _ in range(connections)]
    in_step = threading.Barrier(connections)

    def walk(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            for i, code in enumerate(codes):
                r = request(code, n, i)
                in_step.wait(timeout=2 * timeout)
                answers[n][kind := send(conn, r, classify)] += 1
                if kind == "ok":
                    oks[n].append(code)
        except threading.BrokenBarrierError:
            pass  # a connection stopped: the answers missing show in the counts
        finally:
            in_step.abort()  # done, or stopped: no other connection waits for this one
            conn.close()

    threads = [threading.Thread(target=walk, args=(n,), daemon=True) for n in range(connections)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = StormResult(len(codes), connections, round(time.monotonic() - began, 1))
    for counter, ok in zip(answers, oks, strict=True):
        result.answers.update(counter)
        result.ok_per_code.update(ok)
    return result


def send(conn: http.client.HTTPConnection, r: Request, classify: Callable[[int, bytes], str]) -> str:
    try:
        conn.request("POST", r.path, body=r.body, headers=r.headers)
        response = conn.getresponse()
        return classify(response.status, response.read())
    except (OSError, http.client.HTTPException):
        conn.close()  # the next request opens a new connection
        return "socket_error"
