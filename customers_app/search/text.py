"""Text as the index compares it: folding (case, accents, letters that do not decompose), phone digits,
the searched document of a customer, a query split into terms, and highlighting of what matched."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Letters NFKD leaves alone (they are letters of their own, not a letter plus a mark), as people type them
# on a keyboard without them. Keys are already case-folded.
LETTERS = {
    "ł": "l",
    "ø": "o",
    "đ": "d",
    "ð": "d",
    "ß": "ss",
    "ẞ": "ss",
    "æ": "ae",
    "œ": "oe",
    "þ": "th",
    "ı": "i",
    "ħ": "h",
    "ŧ": "t",
    "ŀ": "l",
    "ŋ": "n",
    "ĸ": "k",
    "ſ": "s",
    "ɨ": "i",
    "ƒ": "f",
}
# The shortest fragment searched; SQLite's trigram tokenizer cannot look up anything shorter either.
MIN_TERM = 3
# More words than this add nothing a person could want and only cost time.
MAX_TERMS = 8
# A word a person types for a phone: digits with the usual separators, perhaps a leading +.
PHONE_WORD = re.compile(r"^\+?[\d().\-/]*\d[\d().\-/]*$")
FIELD_SEPARATOR = "\n"  # query terms never hold one, so a match never spans two fields


@lru_cache(maxsize=4096)
def fold_char(char: str) -> str:
    """One character folded: case-folded, decomposed, combining marks dropped, special letters spelled out."""
    folded = []
    for part in unicodedata.normalize("NFKD", char.casefold()):
        if unicodedata.combining(part):
            continue
        folded.append(LETTERS.get(part, part))
    return "".join(folded)


def fold(text: str | None) -> str:
    """Case- and accent-insensitive form: ``fold("Müller") == "muller"``, ``fold("Łódź") == "lodz"``."""
    if not text:
        return ""
    return "".join(fold_char(char) for char in text)


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """The folded text and, for each of its characters, the position of the original character it came from."""
    folded: list[str] = []
    origin: list[int] = []
    for position, char in enumerate(text):
        part = fold_char(char)
        folded.append(part)
        origin.extend([position] * len(part))
    return "".join(folded), origin


def digits(text: str | None) -> str:
    """The digits alone: ``digits("+48 600 111 222") == "48600111222"``."""
    return "".join(char for char in fold(text) if char.isdigit())


def search_document(*, customer_id: str, source_id: str | None, name: str | None, email: str | None,
                    phone: str | None, city: str | None, country: str | None) -> str:  # fmt: skip
    """What the engine searches for one customer: each field folded, then the phone's digits alone."""
    parts = [fold(value) for value in (customer_id, source_id, name, email, phone, city, country) if value]
    phone_digits = digits(phone)
    if phone_digits:
        parts.append(phone_digits)
    return FIELD_SEPARATOR.join(part.replace(FIELD_SEPARATOR, " ") for part in parts)


def fold_city(city: str | None) -> str:
    return " ".join(fold(city).split())


# Queries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One thing that must match: any of ``alternatives`` (a phone typed with spaces: its digits, or as typed)."""

    alternatives: tuple[str, ...]


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...]
    too_short: tuple[str, ...]  # words under three characters, as typed

    @property
    def highlight_terms(self) -> list[str]:
        """Every folded form that may have matched, for ``highlight``."""
        seen: list[str] = []
        for term in self.terms:
            for alternative in term.alternatives:
                if alternative not in seen:
                    seen.append(alternative)
        return seen


def parse_query(q: str | None) -> Query:
    """Splits ``q`` on spaces into terms that all have to match.

    Consecutive words that look like parts of a phone number (``+48 600 111``) make one term that
    matches either their digits run together (``48600111``, which the document holds for every phone)
    or the words as typed. Any other word is folded and must be at least three characters long.
    """
    words = (q or "").split()
    terms: list[Term] = []
    too_short: list[str] = []
    group: list[str] = []

    def close_group() -> None:
        if not group:
            return
        alternatives = []
        run = "".join(char for char in "".join(group) if char.isdigit())
        typed = fold(" ".join(group))
        for candidate in (run, typed):
            if len(candidate) >= MIN_TERM and candidate not in alternatives:
                alternatives.append(candidate)
        if alternatives:
            terms.append(Term(tuple(alternatives)))
        else:
            too_short.append(" ".join(group))
        group.clear()

    for word in words:
        if PHONE_WORD.match(word):
            group.append(word)
            continue
        close_group()
        folded = fold(word)
        if len(folded) < MIN_TERM:
            too_short.append(word)
        else:
            terms.append(Term((folded,)))
    close_group()
    return Query(terms=tuple(terms[:MAX_TERMS]), too_short=tuple(too_short))


# Highlighting ----------------------------------------------------------------------------------


def _spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    folded, origin = fold_with_map(text)
    digit_positions = [index for index, char in enumerate(folded) if char.isdigit()]
    digit_text = "".join(folded[index] for index in digit_positions)
    spans: list[tuple[int, int]] = []
    for term in terms:
        if not term:
            continue
        if term.isdigit():
            # Digits match whatever separates them in the text ("600111" in "+48 600 111 222").
            haystack, positions = digit_text, digit_positions
        else:
            haystack, positions = folded, list(range(len(folded)))
        start = haystack.find(term)
        while start != -1:
            first, last = positions[start], positions[start + len(term) - 1]
            spans.append((origin[first], origin[last] + 1))
            start = haystack.find(term, start + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str | None, terms: Sequence[str]) -> SafeString:
    """``text`` as safe HTML with ``<mark>`` around what matched ``terms`` (folded forms, as in
    ``SearchPage.terms``), found accent- and case-insensitively but shown in the original characters."""
    if not text:
        return mark_safe("")  # noqa: S308 - nothing to escape
    pieces: list[str] = []
    position = 0
    # Marks are whole characters of the original: a folded match inside "ß" → "ss" marks the "ß".
    for start, end in _spans(text, terms):
        pieces.append(escape(text[position:start]))
        pieces.append(f"<mark>{escape(text[start:end])}</mark>")
        position = end
    pieces.append(escape(text[position:]))
    return mark_safe("".join(pieces))  # noqa: S308 - every piece of the text is escaped above
