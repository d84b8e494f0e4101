"""The API budget's governor: agents first, background within its share, corrections from Voucherify's
headers, and one count shared by every process, in the database and in a real Redis on loopback."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from django.core.signals import request_finished, request_started

from customers_app.services import budget
from tests.conftest import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A real Redis server on loopback for this module's tests."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is missing: .ci/run installs it (apt-get install redis-server)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(params=["database", "redis"])
def governor(request, settings):
    """The budget with a 10-call window of 60 s, in the database or in Redis."""
    settings.VOUCHERIFY_RATE_LIMIT_PER_MINUTE = 10
    settings.VOUCHERIFY_RATE_LIMIT_WINDOW_SECONDS = 60
    settings.VOUCHERIFY_BACKGROUND_SHARE = 0.5
    settings.VOUCHERIFY_AGENT_RESERVE = 0.2
    settings.VOUCHERIFY_BUDGET_REDIS_URL = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    budget.reset()
    yield request.param
    budget.reset()


def test_agents_get_the_whole_limit_then_a_refusal_with_the_time(governor):
    for _ in range(10):
        assert budget.acquire(budget.INTERACTIVE).allowed
    refused = budget.acquire(budget.INTERACTIVE)
    assert not refused.allowed and refused.usage.used == 10 and refused.usage.remaining == 0
    assert time.time() < refused.retry_at <= time.time() + 61


def test_background_work_keeps_to_its_share_and_the_agents_reserve(governor):
    allowed = sum(budget.acquire(budget.BACKGROUND).allowed for _ in range(8))
    assert allowed == 5  # half of the 10-call limit
    refused = budget.acquire(budget.BACKGROUND)
    assert not refused.allowed and refused.retry_at is not None
    for _ in range(3):
        assert budget.acquire(budget.INTERACTIVE).allowed
    # 2 left, the agents' reserve: background pauses, agents still get both.
    budget.reset()
    for _ in range(8):
        budget.acquire(budget.INTERACTIVE)
    assert not budget.acquire(budget.BACKGROUND).allowed
    assert budget.acquire(budget.INTERACTIVE).allowed and budget.acquire(budget.INTERACTIVE).allowed


def test_other_clients_calls_seen_in_the_headers_are_booked(governor):
    booking = budget.acquire(budget.INTERACTIVE)
    budget.observe(limit=10, remaining=3, retry_at=None, usage=booking.usage)  # others spent 6
    usage = budget.usage()
    assert usage.calls["external"] == 6 and usage.remaining == 3


def stored_external() -> int:
    return budget.store().usage(10, time.time()).calls["external"]


def test_other_clients_calls_a_page_reveals_are_written_after_it_is_sent_and_counted_once(governor):
    request_started.send(sender=None, environ={})
    try:
        booking = budget.acquire(budget.INTERACTIVE)
        budget.observe(limit=10, remaining=3, retry_at=None, usage=booking.usage)  # others spent 6
        assert stored_external() == 0  # the page does not wait for that write
        assert budget.page_usage().remaining == 3  # though its footer counts them
        # A second call on the same page is booked against a window that has them.
        second = budget.acquire(budget.INTERACTIVE)
        assert stored_external() == 6 and second.usage.used == 7
        budget.observe(limit=10, remaining=2, retry_at=None, usage=second.usage)
    finally:
        request_finished.send(sender=None)
    assert stored_external() == 6 and budget.usage().remaining == 2


def test_answers_back_in_another_order_than_their_calls_count_other_clients_once(governor):
    """A page sends its list call, then reads the segment menu: the second answer is read first."""
    request_started.send(sender=None, environ={})
    try:
        first = budget.acquire(budget.INTERACTIVE)
        second = budget.acquire(budget.INTERACTIVE)
        # Others spent 5 before both calls reached Voucherify, which counted the first call first.
        budget.observe(limit=10, remaining=3, retry_at=None, usage=second.usage)
        budget.observe(limit=10, remaining=4, retry_at=None, usage=first.usage)
        assert budget.page_usage().remaining == 3  # the footer shows the fuller of the two views
    finally:
        request_finished.send(sender=None)
    assert stored_external() == 5 and budget.usage().remaining == 3


def test_other_clients_calls_seen_outside_a_page_are_written_at_once(governor):
    request_finished.send(sender=None)  # a background task's thread: no request around it
    booking = budget.acquire(budget.BACKGROUND)
    budget.observe(limit=10, remaining=3, retry_at=None, usage=booking.usage)
    assert stored_external() == 6


def test_a_429_blocks_every_call_until_voucherify_accepts_again(governor):
    booking = budget.acquire(budget.INTERACTIVE)
    budget.observe(limit=10, remaining=0, retry_at=time.time() + 30, usage=booking.usage)
    refused = budget.acquire(budget.INTERACTIVE)
    assert not refused.allowed and refused.retry_at == pytest.approx(time.time() + 30, abs=2)


def test_the_limit_is_learned_from_the_headers_when_not_configured(governor, settings):
    settings.VOUCHERIFY_RATE_LIMIT_PER_MINUTE = 0
    first = budget.acquire(budget.INTERACTIVE)
    assert first.allowed and first.usage.limit is None
    budget.observe(limit=3, remaining=2, retry_at=None, usage=first.usage)
    assert budget.acquire(budget.INTERACTIVE).allowed and budget.acquire(budget.INTERACTIVE).allowed
    assert not budget.acquire(budget.INTERACTIVE).allowed


def test_background_callers_wait_for_room_and_can_stop(governor, settings):
    settings.VOUCHERIFY_RATE_LIMIT_WINDOW_SECONDS = 1.2  # slots of 20 ms: room comes back quickly
    started = time.monotonic()
    for _ in range(12):
        assert budget.wait_for_room(budget.BACKGROUND, max_wait=10).allowed
    assert time.monotonic() - started > 1.0  # 12 calls at 5 per window need more than two windows
    for _ in range(5):
        budget.acquire(budget.BACKGROUND)
    with pytest.raises(budget.Refused):
        budget.wait_for_room(budget.BACKGROUND, should_stop=lambda: True)


def test_calls_made_in_a_background_block_are_counted_for_it(governor):
    with budget.background() as spent:
        assert budget.current_priority() == budget.BACKGROUND
        budget.acquire()
        budget.acquire()
    assert spent == [2] and budget.current_priority() == budget.INTERACTIVE
    assert budget.usage().calls["background"] == 2


def test_two_processes_share_one_redis_window(redis_url, settings, tmp_path):
    """Another process (a second app server) books into the same window."""
    settings.VOUCHERIFY_RATE_LIMIT_PER_MINUTE = 10
    settings.VOUCHERIFY_BUDGET_REDIS_URL = redis_url
    budget.reset()
    script = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'dashboard.settings'; django.setup();"
        "from customers_app.services import budget;"
        "print(sum(budget.acquire('interactive').allowed for _ in range(7)))"
    )
    env = {"CACHE_URL": redis_url, "VOUCHERIFY_RATE_LIMIT_PER_MINUTE": "10", "PATH": "/usr/bin:/bin"}
    import sys

    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "7"
    assert sum(budget.acquire(budget.INTERACTIVE).allowed for _ in range(7)) == 3
