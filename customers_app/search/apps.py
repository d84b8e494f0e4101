from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "customers_app.search"
    label = "search"
    verbose_name = "Customer search index"
    default_auto_field = "django.db.models.BigAutoField"
