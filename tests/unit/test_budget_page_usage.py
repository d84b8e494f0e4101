"""The window a page's footer shows from its own call is the one the store then holds."""

from __future__ import annotations

import time

import pytest
from django.core.signals import request_started

from customers_app.services import budget

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_budget(settings):
    settings.VOUCHERIFY_RATE_LIMIT_PER_MINUTE = None
    budget.reset()
    yield
    budget.reset()


def as_stored() -> tuple:
    usage = budget.usage()
    return usage.limit, usage.calls, usage.blocked_until, usage.remaining


def as_seen() -> tuple:
    usage = budget.page_usage()
    return usage.limit, usage.calls, usage.blocked_until, usage.remaining


def answered(**headers) -> None:
    booking = budget.acquire()
    budget.observe(usage=booking.usage, **{"limit": None, "remaining": None, "retry_at": None} | headers)


def test_an_answer_that_teaches_the_limit_and_reveals_other_clients():
    answered(limit=10, remaining=3)  # we made 1 call, so other clients spent 6
    assert as_seen() == as_stored() == (10, {"interactive": 1, "background": 0, "external": 6}, None, 3)
    answered(limit=10, remaining=2)
    assert as_seen() == as_stored()


def test_background_calls_and_a_configured_limit(settings):
    settings.VOUCHERIFY_RATE_LIMIT_PER_MINUTE = 50
    answered()
    with budget.background():
        answered(limit=100, remaining=45)  # of our 50: 48 expected left
    assert as_seen() == as_stored()
    assert as_seen()[:2] == (50, {"interactive": 1, "background": 1, "external": 3})


def test_a_429_blocks_the_window_until_the_retry_time():
    answered(limit=10, remaining=9)
    retry_at = time.time() + 30
    answered(limit=10, remaining=0, retry_at=retry_at)
    assert as_seen() == as_stored()
    assert as_seen()[2] == pytest.approx(retry_at)


def test_a_new_request_reads_the_store_again():
    answered(limit=10, remaining=9)
    request_started.send(sender=None, environ={})
    budget.acquire()  # another agent's call, booked after this request's
    assert as_seen() == as_stored()
    assert as_seen()[1]["interactive"] == 2
