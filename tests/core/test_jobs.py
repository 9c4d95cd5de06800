"""Background jobs as their users meet them: a waiting page, a download, a failure said."""

import contextlib

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core import jobs
from experience.core.jobs import Job, JobState
from experience.extensions import db
from tests.conftest import NOW

CALLS = []


@jobs.handler("test-echo")
def _echo(job, progress):
    CALLS.append(job.id)
    for i in range(1, 4):
        progress(i, 3)
    return ("你好 " + job.params["word"]).encode(), "echo.pdf"


@jobs.handler("test-broken")
def _broken(job, progress):
    CALLS.append(job.id)
    raise RuntimeError("the printer caught fire")


@pytest.fixture
def owner(make_user):
    return make_user(Role.PROVINCE, "11", username="bjstaff")


def _run(kind, owner, **params) -> Job:
    job = jobs.start(kind, owner=owner, now=NOW, **params)
    db.session.commit()
    with contextlib.suppress(RuntimeError):  # immediate mode lets the last attempt's error through
        jobs.enqueue(job)
    db.session.expire_all()
    return db.session.get(Job, job.id)


def test_a_job_runs_once_and_its_owner_downloads_the_result(client, auth, owner, make_user):
    CALLS.clear()
    job = _run("test-echo", owner, word="世界")
    assert (job.state, job.done, job.total, job.attempts) == (JobState.DONE, 3, 3, 1)
    auth.login("bjstaff")
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "echo.pdf" in page and f"/jobs/{job.id}/result" in page and 'http-equiv="refresh"' not in page
    with client.get(f"/jobs/{job.id}/result") as r:
        assert r.status_code == 200 and r.data == "你好 世界".encode()
    jobs.run_job(job.id)  # idempotent: a job already done is not run again
    assert [job.id] == CALLS
    auth.logout()
    make_user(Role.PROVINCE, "11", username="bjother")
    auth.login("bjother")
    assert client.get(f"/jobs/{job.id}").status_code == 404  # only its owner sees it
    assert client.get(f"/jobs/{job.id}/result").status_code == 404


def test_a_failed_job_is_retried_then_says_so_on_its_page(client, auth, owner):
    CALLS.clear()
    job = _run("test-broken", owner)
    assert job.state is JobState.FAILED and "the printer caught fire" in job.error
    assert len(CALLS) == 1 + jobs.RETRIES
    auth.login("bjstaff")
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "没能生成" in page and 'http-equiv="refresh"' not in page
    assert client.get(f"/jobs/{job.id}/result").status_code == 404


def test_a_waiting_job_page_refreshes_itself(client, auth, owner):
    job = jobs.start("test-echo", owner=owner, now=NOW, word="x")  # recorded, not yet run
    db.session.commit()
    auth.login("bjstaff")
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert 'http-equiv="refresh" content="2"' in page
    assert db.session.scalar(sa.select(Job.state).where(Job.id == job.id)) is JobState.QUEUED
