"""Migration 0019: the usage summary's keys without a foreign key in PostgreSQL (its rows are the
keys of chats checked in the same transaction), SQLite's tables and their triggers untouched."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

SUMMARY_TABLES = ("billing_usageday", "billing_contactmonth", "billing_usagemonth")
BEFORE = ("billing", "0018_usage_month_per_customer")


def foreign_keys() -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                "AND conrelid::regclass::text = ANY(%s)",
                [list(SUMMARY_TABLES)],
            )
            return cursor.fetchone()[0]
        return sum(
            len(cursor.execute(f"PRAGMA foreign_key_list({table})").fetchall())
            for table in SUMMARY_TABLES
        )


def triggers() -> list[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgrelid::regclass::text || '.' || tgname FROM pg_trigger "
                "WHERE NOT tgisinternal AND tgrelid::regclass::text = ANY(%s) ORDER BY 1",
                [list(SUMMARY_TABLES)],
            )
        else:
            cursor.execute(
                "SELECT tbl_name || '.' || name FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name IN (%s, %s, %s) ORDER BY 1",
                list(SUMMARY_TABLES),
            )
        return [name for (name,) in cursor.fetchall()]


def migrate(target=None) -> None:
    """To `target`, or back to the latest migrations."""
    executor = MigrationExecutor(connection)
    executor.migrate([target] if target else executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_0019_drops_the_summary_keys_on_postgresql_only_and_reverses():
    kept = triggers()
    # UsageMonth's, on UsageDay and ContactMonth: insert, update, delete (and truncate: PostgreSQL)
    assert len(kept) == (8 if connection.vendor == "postgresql" else 6)
    after = 0 if connection.vendor == "postgresql" else 5
    assert foreign_keys() == after
    try:
        migrate(BEFORE)
        assert foreign_keys() == 5
        assert triggers() == kept
    finally:
        migrate()
    assert foreign_keys() == after
    assert triggers() == kept
