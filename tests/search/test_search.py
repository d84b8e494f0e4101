"""Searching the index over real HTTP: customers made in the sandbox (as another client of the project
would make them) reach the index by a sync pass, and every matching rule of the search box holds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from customers_app.search import query
from customers_app.search.query import search_customers
from customers_app.types import parse_datetime
from tests.search.conftest import create, sync, tag, unique_phone

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("ready_index", "remove_created_customers"),
]


@pytest.fixture(params=["walking the order", "through the text index"])
def plan(request, monkeypatch):
    """Both ways to a page: testing rows along the order's index (common terms) or the text index's rows."""
    if request.param == "through the text index":
        monkeypatch.setattr(query, "SCAN_ROWS", 0)
    return request.param


def ids(q: str, **filters) -> list[str]:
    return [row.id for row in search_customers(q, **filters).rows]


def test_case_and_accents_do_not_matter(sandbox_server):
    t = tag()
    person = create(sandbox_server, name=f"Zoë Müller-Łukaszewska {t}", email=f"zoe.{t}@example.com",
                    address={"city": "Łódź", "country": "Poland"})  # fmt: skip
    sync()
    for q in (f"muller {t}", f"MÜLLER {t}", f"lukaszewska {t}", f"ZOE {t}", f"lodz {t}", f"Łódź {t}"):
        assert ids(q) == [person["id"]], q


def test_a_phone_is_found_by_its_digits_whatever_the_spacing_or_plus(sandbox_server):
    phone, phone_digits = unique_phone()  # e.g. "+48 712 345 678", "48712345678"
    person = create(sandbox_server, name="Phone Person", phone=phone)
    sync()
    local = phone_digits[2:]
    for q in (phone, phone_digits, "+" + phone_digits, local[:6], f"{local[:3]} {local[3:6]}", local[-5:],
              f"{local[:3]}-{local[3:6]}-{local[6:]}", f"(48) {local}"):  # fmt: skip
        assert person["id"] in ids(q), q
    page = search_customers(f"{local[:3]} {local[3:6]}")
    row = next(row for row in page.rows if row.id == person["id"])
    assert row.phone == phone and local[:6] in page.terms


def test_any_fragment_of_name_email_phone_source_id_or_id_finds_the_customer(sandbox_server):
    t = tag()
    person = create(sandbox_server, source_id=f"CRM-{t}-77", name=f"Bartholomew {t}", email=f"bart.{t}@shop.example",
                    phone="+44 20 7946 0000")  # fmt: skip
    sync()
    fragments = [t[2:7], f"holomew {t}", f"rt.{t[:4]}", f"{t}@shop", f"m-{t[:5]}", f"{t}-77", person["id"][-6:],
                 person["id"].upper()]  # fmt: skip
    for q in fragments:
        assert person["id"] in ids(q), q


@pytest.mark.usefixtures("plan")
def test_several_words_must_all_match(sandbox_server):
    t = tag()
    anna_gdansk = create(sandbox_server, name=f"Anna Nowak {t}", address={"city": "Gdańsk"})
    create(sandbox_server, name=f"Anna Kowalska {t}", address={"city": "Warsaw"})
    create(sandbox_server, name=f"Piotr Nowak {t}", address={"city": "Gdańsk"})
    sync()
    assert ids(f"anna gdansk {t}") == [anna_gdansk["id"]]
    assert len(ids(f"{t} anna")) == 2 and len(ids(f"nowak {t}")) == 2
    assert ids(f"anna gdansk {t} nobody") == []


def test_a_fragment_under_three_characters_gets_a_hint_not_a_scan(sandbox_server):
    t = tag()
    create(sandbox_server, name=f"Al {t}")
    sync()
    page = search_customers(f"al {t}")
    assert page.too_short == ("al",) and not page.searched
    assert page.rows == [] and page.total == 0
    assert "at least 3 characters" in page.hint and "“al”" in page.hint
    assert search_customers("x").too_short == ("x",)


@pytest.mark.usefixtures("plan")
def test_filters_order_and_paging_work_within_the_index(sandbox_server):
    t = tag()
    made = [create(sandbox_server, name=f"Pager {t} {n}", address={"city": "Kraków" if n % 2 else "Poznań"})
            for n in range(5)]  # fmt: skip
    sync()
    newest_first = [c["id"] for c in reversed(made)]
    assert ids(f"pager {t}") == newest_first
    assert ids(f"pager {t}", order="created_at") == newest_first[::-1]
    first, second = search_customers(f"pager {t}", limit=2), search_customers(f"pager {t}", limit=2, page=2)
    last = search_customers(f"pager {t}", limit=2, page=3)
    assert first.total == 5 and first.has_more and second.has_more and not last.has_more
    assert [r.id for r in first.rows + second.rows + last.rows] == newest_first
    assert ids(f"pager {t}", city="KRAKOW") == [made[3]["id"], made[1]["id"]]
    assert ids(f"pager {t}", city="krak") == []  # a city matches whole
    middle = parse_datetime(made[2]["created_at"])
    assert ids(f"pager {t}", created_at_after=middle) == newest_first[:2]  # bounds are exclusive
    assert ids(f"pager {t}", created_at_before=middle) == newest_first[3:]
    assert ids(
        f"pager {t}",
        created_at_after=middle - timedelta(milliseconds=1),
        created_at_before=middle + timedelta(milliseconds=1),
    ) == [made[2]["id"]]
    assert ids(f"pager {t}", updated_at_after=parse_datetime(made[4]["updated_at"])) == []
    assert set(ids("", city="poznan")) >= {made[0]["id"], made[2]["id"], made[4]["id"]}
