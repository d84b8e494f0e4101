"""The dashboard's session store reads sessions as Django's database store does, with one plain query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.utils import timezone

from customers_app.session_store import SessionStore

pytestmark = pytest.mark.django_db


def test_it_is_the_configured_engine():
    assert settings.SESSION_ENGINE == "customers_app.session_store"


def test_a_saved_session_loads_back_as_djangos_own_store_reads_it():
    store = SessionStore()
    store["customer_list_query"] = "city=Gda%C5%84sk&limit=100"
    store["n"] = 7
    store.save()
    loaded = SessionStore(store.session_key)
    assert loaded.load() == db.SessionStore(store.session_key).load() == {
        "customer_list_query": "city=Gda%C5%84sk&limit=100",
        "n": 7,
    }
    assert loaded.session_key == store.session_key


def test_an_expired_session_loads_empty_and_gets_a_new_key_when_saved():
    store = SessionStore()
    store["n"] = 1
    store.save()
    Session.objects.filter(session_key=store.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    expired = SessionStore(store.session_key)
    assert expired.load() == {} and expired.session_key is None
    expired["m"] = 2
    expired.save()
    assert expired.session_key != store.session_key


@pytest.mark.parametrize("key", ["no-such-session-key-0123456789", "x' OR '1'='1", "%"])
def test_an_unknown_or_hostile_key_loads_nothing(key):
    SessionStore().save()  # there is a session to find, if the key were not a parameter
    assert SessionStore(key).load() == {}
