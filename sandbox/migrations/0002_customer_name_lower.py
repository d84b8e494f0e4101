"""Adds the lowercased name column behind the case-insensitive ``name`` filter and fills it."""

from django.db import migrations, models


def fill_name_lower(apps, schema_editor):
    customer_model = apps.get_model("sandbox", "Customer")
    rows = customer_model.objects.using(schema_editor.connection.alias).exclude(name=None).only("id", "name")
    batch = []
    for customer in rows.iterator(chunk_size=2000):
        customer.name_lower = customer.name.lower()
        batch.append(customer)
        if len(batch) == 2000:
            customer_model.objects.bulk_update(batch, ["name_lower"])
            batch = []
    customer_model.objects.bulk_update(batch, ["name_lower"])


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="name_lower",
            field=models.CharField(max_length=500, null=True),
        ),
        migrations.RunPython(fill_name_lower, migrations.RunPython.noop),
    ]
