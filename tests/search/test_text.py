"""Folding, query terms and highlighting: how the index compares what people type with what it holds."""

from __future__ import annotations

import pytest

from customers_app.search.text import digits, fold, highlight, parse_query, search_document


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("muller", "Müller"),
        ("lodz", "Łódź"),
        ("gdansk", "Gdańsk"),
        ("strasse", "Straße"),
        ("soren", "Søren"),
        ("aesir", "Æsir"),
        ("oeuvre", "Œuvre"),
        ("thor", "Þór"),
        ("dorde", "Đorđe"),
        ("zoe", "ZOË"),
        ("francois", "François"),
        ("jiri dvorak", "Jiří Dvořák"),
    ],
)
def test_folding_ignores_case_and_accents(typed, stored):
    assert fold(stored) == fold(typed) == typed


def test_phone_digits_alone_are_searched_too():
    assert digits("+48 600 111 222") == "48600111222"
    document = search_document(customer_id="cust_X", source_id=None, name="Anna", email=None,
                               phone="+48 600-111 (222)", city=None, country=None)  # fmt: skip
    assert "48600111222" in document and "+48 600-111 (222)" in document
    assert "cust_x" in document  # ids are folded too: "CUST_x" finds them


def test_query_words_all_count_and_phone_words_make_one_term():
    query = parse_query("Anna  +48 600 111 Gdańsk")
    assert [term.alternatives for term in query.terms] == [("anna",), ("48600111", "+48 600 111"), ("gdansk",)]
    assert not query.too_short
    assert "48600111" in query.highlight_terms


def test_words_under_three_characters_are_reported_not_searched():
    query = parse_query("anna b 12")
    assert query.too_short == ("b", "12")
    assert parse_query("+4").too_short == ("+4",)
    assert parse_query("600").terms[0].alternatives == ("600",)


def test_highlight_marks_the_original_characters_and_escapes_the_rest():
    assert highlight("Anna Müller <b>", ["muller"]) == "Anna <mark>Müller</mark> &lt;b&gt;"
    assert highlight("Łódź", ["lodz"]) == "<mark>Łódź</mark>"
    assert highlight("+48 600 111 222", ["600111"]) == "+48 <mark>600 111</mark> 222"
    assert highlight("anna@example.com", ["ann", "nna"]) == "<mark>anna</mark>@example.com"
    assert highlight("Straße", ["strass"]) == "<mark>Straß</mark>e"
    assert highlight("<script>", ["zzz"]) == "&lt;script&gt;"
    assert highlight(None, ["x"]) == ""
