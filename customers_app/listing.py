"""Paging for the customer list: page numbers up to the API's page 99, then the created_at cursor."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.http import QueryDict

from .forms import CURSOR_ORDERS, MAX_PAGE, CustomerFilterForm, list_url
from .services.customers import customer_list_soon
from .services.voucherify import Pending
from .types import ListedCustomerPage

REVERSED_ORDER = {"": "created_at", "-created_at": "created_at", "created_at": "-created_at"}


@dataclass
class PageLink:
    number: int | None  # None marks a gap ("…")
    url: str = ""
    current: bool = False


@dataclass
class CustomerListing:
    """One page of the list, with the links around it."""

    result: ListedCustomerPage
    page: int | None  # None once the list continues by cursor past page 99
    limit: int
    next_url: str = ""
    previous_url: str = ""
    page_links: list[PageLink] = field(default_factory=list)

    @property
    def customers(self):
        return self.result.customers

    @property
    def first_row(self) -> int | None:
        return (self.page - 1) * self.limit + 1 if self.page else None

    @property
    def last_row(self) -> int | None:
        return self.first_row + len(self.customers) - 1 if self.page else None


def customer_listing(*, form: CustomerFilterForm, query: QueryDict) -> Pending[CustomerListing]:
    """Sends the call for the page the (valid) filter form asks for and returns at once; ``result()``
    is that page with its neighbours worked out, so the view renders the rest of the page meanwhile.

    ``result()`` raises the service layer's ``VoucherifyError`` subclasses.
    """
    data = form.cleaned_data
    filters = {name: data[name] or None for name in CustomerFilterForm.FILTER_FIELDS}
    order = data["order"] or ""
    limit = data["limit"] or CustomerFilterForm.DEFAULT_LIMIT
    page_number = data["page"] or 1
    base = query.copy()

    if data["ending_before"]:
        # Walking backwards past page 99: ask for the rows on the other side of the first row,
        # in the opposite order, and turn them around.
        def backwards(result: ListedCustomerPage) -> CustomerListing:
            result = result.reversed()
            listing = CustomerListing(result=result, page=None, limit=limit)
            if result.customers:
                if result.has_more:
                    listing.previous_url = list_url(base, ending_before=result.customers[0].created_cursor)
                listing.next_url = list_url(base, starting_after=result.customers[-1].created_cursor)
            return listing

        return customer_list_soon(
            **filters, order=REVERSED_ORDER[order], limit=limit, starting_after=data["ending_before"]
        ).then(backwards)

    if data["starting_after"]:

        def onwards(result: ListedCustomerPage) -> CustomerListing:
            listing = CustomerListing(result=result, page=None, limit=limit)
            if result.customers:
                listing.previous_url = list_url(base, ending_before=result.customers[0].created_cursor)
                if result.has_more:
                    listing.next_url = list_url(base, starting_after=result.customers[-1].created_cursor)
            return listing

        return customer_list_soon(
            **filters, order=order or None, limit=limit, starting_after=data["starting_after"]
        ).then(onwards)

    def numbered(result: ListedCustomerPage) -> CustomerListing:
        listing = CustomerListing(result=result, page=page_number, limit=limit)
        last_page = min(MAX_PAGE, max(1, math.ceil(result.total / limit)))
        if page_number > 1:
            listing.previous_url = list_url(base, page=page_number - 1)
        if page_number < last_page:
            listing.next_url = list_url(base, page=page_number + 1)
        elif (
            page_number == MAX_PAGE and result.total > MAX_PAGE * limit and order in CURSOR_ORDERS and result.customers
        ):
            listing.next_url = list_url(base, starting_after=result.customers[-1].created_cursor)
        listing.page_links = page_links(base, page_number, last_page)
        return listing

    return customer_list_soon(**filters, order=order or None, limit=limit, page=page_number).then(numbered)


def page_links(base: QueryDict, page_number: int, last_page: int) -> list[PageLink]:
    """Links to the first and last page and the two either side of this one, with gaps between."""
    links: list[PageLink] = []
    shown = sorted({1, last_page, *range(max(1, page_number - 2), min(last_page, page_number + 2) + 1)})
    previous = 0
    for number in shown:
        if number - previous > 1:
            links.append(PageLink(None))
        links.append(PageLink(number, list_url(base, page=number), number == page_number))
        previous = number
    return links
