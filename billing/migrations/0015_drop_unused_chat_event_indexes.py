"""The chat events' three single-column foreign-key indexes go (issue 16): `customer_id` is the
start of event_customer_time, `tariff_id` is never scanned, `voided_by_id` holds only NULLs. Each
cost every insert (a 200k-row load is 12 % faster without them).

Django's own operation (AlterField to db_index=False) drops the foreign key, the index, then adds
the foreign key again, which checks every chat under a lock: here only the indexes are dropped,
found by their column, and the foreign keys are left alone."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

COLUMNS = ("customer_id", "tariff_id", "voided_by_id")


def drop_indexes(apps, schema_editor):
    model = apps.get_model("billing", "ChatEvent")
    for column in COLUMNS:
        for name in schema_editor._constraint_names(model, [column], index=True):
            schema_editor.execute(schema_editor._delete_index_sql(model, name))


def create_indexes(apps, schema_editor):
    model = apps.get_model("billing", "ChatEvent")
    for field in model._meta.concrete_fields:
        if field.column in COLUMNS:
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0014_heartbeat"),
        ("customers", "0006_siren_from_vat_number"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
            state_operations=[
                migrations.AlterField(
                    model_name="chatevent",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="chat_events",
                        to="customers.customer",
                        verbose_name="customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="chatevent",
                    name="tariff",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="chat_events",
                        to="billing.tariff",
                        verbose_name="tariff",
                    ),
                ),
                migrations.AlterField(
                    model_name="chatevent",
                    name="voided_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="voided by",
                    ),
                ),
            ],
        )
    ]
