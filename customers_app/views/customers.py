"""Customer list and the jump-to-customer box."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from ..forms import CustomerFilterForm, CustomerSearchForm
from ..listing import customer_listing
from ..roles import VIEW, perm
from ..search_listing import search_listing
from ..services.customers import customer_find
from ..services.segments import segment_list
from ..services.voucherify import VoucherifyError
from ..view_records import CUSTOMER_LIST, SEARCH, record_view

LIST_QUERY_SESSION_KEY = "customer_list_query"


def _segments_or_empty():
    """Segment names for the filter; the list still works when Voucherify cannot list them."""
    try:
        return segment_list()
    except VoucherifyError:
        return []


@permission_required(perm(VIEW), raise_exception=True)
@require_GET
@vary_on_headers("HX-Request")
def customer_list_view(request):
    """Lets an agent find customers by email, city, name, segment and dates, page by page, or by any
    fragment of a name, email, phone, source id or id (``q``, served from the search index)."""
    form = CustomerFilterForm(request.GET, segments=_segments_or_empty)  # read once the call is out
    search_form = CustomerSearchForm(request.GET)
    q = search_form.cleaned_data["q"] if search_form.is_valid() else ""
    listing = search = pending = None
    if form.is_valid() and search_form.is_valid():
        if q:  # from the dashboard's own index: fragments, phones, accents; no upstream call
            search = search_listing(q=q, form=form, query=request.GET)
        else:
            # The call goes out now; the header and filters render while Voucherify answers, and the
            # results wait for it where the template first needs them.
            pending = customer_listing(form=form, query=request.GET)
            listing = SimpleLazyObject(pending.result)
    query = request.GET.urlencode()
    if request.session.get(LIST_QUERY_SESSION_KEY) != query:  # the detail page's way back; a write only if new
        request.session[LIST_QUERY_SESSION_KEY] = query
    template_name = "customers/list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template_name += "#results"
    context = {"form": form, "search_form": search_form, "listing": listing, "search": search, "nav": "customers"}
    response = render(request, template_name, context)
    if pending:
        pending.result()  # the call's error, should a template condition have swallowed it
    rows = len(search.rows) if search else len(listing.customers) if listing else 0
    if rows:  # how many customers were shown; never what was searched for (it can be an email)
        searched = bool(q) or any(form.cleaned_data.get(name) for name in form.FILTER_FIELDS)
        record_view(request, rows=rows, what=SEARCH if searched else CUSTOMER_LIST)
    return response


@permission_required(perm(VIEW), raise_exception=True)
@require_GET
def customer_jump_view(request):
    """Takes a pasted customer id, source id or email straight to that customer."""
    query = request.GET.get("q", "").strip()
    matches = customer_find(query=query) if query else []
    if len(matches) == 1:
        url = reverse("customers:detail", args=[matches[0].id])
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)  # the page records the view
    response = render(
        request,
        "customers/jump.html",
        {"query": query, "jump_query": query, "matches": matches, "nav": "customers"},
        status=200 if matches or not query else 404,
    )
    if matches:
        record_view(request, rows=len(matches), what=SEARCH)
    return response
