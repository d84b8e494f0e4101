"""The customer list in search mode: a page of matches from the dashboard's search index, with the
list's other filters applied there too, and the links around it (no upstream call at all)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.http import QueryDict

from .forms import MAX_PAGE, CustomerFilterForm, list_url
from .listing import PageLink, page_links
from .search.query import IndexStatus, SearchPage, index_status, search_customers
from .search.tasks import ensure_scheduled

# List filters the index cannot apply (it keeps no segments; email and name are what ``q`` searches).
NOT_IN_SEARCH = ("email", "name", "segment_id")


@dataclass
class SearchListing:
    q: str
    result: SearchPage
    status: IndexStatus
    page: int
    limit: int
    next_url: str = ""
    previous_url: str = ""
    page_links: list[PageLink] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # labels of the filters left out

    @property
    def rows(self):
        return self.result.rows

    @property
    def first_row(self) -> int:
        return (self.page - 1) * self.limit + 1

    @property
    def last_row(self) -> int:
        return self.first_row + len(self.rows) - 1


def search_listing(*, q: str, form: CustomerFilterForm, query: QueryDict) -> SearchListing:
    """The matches for ``q`` with the (valid) filter form's city, dates and order; keeps the sync going."""
    ensure_scheduled()  # cheap: queues the index's sync if nothing has run it lately
    data = form.cleaned_data
    limit = data["limit"] or CustomerFilterForm.DEFAULT_LIMIT
    page_number = data["page"] or 1
    status = index_status()
    result = search_customers(
        q,
        city=data["city"] or None,
        created_at_after=data["created_at_after"],
        created_at_before=data["created_at_before"],
        updated_at_after=data["updated_at_after"],
        updated_at_before=data["updated_at_before"],
        order=data["order"] or "-created_at",
        page=page_number,
        limit=limit,
    )
    listing = SearchListing(q=q, result=result, status=status, page=page_number, limit=limit)
    listing.ignored = [str(form.fields[name].label) for name in NOT_IN_SEARCH if data.get(name)]
    if result.too_short or not result.total:
        return listing
    base = query.copy()
    last_page = min(MAX_PAGE, max(1, math.ceil(result.total / limit)))
    if page_number > 1:
        listing.previous_url = list_url(base, page=page_number - 1)
    if page_number < last_page:
        listing.next_url = list_url(base, page=page_number + 1)
    listing.page_links = page_links(base, page_number, last_page)
    return listing
