"""The usage summary's writes made cheaper (issue 16): every batch of chats upserts about one
UsageDay row per chat (bench/ingest.py: 977 rows for 1,000 chats, 80 % of them updates).

- UsageDay's and ContactMonth's single-column foreign-key indexes go: `customer_id` is the start
  of each table's unique key (which serves the customer's rows and the CASCADE), `tariff_id` is
  never scanned (a tariff with usage has chats, which PROTECT it). Each one cost every insert,
  and every update that is not HOT.
- PostgreSQL: UsageDay's pages are filled to 50 % (fillfactor) so that adding to a day's sums
  (only `chats` and `points` change, no indexed column) is a HOT update: the new row version on
  the same page, no index touched. It applies to the pages written from now on (a table already
  large keeps its pages until it is rewritten, e.g. VACUUM FULL at a quiet time).

As in migration 0015, only the indexes are dropped (found by their column): Django's AlterField
would drop and add the foreign keys again, checking every row under a lock."""

from django.db import migrations, models

COLUMNS = {"UsageDay": ("customer_id", "tariff_id"), "ContactMonth": ("customer_id", "tariff_id")}
FILLFACTOR = 50


def forwards(apps, schema_editor):
    for name, columns in COLUMNS.items():
        model = apps.get_model("billing", name)
        for column in columns:
            for index in schema_editor._constraint_names(model, [column], index=True):
                schema_editor.execute(schema_editor._delete_index_sql(model, index))
    if schema_editor.connection.vendor == "postgresql":
        table = schema_editor.quote_name(apps.get_model("billing", "UsageDay")._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = schema_editor.quote_name(apps.get_model("billing", "UsageDay")._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    for name, columns in COLUMNS.items():
        model = apps.get_model("billing", name)
        for field in model._meta.concrete_fields:
            if field.column in columns:
                schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


def _foreign_key(to: str):
    return models.ForeignKey(
        db_index=False,
        on_delete=models.deletion.CASCADE,
        related_name="+",
        to=to,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0016_dashboard_totals"),
        ("customers", "0006_siren_from_vat_number"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.AlterField(model_name=model, name=field, field=_foreign_key(to))
                for model in ("usageday", "contactmonth")
                for field, to in (("customer", "customers.customer"), ("tariff", "billing.tariff"))
            ],
        )
    ]
