"""Cells that a spreadsheet would run as formulas are defused in every CSV we hand out."""

from __future__ import annotations

import pytest

from customers_app.spreadsheet import neutralise


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like_cells_get_an_apostrophe(cell):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize(("cell", "expected"), [("Anna", "Anna"), ("", ""), (None, ""), (42, "42"), ("a=b", "a=b")])
def test_other_cells_are_left_alone(cell, expected):
    assert neutralise(cell) == expected
