"""The staff dashboard's totals (issue 15).

1. billing_usagemonth: the usage summary summed per customer, month and tariff (UsageDay's chats
   and points, ContactMonth's points), kept by triggers on billing_usageday and
   billing_contactmonth, so that it equals their sums whatever writes them (ingestion's
   statement, the generic upsert, voiding's rebuild, a bulk load, a test writing rows directly):
   no application code has to remember it. PostgreSQL: one statement-level trigger per event with
   its transition tables, so that a batch's upsert of a thousand day rows costs one aggregated
   upsert of its month rows, at the end of the statement (keys in order: one lock order for
   concurrent batches). SQLite (tests, development): row-level triggers doing the same row by
   row. A row whose sums all come back to zero (its days and contacts deleted, as voiding's
   rebuild does before inserting them again) is deleted; TRUNCATE of either table (benchmarks,
   the tests' flush) takes its sums out too. The rows already there are summed at the end.

2. PostgreSQL only, partial covering indexes on billing_invoice that the dashboard's receivables
   and revenue read without the invoices' wide rows (index-only scans), and one on the few
   invoices whose e-mail failed. Invoices are written at month close: their cost is small.
"""

import django.db.models.deletion
from django.db import migrations, models

# What each source table adds to a month row: (month of a row `t`, chats, points, contact points).
_PG_SOURCES = {
    "usageday": ("date_trunc('month', {t}.day::timestamp)::date", "chats", "points", "0"),
    "contactmonth": ("{t}.month", "0", "0", "points"),
}
_SQLITE_MONTH = {"usageday": "strftime('%Y-%m-01', {t}.day)", "contactmonth": "{t}.month"}
_SUMS = ("chats", "points", "contact_points")
_ADD = ", ".join(f"{column} = m.{column} + excluded.{column}" for column in _SUMS)
_ALL_ZERO = " AND ".join(f"m.{column} = 0" for column in _SUMS)


def _pg_rows(source: str, table: str, sign: str) -> str:
    month, *values = _PG_SOURCES[source]
    alias = table[0]
    columns = ", ".join(
        f"{sign}{alias}.{value} AS {name}" if value != "0" else f"0 AS {name}"
        for value, name in zip(values, _SUMS, strict=True)
    )
    return (
        f"SELECT {month.format(t=alias)} AS month, {alias}.customer_id, {alias}.tariff_id, "
        f"{columns} FROM {table} {alias}"
    )


def _pg_upsert(rows: str, *, having: str = "") -> str:
    return f"""
        INSERT INTO billing_usagemonth AS m (month, customer_id, tariff_id, {", ".join(_SUMS)})
        SELECT month, customer_id, tariff_id, {", ".join(f"sum({c})::bigint" for c in _SUMS)}
        FROM ({rows}) AS changed
        GROUP BY 1, 2, 3{having}
        ORDER BY 1, 2, 3
        ON CONFLICT (month, customer_id, tariff_id) DO UPDATE SET {_ADD};"""


def _pg_subtract(source: str) -> str:
    """The deleted rows' sums taken off their months' rows, locked first in key order (as the
    upsert locks them): a month row that is not there (a flush emptied it first) is left absent,
    never made negative."""
    sums = ", ".join(f"sum({c}) AS {c}" for c in _SUMS)
    gone = f"SELECT month, customer_id, tariff_id, {sums} FROM ({_pg_rows(source, 'old_rows', '')}) r GROUP BY 1, 2, 3"
    keys = "m.month = g.month AND m.customer_id = g.customer_id AND m.tariff_id = g.tariff_id"
    take = ", ".join(f"{c} = m.{c} - g.{c}" for c in _SUMS)
    return f"""
        PERFORM 1 FROM billing_usagemonth m JOIN ({gone}) g ON {keys}
            ORDER BY m.month, m.customer_id, m.tariff_id FOR UPDATE OF m;
        UPDATE billing_usagemonth m SET {take} FROM ({gone}) g WHERE {keys};"""


def _pg_emptied(source: str) -> str:
    month = _PG_SOURCES[source][0].format(t="o")
    return f"""
        DELETE FROM billing_usagemonth m
        USING (SELECT DISTINCT {month} AS month, customer_id, tariff_id FROM old_rows o) AS gone
        WHERE m.month = gone.month AND m.customer_id = gone.customer_id
          AND m.tariff_id = gone.tariff_id AND {_ALL_ZERO};"""


def _pg_functions(source: str) -> str:
    function = f"billing_usagemonth_from_{source}"
    changed = _pg_rows(source, "new_rows", "") + " UNION ALL " + _pg_rows(source, "old_rows", "-")
    zero = ", ".join(
        f"{column} = 0"
        for column, value in zip(_SUMS, _PG_SOURCES[source][1:], strict=True)
        if value != "0"
    )
    return f"""
CREATE FUNCTION {function}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_pg_upsert(_pg_rows(source, "new_rows", ""))}
    ELSIF TG_OP = 'UPDATE' THEN
        {_pg_upsert(changed, having=" HAVING " + " OR ".join(f"sum({c}) <> 0" for c in _SUMS))}
    ELSE
        {_pg_subtract(source)}
        {_pg_emptied(source)}
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER usage_month_insert AFTER INSERT ON billing_{source}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER usage_month_update AFTER UPDATE ON billing_{source}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER usage_month_delete AFTER DELETE ON billing_{source}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
-- UPDATE and DELETE, not TRUNCATE: the statement may be truncating billing_usagemonth too.
CREATE FUNCTION {function}_truncated() RETURNS trigger AS $$
BEGIN
    UPDATE billing_usagemonth SET {zero};
    DELETE FROM billing_usagemonth m WHERE {_ALL_ZERO};
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER usage_month_truncate AFTER TRUNCATE ON billing_{source}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}_truncated();
"""


