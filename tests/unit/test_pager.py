"""The pager and the counts under and above the list: links around the page, gaps, escaped URLs."""

from __future__ import annotations

from django.http import QueryDict

from customers_app.listing import CustomerListing, PageLink, page_links
from customers_app.templatetags.dashboard import pager
from customers_app.types import ListedCustomerPage


def test_the_links_around_page_five_of_twenty_with_gaps_and_the_current_page_unlinked():
    base = QueryDict("city=Gda%C5%84sk&limit=25&page=5")
    listing = CustomerListing(
        result=ListedCustomerPage(), page=5, limit=25, previous_url="?city=x&page=4", next_url="?city=x&page=6"
    )
    listing.page_links = page_links(base, 5, 20)
    html = str(pager(listing))
    assert html.count('<li aria-hidden="true">…</li>') == 2  # 1 … 3 4 5 6 7 … 20
    assert '<span aria-current="page">5</span>' in html and 'aria-label="Page 5"' not in html
    for number in (1, 3, 4, 6, 7, 20):
        assert f'aria-label="Page {number}">{number}</a>' in html
    last = "?city=Gda%C5%84sk&amp;limit=25&amp;page=20"
    assert f'<a href="{last}" hx-get="{last}"' in html
    assert 'hx-target="#results" hx-swap="outerHTML" hx-push-url="true" aria-label="Page 20">20</a>' in html
    assert '<a href="?city=x&amp;page=4" rel="prev"' in html and '<a href="?city=x&amp;page=6" rel="next"' in html


def test_urls_are_escaped_and_an_only_page_has_no_previous_or_next():
    listing = CustomerListing(result=ListedCustomerPage(), page=1, limit=25)
    listing.page_links = [PageLink(1, "?q=1", True), PageLink(2, '?x="><script>', False)]
    html = str(pager(listing))
    assert "<script>" not in html and "?x=&quot;&gt;&lt;script&gt;" in html
    assert 'rel="prev"' not in html and 'rel="next"' not in html


def test_the_lists_counts_have_thousands_separators_as_intcomma_writes_them():
    from django.contrib.humanize.templatetags.humanize import intcomma

    from customers_app.templatetags.dashboard import thousands

    for number in (0, 7, 999, 1000, 100_000, 1_234_567):
        assert thousands(number) == intcomma(number)
