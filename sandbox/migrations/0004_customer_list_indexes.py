"""Indexes behind the customer list at 100,000 customers: one per order, covering the filtered columns."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0003_exports_rate_limit_runners"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["created_at", "id", "updated_at", "name_lower"], name="cust_created_cover"),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["updated_at", "id", "created_at", "name_lower"], name="cust_updated_cover"),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                fields=["source_id", "id", "created_at", "updated_at", "name_lower"], name="cust_source_cover"
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["city_lower", "created_at", "id"], name="cust_city_created_idx"),
        ),
        # The new indexes start with the same columns, so these two have nothing left to do.
        migrations.RemoveIndex(model_name="customer", name="cust_created_idx"),
        migrations.RemoveIndex(model_name="customer", name="cust_updated_idx"),
    ]
