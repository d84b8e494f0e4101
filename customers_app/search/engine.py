"""The database engine's own text search over ``IndexedCustomer.search_text``, per vendor.

- SQLite: an FTS5 table with the ``trigram`` tokenizer over the rows (external content: it keeps only
  the index, not a second copy of the text), kept in step by triggers on every insert, update and delete,
  so any write, even a raw ``DELETE``, leaves the two in agreement. A term is a quoted phrase; every
  term must match (``AND``), alternatives of one term are ``OR``-ed.
- PostgreSQL: ``pg_trgm`` with a GIN index (``gin_trgm_ops``), which answers ``LIKE '%fragment%'`` (and
  ``ILIKE``; the text is folded already, so the cheaper LIKE is used). The planner picks the GIN index
  for a rare fragment and a walk of the order's index for a common one.
- Anything else: a plain ``LIKE`` scan (correct, not fast).
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import StrIndex
from django.db.models.lookups import GreaterThan

from .text import Term

# Table names are written out: these statements are fixed text, nothing of a user's reaches them.
SQLITE_DELETE_TRIGGER = (
    "CREATE TRIGGER IF NOT EXISTS search_fts_delete AFTER DELETE ON search_indexedcustomer BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, search_text) VALUES ('delete', old.doc, old.search_text); END"
)
SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5("
    "search_text, content='search_indexedcustomer', content_rowid='doc', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS search_fts_insert AFTER INSERT ON search_indexedcustomer BEGIN "
    "INSERT INTO search_fts(rowid, search_text) VALUES (new.doc, new.search_text); END",
    SQLITE_DELETE_TRIGGER,
    "CREATE TRIGGER IF NOT EXISTS search_fts_update AFTER UPDATE OF search_text ON search_indexedcustomer "
    "WHEN old.search_text IS NOT new.search_text BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, search_text) VALUES ('delete', old.doc, old.search_text); "
    "INSERT INTO search_fts(rowid, search_text) VALUES (new.doc, new.search_text); END",
    # Whatever was in the table before the triggers existed.
    "INSERT INTO search_fts(search_fts) VALUES ('rebuild')",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS search_fts_insert",
    "DROP TRIGGER IF EXISTS search_fts_delete",
    "DROP TRIGGER IF EXISTS search_fts_update",
    "DROP TABLE IF EXISTS search_fts",
]
POSTGRES_CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS search_text_trgm_idx ON search_indexedcustomer USING gin (search_text gin_trgm_ops)",
]
POSTGRES_DROP = ["DROP INDEX IF EXISTS search_text_trgm_idx"]


def create_text_index(apps, schema_editor) -> None:
    """Migration step: the vendor's text index over the table (nothing for other vendors)."""
    statements = {"sqlite": SQLITE_CREATE, "postgresql": POSTGRES_CREATE}.get(schema_editor.connection.vendor, [])
    for statement in statements:
        schema_editor.execute(statement)


def drop_text_index(apps, schema_editor) -> None:
    statements = {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}.get(schema_editor.connection.vendor, [])
    for statement in statements:
        schema_editor.execute(statement)


def delete_all_rows() -> None:
    """Empties the table and its text index at once (a rebuild): on SQLite without the per-row delete
    trigger, which would take seconds at 100,000 rows. Call inside a transaction."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER IF EXISTS search_fts_delete")
            cursor.execute("DELETE FROM search_indexedcustomer")
            cursor.execute("INSERT INTO search_fts(search_fts) VALUES ('delete-all')")
            cursor.execute(SQLITE_DELETE_TRIGGER)
        else:
            cursor.execute("DELETE FROM search_indexedcustomer")


def optimize() -> None:
    """After a full load or reconciliation: SQLite merges the FTS5 index's segments (about 2 s at 100,000
    customers; searches then run 2-4x faster); PostgreSQL refreshes the planner's statistics."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
        elif connection.vendor == "postgresql":
            cursor.execute("ANALYZE search_indexedcustomer")


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _fts_expression(terms: tuple[Term, ...]) -> str:
    return " AND ".join(
        "(" + " OR ".join(_fts_phrase(alternative) for alternative in term.alternatives) + ")" for term in terms
    )


def hit_count(terms: tuple[Term, ...]) -> int | None:
    """How many rows hold every term, from the full-text index alone (SQLite); None where there is none."""
    if connection.vendor != "sqlite" or not terms:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM search_fts WHERE search_fts MATCH %s", [_fts_expression(terms)])
        return cursor.fetchone()[0]


def matching(queryset: QuerySet, terms: tuple[Term, ...]) -> QuerySet:
    """``queryset`` narrowed, through the text index, to rows whose search text holds every term (any of a
    term's alternatives). Best when the terms are rare: the index hands over the few rows that hold them."""
    if not terms:
        return queryset
    vendor = connection.vendor
    if vendor == "sqlite":
        # The full-text index answers with row numbers; the rest of the query (filters, order, page)
        # runs on the table and its indexes.
        hits = RawSQL("SELECT rowid FROM search_fts WHERE search_fts MATCH %s", [_fts_expression(terms)])  # noqa: S611
        return queryset.filter(doc__in=hits)
    if vendor == "postgresql":
        # LIKE rather than ILIKE: both sides are folded already, and LIKE tests a row about 3x faster
        # when the planner walks rows for a common term (the GIN index answers either).
        for term in terms:
            condition = " OR ".join(["search_text LIKE %s"] * len(term.alternatives))
            patterns = [_like_pattern(alternative) for alternative in term.alternatives]
            queryset = queryset.extra(where=[f"({condition})"], params=patterns)  # noqa: S610 - fixed SQL, bound values
        return queryset
    return containing(queryset, terms)


def containing(queryset: QuerySet, terms: tuple[Term, ...]) -> QuerySet:
    """``queryset`` narrowed by testing each row's search text (``instr``/``strpos``). Best when the terms
    are common: walking the order's index, the page fills after a few rows, where the text index would
    hand over most of the table first."""
    for term in terms:
        condition = Q()
        for alternative in term.alternatives:
            condition |= Q(GreaterThan(StrIndex("search_text", Value(alternative)), 0))
        queryset = queryset.filter(condition)
    return queryset
