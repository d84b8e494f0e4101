"""The dashboard's pages."""

from django.urls import path

from .views import customers, detail, edit

app_name = "customers"

urlpatterns = [
    path("customers/", customers.customer_list_view, name="list"),
    path("customers/jump/", customers.customer_jump_view, name="jump"),
    path("customers/new/", edit.customer_create_view, name="create"),
    # Ids may be source ids containing "/", so the suffixed routes come before the bare one.
    path("customers/<path:customer_id>/edit/", edit.customer_edit_view, name="edit"),
    path("customers/<path:customer_id>/activity/", detail.customer_activity_view, name="activity"),
    path("customers/<path:customer_id>/redeemables/", detail.customer_redeemables_view, name="redeemables"),
    path("customers/<path:customer_id>/segments/", detail.customer_segments_view, name="segments"),
    path("customers/<path:customer_id>/", detail.customer_detail_view, name="detail"),
]