POSTGRES_INDEXES = """
CREATE INDEX invoice_receivable ON billing_invoice (due_date) INCLUDE (paid_on, total)
    WHERE kind = 'invoice' AND status = 'issued';
CREATE INDEX invoice_revenue ON billing_invoice (month) INCLUDE (plan_name, net_total)
    WHERE NOT status = 'draft';
CREATE INDEX invoice_email_failed ON billing_invoice (status) WHERE email_status = 'failed';
"""
POSTGRES_UP = "".join(_pg_functions(source) for source in _PG_SOURCES) + POSTGRES_INDEXES
POSTGRES_DOWN = (
    "".join(
        f"""
DROP TRIGGER usage_month_truncate ON billing_{source};
DROP TRIGGER usage_month_delete ON billing_{source};
DROP TRIGGER usage_month_update ON billing_{source};
DROP TRIGGER usage_month_insert ON billing_{source};
DROP FUNCTION billing_usagemonth_from_{source}_truncated();
DROP FUNCTION billing_usagemonth_from_{source}();
"""
        for source in _PG_SOURCES
    )
    + "DROP INDEX invoice_receivable; DROP INDEX invoice_revenue; DROP INDEX invoice_email_failed;"
)


def _sqlite_add(source: str, row: str, sign: str) -> str:
    month = _SQLITE_MONTH[source].format(t=row)
    values = ", ".join(
        f"{sign}{row}.{value}" if value != "0" else "0" for value in _PG_SOURCES[source][1:]
    )
    add = ", ".join(f"{column} = {column} + excluded.{column}" for column in _SUMS)
    return f"""INSERT INTO billing_usagemonth (month, customer_id, tariff_id, {", ".join(_SUMS)})
        VALUES ({month}, {row}.customer_id, {row}.tariff_id, {values})
        ON CONFLICT (month, customer_id, tariff_id) DO UPDATE SET {add};"""


def _sqlite_subtract(source: str) -> str:
    """An old row's sums taken off its month's row, if that row is there (a flush may have
    emptied billing_usagemonth first: nothing then to take from, and no row to make)."""
    month = _SQLITE_MONTH[source].format(t="OLD")
    take = ", ".join(
        f"{column} = {column} - OLD.{value}"
        for value, column in zip(_PG_SOURCES[source][1:], _SUMS, strict=True)
        if value != "0"
    )
    return f"""UPDATE billing_usagemonth SET {take}
        WHERE month = {month} AND customer_id = OLD.customer_id AND tariff_id = OLD.tariff_id;"""


def _sqlite_triggers(source: str) -> list[str]:
    month = _SQLITE_MONTH[source].format(t="OLD")
    zero = " AND ".join(f"{column} = 0" for column in _SUMS)
    return [
        f"""CREATE TRIGGER usage_month_{source}_insert AFTER INSERT ON billing_{source}
        BEGIN {_sqlite_add(source, "NEW", "")} END;""",
        f"""CREATE TRIGGER usage_month_{source}_update AFTER UPDATE ON billing_{source}
        BEGIN {_sqlite_subtract(source)} {_sqlite_add(source, "NEW", "")} END;""",
        f"""CREATE TRIGGER usage_month_{source}_delete AFTER DELETE ON billing_{source}
        BEGIN {_sqlite_subtract(source)}
            DELETE FROM billing_usagemonth
            WHERE month = {month} AND customer_id = OLD.customer_id AND tariff_id = OLD.tariff_id
              AND {zero};
        END;""",
    ]


SQLITE_UP = [statement for source in _PG_SOURCES for statement in _sqlite_triggers(source)]
SQLITE_DOWN = [
    f"DROP TRIGGER IF EXISTS usage_month_{source}_{event};"
    for source in _PG_SOURCES
    for event in ("insert", "update", "delete")
]


def forwards(apps, schema_editor):
    """The triggers (and PostgreSQL's indexes), then the sums of the summary already there: as
    if each of its rows were inserted now."""
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        return
    month = {
        "postgresql": {s: _PG_SOURCES[s][0] for s in _PG_SOURCES},
        "sqlite": _SQLITE_MONTH,
    }[vendor]
    with schema_editor.connection.cursor() as cursor:  # no parameters: % is SQL's own
        for statement in [POSTGRES_UP] if vendor == "postgresql" else SQLITE_UP:
            cursor.execute(statement)
        rows = " UNION ALL ".join(
            f"SELECT {month[source].format(t='t')} AS month, customer_id, tariff_id, "
            + ", ".join(
                f"{value} AS {name}"
                for value, name in zip(_PG_SOURCES[source][1:], _SUMS, strict=True)
            )
            + f" FROM billing_{source} t"
            for source in _PG_SOURCES
        )
        cursor.execute(
            f"INSERT INTO billing_usagemonth (month, customer_id, tariff_id, {', '.join(_SUMS)}) "
            f"SELECT month, customer_id, tariff_id, {', '.join(f'sum({c})' for c in _SUMS)} "
            f"FROM ({rows}) AS summary GROUP BY 1, 2, 3"
        )


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(POSTGRES_DOWN)
        elif vendor == "sqlite":
            for statement in SQLITE_DOWN:
                cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0015_drop_unused_chat_event_indexes"),
        ("customers", "0006_siren_from_vat_number"),
    ]

    operations = [
        migrations.CreateModel(
            name="UsageMonth",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField()),
                ("chats", models.BigIntegerField()),
                ("points", models.BigIntegerField()),
                ("contact_points", models.BigIntegerField()),
                (
                    "customer",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="customers.customer",
                    ),
                ),
                (
                    "tariff",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="billing.tariff",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("month", "customer", "tariff"), name="usage_month_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
