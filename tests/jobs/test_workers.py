"""Background jobs on a real worker process beside a served product: an export survives the worker being
killed mid-way (it is picked up again and finishes), and Cancel stops a running job."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import ServedProduct, csrf_post, free_port, prepare_product, product_env, signed_in


@pytest.fixture(scope="module")
def slow_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("jobs-product")
    prepare_product(product_env(workdir, free_port()), 600)
    return workdir


@pytest.fixture
def product(slow_dir, tmp_path):
    """Every sandbox answer takes 150 ms and a job's lease lasts 2 s, so a test can interrupt a job."""
    env = product_env(slow_dir, free_port(), SANDBOX_LATENCY_MS="150", BACKGROUND_JOB_STALE_SECONDS="2")
    served = ServedProduct(env, tmp_path / "product.log").start()
    yield served
    served.stop()


def job_status(session, url: str) -> str:
    return re.search(r'data-status="([a-z]+)"', session.get(url, timeout=30).text).group(1)


def wait_for(session, url: str, wanted: set[str], timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while (status := job_status(session, url)) not in wanted:
        assert time.monotonic() < deadline, f"job still {status}"
        time.sleep(0.3)
    return status


def start_export(product: ServedProduct, session) -> str:
    """An export of everyone through the Exports API: create, a look every second or more, download."""
    form = f"{product.url}/customers/export/"
    answer = csrf_post(session, form, form, {"columns": ["Id", "Email"]}, allow_redirects=False)
    assert answer.status_code == 302, answer.text[:1000]
    return product.url + answer.headers["Location"]


def test_an_export_interrupted_by_a_killed_worker_is_picked_up_again_and_finishes(product):
    session = signed_in(product.url, "marketer")
    job_url = start_export(product, session)
    wait_for(session, job_url, {"running"})
    product.stop_task_worker(kill=True)  # the worker dies mid-job
    time.sleep(2.5)  # its lease runs out
    product.start_task_worker()
    assert wait_for(session, job_url, {"succeeded", "failed"}) == "succeeded"
    page = session.get(job_url, timeout=30).text
    assert "picked up again after 1 interruption" in page
    download = session.get(job_url + "download/", timeout=30)
    assert download.status_code == 200 and download.content.startswith(b"\xef\xbb\xbfId,Email")
    ids = [line.split(",")[0] for line in download.text.splitlines()[1:]]
    assert len(ids) == len(set(ids)) == 600
    calls = int(re.search(r'data-calls-spent="(\d+)"', page).group(1))
    assert calls <= 12  # the resumed run carried on with the same Voucherify export


def test_cancel_stops_a_running_job(product):
    session = signed_in(product.url, "marketer")
    job_url = start_export(product, session)
    wait_for(session, job_url, {"running"})
    answer = csrf_post(session, job_url + "cancel/", job_url, {}, allow_redirects=False)
    assert answer.status_code == 302
    assert wait_for(session, job_url, {"cancelled", "succeeded", "failed"}) == "cancelled"
    assert session.get(job_url + "download/", timeout=30).status_code == 404
    other = signed_in(product.url, "support")
    assert other.get(job_url, timeout=30).status_code == 403
