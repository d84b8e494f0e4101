"""The indexed customer gets an integer key the full-text index can follow (the table is an index of
Voucherify, so it is recreated empty and loaded again), the removed-ids table, the schedule's fields,
and the engine's own text index: SQLite FTS5 (trigram) with triggers, or PostgreSQL pg_trgm (GIN)."""

from django.db import migrations, models

from customers_app.search.engine import create_text_index, drop_text_index


def forget_the_old_load(apps, schema_editor):
    """The rows are gone with the old table: the next sync starts with a full load."""
    apps.get_model("search", "SearchIndexState").objects.update(
        ready=False, customers=0, watermark=None, watermark_ids=[], full_load_finished_at=None
    )


class Migration(migrations.Migration):

    dependencies = [
        ("search", "0001_index"),
    ]

    operations = [
        migrations.DeleteModel(name="IndexedCustomer"),
        migrations.CreateModel(
            name="IndexedCustomer",
            fields=[
                ("doc", models.BigAutoField(primary_key=True, serialize=False)),
                ("customer_id", models.CharField(max_length=64, unique=True)),
                ("source_id", models.CharField(blank=True, max_length=500, null=True)),
                ("name", models.CharField(blank=True, max_length=500, null=True)),
                ("email", models.CharField(blank=True, max_length=500, null=True)),
                ("phone", models.CharField(blank=True, max_length=100, null=True)),
                ("city", models.CharField(blank=True, max_length=200, null=True)),
                ("country", models.CharField(blank=True, max_length=200, null=True)),
                ("created_at", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(blank=True, null=True)),
                ("search_text", models.TextField(default="")),
                ("city_folded", models.CharField(blank=True, default="", max_length=200)),
                ("seen", models.PositiveIntegerField(default=0)),
                ("indexed_at", models.DateTimeField()),
            ],
            options={
                "default_permissions": (),
                "indexes": [
                    models.Index(fields=["created_at", "customer_id"], name="search_created_idx"),
                    models.Index(fields=["updated_at", "customer_id"], name="search_updated_idx"),
                    models.Index(fields=["source_id", "customer_id"], name="search_source_idx"),
                    models.Index(fields=["city_folded", "created_at"], name="search_city_idx"),
                    models.Index(fields=["country"], name="search_country_idx"),
                ],
            },
        ),
        migrations.CreateModel(
            name="RemovedCustomer",
            fields=[
                ("customer_id", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("removed_at", models.DateTimeField()),
            ],
            options={"default_permissions": ()},
        ),
        migrations.AddField(
            model_name="searchindexstate", name="last_error_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="searchindexstate", name="last_pass", field=models.JSONField(blank=True, default=dict)
        ),
        migrations.AddField(
            model_name="searchindexstate",
            name="load_export_id",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name="searchindexstate", name="sweep_run", field=models.PositiveIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="searchindexstate", name="chain", field=models.CharField(blank=True, max_length=40)
        ),
        migrations.AddField(
            model_name="searchindexstate", name="next_sync_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="searchindexstate",
            name="sync_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(forget_the_old_load, migrations.RunPython.noop),
        migrations.RunPython(create_text_index, drop_text_index),
    ]
