"""The usage summary's keys without a foreign key in the database (issue 16).

UsageDay, ContactMonth and UsageMonth hold the keys of chats stored in the same transaction, whose
own foreign keys are checked at commit: a second check per summary row (PostgreSQL runs one query
per row inserted) cost some 6 % of an ingested batch. See billing.models.events.SUMMARY_KEY.

PostgreSQL drops the five constraints (and adds them back when reversed: its rows are the chats'
keys, so they hold). SQLite is left as it is: changing a column's constraint there means building
the table again, which would drop the usage summary's triggers with it (migration 0018), and a
check per row costs SQLite little. Django's state is the same on both.
"""

from django.db import migrations, models


class AlterFieldOnPostgreSQL(migrations.AlterField):
    """AlterField for Django's state everywhere; in the database, on PostgreSQL only."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def _key(to: str) -> models.ForeignKey:
    return models.ForeignKey(
        db_constraint=False,
        db_index=False,
        on_delete=models.deletion.CASCADE,
        related_name="+",
        to=to,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0018_usage_month_per_customer"),
        ("customers", "0006_siren_from_vat_number"),
    ]

    operations = [
        AlterFieldOnPostgreSQL(model_name=model, name=name, field=_key(to))
        for model, name, to in [
            ("contactmonth", "customer", "customers.customer"),
            ("contactmonth", "tariff", "billing.tariff"),
            ("usageday", "customer", "customers.customer"),
            ("usageday", "tariff", "billing.tariff"),
            ("usagemonth", "customer", "customers.customer"),
        ]
    ]
