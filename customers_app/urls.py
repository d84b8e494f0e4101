"""The dashboard's pages."""

from django.urls import path

from .views import customers, detail

app_name = "customers"

urlpatterns = [
    path("customers/", customers.customer_list_view, name="list"),
    path("customers/jump/", customers.customer_jump_view, name="jump"),
    # Ids may be source ids containing "/", so the suffixed routes come before the bare one.
    path("customers/<path:customer_id>/", detail.customer_detail_view, name="detail"),
]
