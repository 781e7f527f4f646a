"""No two subscriptions of one customer in force in the same month, held by the database.

PostgreSQL: an exclusion constraint over the customer and the range of months (btree_gist).
SQLite: triggers that abort an insert or update that would overlap.
A subscription covers [first_month, last_month] (both first days of a month, last_month NULL for
"until further notice"); two overlap when each starts before the other ends.
"""

from django.db import migrations

TABLE = "billing_subscription"

POSTGRES_UP = f"""
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE {TABLE} ADD CONSTRAINT subscription_no_overlap EXCLUDE USING gist (
    customer_id WITH =,
    daterange(first_month, last_month, '[]') WITH &&
);
"""
POSTGRES_DOWN = f"ALTER TABLE {TABLE} DROP CONSTRAINT subscription_no_overlap;"

_SQLITE_CHECK = """
    SELECT RAISE(ABORT, 'subscription_no_overlap: customer already has a subscription in force in these months')
    WHERE EXISTS (
        SELECT 1 FROM billing_subscription other
        WHERE other.customer_id = NEW.customer_id
          AND other.id IS NOT NEW.id
          AND (other.last_month IS NULL OR other.last_month >= NEW.first_month)
          AND (NEW.last_month IS NULL OR other.first_month <= NEW.last_month)
    );
"""
SQLITE_UP = [
    f"CREATE TRIGGER subscription_no_overlap_insert BEFORE INSERT ON {TABLE} BEGIN {_SQLITE_CHECK} END;",
    f"CREATE TRIGGER subscription_no_overlap_update BEFORE UPDATE ON {TABLE} BEGIN {_SQLITE_CHECK} END;",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS subscription_no_overlap_insert;",
    "DROP TRIGGER IF EXISTS subscription_no_overlap_update;",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    elif vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_plans_and_tariffs")]

    operations = [migrations.RunPython(forwards, backwards)]
