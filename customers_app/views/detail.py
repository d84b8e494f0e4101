"""A customer's page: the profile card, and the Activity, Redeemables and Segments tabs (each opening recorded)."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.db import connections
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from ..audit import history_panel
from ..customer_forms import ActivityFilterForm, CursorForm, event_label, metadata_display, metadata_type_of
from ..roles import VIEW, VIEW_AUDIT, perm
from ..services.customers import (
    customer_activity_list,
    customer_get,
    customer_redeemables_list,
    customer_segments_list,
)
from ..services.voucherify import NotFound, RequestError, VoucherifyError
from ..types import Activity, Customer, Redeemable
from ..view_records import CUSTOMER_PAGE, record_view, tab_view
from .common import customer_not_found
from .customers import LIST_QUERY_SESSION_KEY

TAB_PAGE_SIZE = 25
DETAIL_TEMPLATE = "customers/detail.html"


# Tabs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tab:
    """One tab under the profile card: its URL name, panel template and what fills the panel.

    ``load(request, customer_id)`` returns the panel's context and may raise the service layer's
    errors. To add a tab (e.g. History), append one here, add a view calling ``render_tab`` and a
    route named ``customers:<slug>``.
    """

    slug: str
    label: str
    template: str
    load: Callable[[HttpRequest, str], dict[str, Any]]
    permission: str = perm(VIEW)

    @property
    def url_name(self) -> str:
        return f"customers:{self.slug}"


def _more_url(tab_slug: str, customer_id: str, query: QueryDict, cursor: str | None) -> str:
    if not cursor:
        return ""
    query = query.copy()
    query["starting_after_id"] = cursor
    return reverse(f"customers:{tab_slug}", args=[customer_id]) + "?" + query.urlencode()


@dataclass(frozen=True)
class ActivityRow:
    activity: Activity
    summary: str
    details_json: str

    @property
    def title(self) -> str:
        return event_label(self.activity.type)


def activity_summary(activity: Activity) -> str:
    """One line saying what the event was about: the segment, voucher, campaign or order involved."""
    inner = activity.data.get("data") if isinstance(activity.data.get("data"), dict) else activity.data
    parts: list[str] = []

    def named(key: str, label: str, *name_keys: str) -> None:
        value = inner.get(key)
        if isinstance(value, dict):
            shown = next((value[k] for k in name_keys if value.get(k)), None)
            if shown:
                parts.append(f"{label} {shown}")

    named("segment", "Segment", "name", "id")
    named("voucher", "Voucher", "code", "id")
    named("campaign", "Campaign", "name", "id")
    named("order", "Order", "source_id", "id")
    named("redemption", "Redemption", "id")
    if not parts and activity.type in ("customer.created", "customer.updated", "customer.deleted"):
        customer = inner.get("customer") if isinstance(inner.get("customer"), dict) else {}
        name = customer.get("name") or customer.get("email") or customer.get("source_id")
        if name:
            parts.append(str(name))
    return " · ".join(str(part) for part in parts)


def load_activity(request: HttpRequest, customer_id: str) -> dict[str, Any]:
    form = ActivityFilterForm(request.GET)
    context: dict[str, Any] = {"form": form, "page": None, "rows": [], "more_url": ""}
    if not form.is_valid():
        return context
    query = request.GET.copy()
    query.pop("starting_after_id", None)
    try:
        page = customer_activity_list(
            customer_id=customer_id,
            limit=TAB_PAGE_SIZE,
            starting_after_id=form.cleaned_data["starting_after_id"] or None,
            **form.filters(),
        )
    except RequestError as exc:
        # A filter Voucherify would not take: say so next to the filters, with the request id.
        request_id = f" (request {exc.request_id})" if exc.request_id else ""
        form.add_error(None, f"Voucherify rejected these filters: {exc.details or exc.message}{request_id}")
        return context
    rows = [
        ActivityRow(
            activity=item,
            summary=activity_summary(item),
            details_json=json.dumps(item.data, indent=2, sort_keys=True, ensure_ascii=False, default=str),
        )
        for item in page.items
    ]
    return context | {
        "page": page,
        "rows": rows,
        "more_url": _more_url("activity", customer_id, query, page.next_cursor),
        "clear_url": reverse("customers:activity", args=[customer_id]),
    }


def humanize_enum(value: str | None) -> str:
    """``DISCOUNT_VOUCHER`` -> "Discount voucher"."""
    text = (value or "").replace("_", " ").strip().lower()
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class RedeemableRow:
    item: Redeemable

    @property
    def type_label(self) -> str:
        return humanize_enum(self.item.voucher_type) or "Voucher"

    @property
    def status_label(self) -> str:
        return humanize_enum(self.item.status)

    @property
    def role_label(self) -> str:
        return humanize_enum(self.item.holder_role)

    @property
    def campaign_type_label(self) -> str:
        return humanize_enum(self.item.campaign_type)

    @property
    def amount(self) -> str:
        """A gift card's balance (money) or a loyalty card's points; nothing for a plain voucher."""
        if self.item.balance is not None:
            return money(self.item.balance)
        if self.item.points is not None:
            return f"{self.item.points:,} points"
        return ""


def load_redeemables(request: HttpRequest, customer_id: str) -> dict[str, Any]:
    form = CursorForm(request.GET)
    cursor = form.cleaned_data["starting_after_id"] if form.is_valid() else ""
    page = customer_redeemables_list(customer_id=customer_id, limit=TAB_PAGE_SIZE, starting_after_id=cursor or None)
    return {
        "page": page,
        "rows": [RedeemableRow(item) for item in page.items],
        "more_url": _more_url("redeemables", customer_id, QueryDict(mutable=True), page.next_cursor),
    }


def load_segments(request: HttpRequest, customer_id: str) -> dict[str, Any]:
    list_url = reverse("customers:list")
    segments = customer_segments_list(customer_id=customer_id)
    return {"segments": [(segment, f"{list_url}?{urlencode({'segment_id': segment.id})}") for segment in segments]}


TABS: list[Tab] = [
    Tab("activity", "Activity", "customers/tab_activity.html", load_activity),
    Tab("redeemables", "Redeemables", "customers/tab_redeemables.html", load_redeemables),
    Tab("segments", "Segments", "customers/tab_segments.html", load_segments),
    # Served by views/audit.py (customer_history_view); only for those who may read the audit trail.
    Tab("history", "History", "customers/tab_history.html", history_panel, permission=perm(VIEW_AUDIT)),
]
TABS_BY_SLUG = {tab.slug: tab for tab in TABS}
DEFAULT_TAB = "activity"


# Profile -----------------------------------------------------------------------------------------


def money(amount: int | None) -> str:
    """API amounts are integers ×100."""
    return f"{(amount or 0) / 100:,.2f}"


def customer_profile(customer: Customer) -> dict[str, Any]:
    """What the profile card shows beyond plain fields, already formatted."""
    metadata = [
        {
            "key": key,
            "type": metadata_type_of(value),
            "value": metadata_display(value),
            "nested": isinstance(value, dict | list),
        }
        for key, value in sorted(customer.metadata.items())
    ]
    summary = customer.summary
    redemptions = orders = None
    if summary:
        r = summary.redemptions
        redemptions = [
            ("Redeemed", r.total_redeemed),
            ("Succeeded", r.total_succeeded),
            ("Failed", r.total_failed),
            ("Rolled back", r.total_rolled_back),
            ("Rollbacks failed", r.total_rollback_failed),
            ("Rollbacks succeeded", r.total_rollback_succeeded),
        ]
        if r.gift_redeemed_amount or r.gift_amount_to_go:
            redemptions += [
                ("Gift card amount redeemed", money(r.gift_redeemed_amount)),
                ("Gift card amount to go", money(r.gift_amount_to_go)),
            ]
        if r.loyalty_redeemed_points or r.loyalty_points_to_go:
            redemptions += [
                ("Loyalty points redeemed", r.loyalty_redeemed_points),
                ("Loyalty points to go", r.loyalty_points_to_go),
            ]
        o = summary.orders
        orders = {
            "rows": [
                ("Orders", o.total_count),
                ("Total amount", money(o.total_amount)),
                ("Average amount", money(o.average_amount)),
                ("Last order amount", money(o.last_order_amount)),
            ],
            "last_order_date": o.last_order_date,
        }
    loyalty = customer.loyalty
    show_loyalty = bool(loyalty and (loyalty.points or loyalty.referred_customers or loyalty.campaigns))
    referrals = customer.referrals
    show_referrals = bool(referrals and (referrals.total or referrals.campaigns))
    return {
        "metadata": metadata,
        "redemptions": redemptions,
        "orders": orders,
        "loyalty": loyalty if show_loyalty else None,
        "loyalty_campaigns": sorted(loyalty.campaigns.items()) if show_loyalty else [],
        "referrals": referrals if show_referrals else None,
    }


# Views -----------------------------------------------------------------------------------------


# Long-lived threads keep their HTTP sessions (the client's sessions are per thread), so the
# tab's call reuses a warm connection instead of opening a new one for every page.
_tab_loader = ThreadPoolExecutor(max_workers=8, thread_name_prefix="customer-tab")


def _load_in_thread(load: Callable[[HttpRequest, str], dict], request: HttpRequest, customer_id: str) -> dict:
    try:
        return load(request, customer_id)
    finally:
        # The in-process sandbox may open database connections in this worker thread.
        connections.close_all()


def visible_tabs(request: HttpRequest) -> list[Tab]:
    return [tab for tab in TABS if request.user.has_perm(tab.permission)]


def _page_context(request: HttpRequest, customer: Customer, tab: Tab) -> dict[str, Any]:
    return {
        "customer": customer,
        "customer_id": customer.id,
        "profile": customer_profile(customer),
        "tabs": visible_tabs(request),
        "tab": tab,
        "back_query": request.session.get(LIST_QUERY_SESSION_KEY, ""),
        "nav": "customers",
    }


def _opens_tab(request: HttpRequest, tab: Tab) -> bool:
    """Whether an htmx request for a tab is someone opening it: a click on the tab itself (htmx names
    the element, ``HX-Trigger: tab-<slug>``). The panel the customer page loads by itself, more
    rows and the activity filters belong to an opening already recorded."""
    return request.htmx.trigger == f"tab-{tab.slug}" and not request.GET.get("starting_after_id")


def _voucherify_id(customer_id: str) -> str:
    """The tab strip links by Voucherify id; a URL typed with a source id (perhaps an email) is
    resolved, so a view record never holds one."""
    if customer_id.startswith("cust_"):
        return customer_id
    try:
        return customer_get(customer_id=customer_id).id
    except VoucherifyError:
        return ""  # recorded without the customer rather than under a source id


def render_tab(request: HttpRequest, customer_id: str, tab: Tab) -> HttpResponse:
    """A tab as an htmx fragment (tab strip and panel, or just more rows) or as the whole page.

    The whole page asks Voucherify for the customer and for the tab's data at the same time.
    """
    if not request.user.has_perm(tab.permission):
        raise PermissionDenied
    if request.htmx and not request.htmx.history_restore_request:
        try:
            panel = tab.load(request, customer_id)
        except NotFound as exc:
            return render(
                request,
                f"{DETAIL_TEMPLATE}#tab-missing",
                {"customer_id": customer_id, "error": exc},
                status=404,
            )
        context = {
            "customer_id": customer_id,
            "tabs": visible_tabs(request),
            "tab": tab,
            "panel": panel,
            "panel_loaded": True,
        }
        # "Load more" asks for the next rows only; anything else redraws the tab strip and panel.
        template = f"{tab.template}#rows" if request.GET.get("starting_after_id") else f"{DETAIL_TEMPLATE}#tabs"
        response = render(request, template, context)
        if _opens_tab(request, tab):
            record_view(request, customer_id=_voucherify_id(customer_id), what=tab_view(tab.label))
        return response

    future = _tab_loader.submit(_load_in_thread, tab.load, request, customer_id)
    try:
        customer = customer_get(customer_id=customer_id)
    except NotFound as exc:
        future.cancel()
        return customer_not_found(request, customer_id, exc)
    panel = future.result()
    context = _page_context(request, customer, tab) | {"panel": panel, "panel_loaded": True}
    response = render(request, DETAIL_TEMPLATE, context)
    record_view(request, customer_id=customer.id, what=tab_view(tab.label))
    return response


@permission_required(perm(VIEW), raise_exception=True)
@require_GET
@vary_on_headers("HX-Request")
def customer_detail_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Shows one customer's whole profile, by Voucherify id or source id; the Activity tab loads after."""
    try:
        customer = customer_get(customer_id=customer_id)
    except NotFound as exc:
        return customer_not_found(request, customer_id, exc)
    # One upstream call: the selected tab's panel fills in by itself (hx-trigger="load").
    context = _page_context(request, customer, TABS_BY_SLUG[DEFAULT_TAB]) | {"panel_loaded": False}
    response = render(request, DETAIL_TEMPLATE, context)
    record_view(request, customer_id=customer.id, what=CUSTOMER_PAGE)
    return response


@permission_required(perm(VIEW), raise_exception=True)
@require_GET
@vary_on_headers("HX-Request")
def customer_activity_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Lets an agent read what happened to a customer, filtered by category, event, campaign type and dates."""
    return render_tab(request, customer_id, TABS_BY_SLUG["activity"])


@permission_required(perm(VIEW), raise_exception=True)
@require_GET
@vary_on_headers("HX-Request")
def customer_redeemables_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Lists the vouchers, gift cards and loyalty cards a customer holds, with status and balance."""
    return render_tab(request, customer_id, TABS_BY_SLUG["redeemables"])


@permission_required(perm(VIEW), raise_exception=True)
@require_GET
@vary_on_headers("HX-Request")
def customer_segments_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Lists the segments a customer belongs to, each linking to the customers in it."""
    return render_tab(request, customer_id, TABS_BY_SLUG["segments"])
