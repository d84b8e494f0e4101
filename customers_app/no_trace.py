"""After an erasure: no copy of the person left in what the dashboard stores beyond the records the erasure
flow already scrubs: stored sessions, job records, audit entries without ids, the search index's text
index, and the database files themselves (SQLite's write-ahead log and free pages).

What each place can hold, and what happens to it here:

- Sessions (``django_session``): the customer list's query string (``customer_list_query``, which holds an
  email or a name filter, or a search), and whatever a future page keeps there. Every value that mentions
  the person, as typed or URL-encoded, is dropped from every stored session; the rest stays, so nobody is
  signed out. Messages live in a cookie (Django's fallback storage), not in the session.
- Caches: only segment lists and sizes and the health check are cached (``cache.set`` in
  ``services/segments.py``, ``views/health.py``); none names a customer, so nothing is cleared.
- Job records: an import job's description and file name, a background job's description, message and
  parameters (``purge_jobs_mentioning`` already blanks emails, ids and phones in the parameters; names
  are blanked here).
- Audit entries that name the person without their ids (``audit.audit_scrub_mentioning``).
- Privacy requests: a case still open for the person (an access request, another erasure) has its typed
  identifier blanked and is closed, since it can no longer be answered; every access pack (the JSON and
  HTML files in the dashboard's storage) about them is deleted, found by the keyed hashes of the ids the
  pack covered (``subject_digests``) or by its content mentioning them.
- SQLite: every connection runs with ``secure_delete`` (settings), so a deleted or rewritten row is zeroed
  in its page; the FTS5 index is merged (``optimize``) so its old segments, which kept the trigrams and
  positions of the deleted text, are rewritten without them; then the write-ahead log is checkpointed
  and truncated, because it holds every page version written since the last checkpoint.
- PostgreSQL: dead row versions stay in the table files until VACUUM (see the README).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from importlib import import_module
from typing import Any
from urllib.parse import unquote_plus

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from . import storage
from .audit import MIN_MENTION, audit_scrub_mentioning
from .models import BackgroundJob, Job, PrivacyRequest

logger = logging.getLogger("customers_app.erasure")

ERASED = "(erased)"
# Django's sign-in keys hold ids and a hash, never a person; a chance match must not sign anyone out.
KEPT_SESSION_PREFIX = "_auth_user"
# A checkpoint cannot reset the log while a reader still uses part of it; readers here are short.
CHECKPOINT_ATTEMPTS = 50
CHECKPOINT_PAUSE = 0.1


def _folded(values: Iterable[str | None]) -> list[str]:
    return sorted({value.strip().casefold() for value in values if value and value.strip()})


def _mentions(text: str, needles: list[str]) -> bool:
    folded = text.casefold()
    return any(needle in form for form in (folded, unquote_plus(folded)) for needle in needles)


def leave_no_trace(
    *, emails: Iterable[str | None], names: Iterable[str | None], phones: Iterable[str | None],
    source_ids: Iterable[str | None] = (), note: str = "", digests: Iterable[str] = (),
    keep_privacy_request: int | None = None,
) -> dict[str, int]:  # fmt: skip
    """Removes the erased person's remaining copies (see the module docstring); returns what it did.

    ``emails``, ``phones`` and ``source_ids`` match anywhere (case-insensitive); names match where the
    whole name is written. ``digests`` are the keyed hashes (``erasure.identifier_digest``) of the person's
    emails, ids and source ids, matched against privacy requests; ``keep_privacy_request`` is the erasure's
    own case when it stays open to be run again. Never raises: the erasure itself has happened, and each
    step logs its failure.
    """
    digests = set(digests)
    values = _folded([*emails, *phones, *source_ids])
    names = _folded(names)
    # Substring matches need values long enough to be this person's ("7" as a source id is in everything).
    needles = [value for value in {*values, *names} if len(value) >= MIN_MENTION]
    done: dict[str, int] = {}
    steps = (
        ("sessions", lambda: sessions_forget(needles)),
        ("audit_entries", lambda: audit_scrub_mentioning(values=values, names=names, note=note)),
        ("jobs", lambda: job_records_forget(needles)),
        ("privacy_requests", lambda: privacy_requests_forget(needles, digests, keep=keep_privacy_request)),
        ("database", database_compact),
    )
    for name, step in steps:
        try:
            done[name] = step()
        except Exception:  # noqa: BLE001 - one failed step must not keep the others from running
            logger.exception("erasure: could not remove the remaining copies from %s", name)
            done[name] = -1
    logger.info("erasure: no trace left: %s", ", ".join(f"{key}={value}" for key, value in done.items()))
    return done


# Sessions ------------------------------------------------------------------------------------------


def sessions_forget(needles: list[str]) -> int:
    """Drops every stored session value that mentions one of ``needles``; returns the sessions changed.

    Only database-backed sessions can be searched; with cache or signed-cookie sessions the values
    live in the cache or the browser and expire with the session (``SESSION_IDLE_SECONDS``).
    """
    from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
    from django.contrib.sessions.models import Session

    engine = import_module(settings.SESSION_ENGINE)
    # Django's db and cached_db stores, and the dashboard's own (customers_app.session_store), keep them here.
    if not needles or not issubclass(engine.SessionStore, DatabaseSessionStore):
        return 0
    changed = 0
    for key, data in Session.objects.values_list("session_key", "session_data").iterator(1000):
        store = engine.SessionStore(session_key=key)
        values = store.decode(data)
        kept = {
            name: value
            for name, value in values.items()
            if name.startswith(KEPT_SESSION_PREFIX) or not _value_mentions(value, needles)
        }
        if len(kept) == len(values):
            continue
        # The stored expiry stays as it was: a scrub is not the user's activity.
        Session.objects.filter(session_key=key).update(session_data=store.encode(kept))
        if settings.SESSION_ENGINE.endswith("cached_db"):
            store._cache.delete(store.cache_key)  # the cached copy would be served (and saved) again
        changed += 1
    return changed


def _value_mentions(value: Any, needles: list[str]) -> bool:
    return _mentions(json.dumps(value, ensure_ascii=False, default=str), needles)


# Job records ---------------------------------------------------------------------------------------


def job_records_forget(needles: list[str]) -> int:
    """Blanks the person in import and bulk job records and background jobs; returns the records changed."""
    if not needles:
        return 0
    changed = 0
    for job in Job.objects.only("pk", "description", "file_name").iterator(1000):
        fields = [name for name in ("description", "file_name") if _mentions(getattr(job, name), needles)]
        for name in fields:
            setattr(job, name, ERASED)
        if fields:
            job.save(update_fields=fields)
            changed += 1
    for job in BackgroundJob.objects.only("pk", "description", "message", "params").iterator(1000):
        fields = [name for name in ("description", "message") if _mentions(getattr(job, name), needles)]
        for name in fields:
            setattr(job, name, ERASED)
        if _value_mentions(job.params, needles):
            job.params = _blank(job.params, needles)
            fields.append("params")
        if fields:
            job.save(update_fields=fields)
            changed += 1
    return changed


def _blank(value: Any, needles: list[str]) -> Any:
    if isinstance(value, dict):
        return {key: _blank(item, needles) for key, item in value.items()}
    if isinstance(value, list):
        return [_blank(item, needles) for item in value]
    if isinstance(value, str) and _mentions(value, needles):
        return ERASED
    return value


# Privacy requests and their access packs -------------------------------------------------------------


def privacy_requests_forget(needles: list[str], digests: set[str], *, keep: int | None = None) -> int:
    """Closes the person's other open cases (identifier blanked) and deletes every access pack about
    them; returns the cases changed."""
    if not needles and not digests:
        return 0
    changed = 0
    now = timezone.now()
    cases = PrivacyRequest.objects.exclude(pk=keep).exclude(identifier="", pack_files=[])
    for case in cases.iterator(500):
        fields: list[str] = []
        about_them = case.identifier_digest in digests or bool(set(case.subject_digests) & digests)
        if case.identifier and (about_them or _mentions(case.identifier, needles)):
            case.identifier = ""
            fields.append("identifier")
            if case.is_open:
                case.status = PrivacyRequest.Status.REJECTED
                case.rejection_reason = "The person was erased before this request was answered."
                case.closed_at = now
                fields += ["status", "rejection_reason", "closed_at"]
                if case.job_id:
                    BackgroundJob.objects.filter(pk=case.job_id).exclude(status__in=BackgroundJob.FINISHED).update(
                        cancel_requested=True
                    )
        if case.pack_files and (about_them or any(storage.contains_any(name, needles) for name in case.pack_files)):
            for name in case.pack_files:
                storage.delete(name)
            case.pack_files, case.pack_deleted_at = [], now
            fields += ["pack_files", "pack_deleted_at"]
        if fields:
            case.save(update_fields=fields)
            changed += 1
    return changed


# The database files --------------------------------------------------------------------------------


def database_compact(alias: str = "default") -> int:
    """SQLite: merges the search index's text index and checkpoints and truncates the write-ahead log, so
    no earlier version of a deleted row stays in the files. Returns the log's pages left (0 when clean),
    or 0 for other databases (PostgreSQL: VACUUM, which the operator or autovacuum runs)."""
    connection = connections[alias]
    if connection.vendor != "sqlite":
        return 0
    if connection.in_atomic_block:  # a checkpoint cannot run inside a transaction: right after it, then
        transaction.on_commit(lambda: database_compact(alias), using=alias)
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_fts'")
        if cursor.fetchone():
            # The deletes wrote tombstones; merging all segments drops the deleted documents for good.
            cursor.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
        for _ in range(CHECKPOINT_ATTEMPTS):
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy, log_pages, _checkpointed = cursor.fetchone()
            if not busy and log_pages in (0, -1):  # -1: not in WAL mode, nothing to truncate
                return 0
            time.sleep(CHECKPOINT_PAUSE)
    logger.warning("erasure: the write-ahead log could not be truncated (%s pages left): readers kept it", log_pages)
    return log_pages
