"""UsageMonth summed per customer and month, no longer per tariff too (issue 16).

The dashboard reads a customer's month as one figure (the points of the tariffs charged per chat,
plus its engaged contacts' points) and its chats: the tariff split served nobody, and it cost
ingestion dearly. A batch of 1,000 chats spread over a month touches some 500 (month, customer,
tariff) rows and only about 60 (month, customer) ones: the triggers' upsert was a fifth of the
batch's statement (bench/ingest.py, EXPLAIN ANALYZE: 22 ms of 147).

So a row now holds, per customer and month: `chats` (every chat of UsageDay), `points` (UsageDay's
points of the tariffs charged per chat: a tariff's unit never changes once it exists) and
`contact_points` (ContactMonth's points). The triggers are those of migration 0016, grouped by
(month, customer), the tariff's unit read in the statement (PostgreSQL: a join on the transition
table; SQLite: a subquery per row). The rows are summed again from UsageDay and ContactMonth.
"""

import importlib

from django.db import migrations, models

# The unit of the tariffs charged per engaged contact (billing.models.Unit.CONTACT_MONTH, frozen
# here as a migration must be).
CONTACT_MONTH = "contact_month"
_SUMS = ("chats", "points", "contact_points")
_KEY = ("month", "customer_id")
_ADD = ", ".join(f"{column} = m.{column} + excluded.{column}" for column in _SUMS)
_ALL_ZERO = " AND ".join(f"m.{column} = 0" for column in _SUMS)
# A UsageDay row's points that count as the chats' (SQLite: a subquery per row; PostgreSQL
# joins billing_tariff, aliased `tf`, once per statement).
_PER_CHAT = {
    "sqlite": (
        f"CASE WHEN (SELECT unit FROM billing_tariff WHERE id = {{t}}.tariff_id) = "
        f"'{CONTACT_MONTH}' THEN 0 ELSE {{t}}.points END"
    ),
    "postgresql": f"CASE WHEN tf.unit = '{CONTACT_MONTH}' THEN 0 ELSE {{t}}.points END",
}
_PG_MONTH = {
    "usageday": "date_trunc('month', {t}.day::timestamp)::date",
    "contactmonth": "{t}.month",
}
_SQLITE_MONTH = {"usageday": "strftime('%Y-%m-01', {t}.day)", "contactmonth": "{t}.month"}


def _values(source: str, t: str, vendor: str) -> tuple[str, str, str]:
    """What a row `t` of `source` adds to its month's row: (chats, points, contact points)."""
    if source == "usageday":
        return (f"{t}.chats", _PER_CHAT[vendor].format(t=t), "0")
    return ("0", "0", f"{t}.points")


def _pg_from(source: str, table: str, t: str) -> str:
    tariffs = " JOIN billing_tariff tf ON tf.id = {t}.tariff_id" if source == "usageday" else ""
    return f"{table} {t}" + tariffs.format(t=t)


def _pg_rows(source: str, table: str, sign: str) -> str:
    t = table[0]
    columns = ", ".join(
        f"{sign}{value} AS {name}" if value != "0" else f"0 AS {name}"
        for value, name in zip(_values(source, t, "postgresql"), _SUMS, strict=True)
    )
    return (
        f"SELECT {_PG_MONTH[source].format(t=t)} AS month, {t}.customer_id, {columns} "
        f"FROM {_pg_from(source, table, t)}"
    )


def _pg_upsert(rows: str, *, having: str = "") -> str:
    return f"""
        INSERT INTO billing_usagemonth AS m (month, customer_id, {", ".join(_SUMS)})
        SELECT month, customer_id, {", ".join(f"sum({c})::bigint" for c in _SUMS)}
        FROM ({rows}) AS changed
        GROUP BY 1, 2{having}
        ORDER BY 1, 2
        ON CONFLICT (month, customer_id) DO UPDATE SET {_ADD};"""


def _pg_subtract(source: str) -> str:
    """The deleted rows' sums taken off their months' rows, locked first in key order (as the
    upsert locks them): a month row that is not there (a flush emptied it first) is left absent,
    never made negative."""
    sums = ", ".join(f"sum({c}) AS {c}" for c in _SUMS)
    gone = f"SELECT month, customer_id, {sums} FROM ({_pg_rows(source, 'old_rows', '')}) r GROUP BY 1, 2"
    keys = "m.month = g.month AND m.customer_id = g.customer_id"
    take = ", ".join(f"{c} = m.{c} - g.{c}" for c in _SUMS)
    return f"""
        PERFORM 1 FROM billing_usagemonth m JOIN ({gone}) g ON {keys}
            ORDER BY m.month, m.customer_id FOR UPDATE OF m;
        UPDATE billing_usagemonth m SET {take} FROM ({gone}) g WHERE {keys};"""


def _pg_emptied(source: str) -> str:
    month = _PG_MONTH[source].format(t="o")
    return f"""
        DELETE FROM billing_usagemonth m
        USING (SELECT DISTINCT {month} AS month, customer_id FROM old_rows o) AS gone
        WHERE m.month = gone.month AND m.customer_id = gone.customer_id AND {_ALL_ZERO};"""


def _pg_functions(source: str) -> str:
    function = f"billing_usagemonth_from_{source}"
    changed = _pg_rows(source, "new_rows", "") + " UNION ALL " + _pg_rows(source, "old_rows", "-")
    zero = ", ".join(
        f"{column} = 0"
        for column, value in zip(_SUMS, _values(source, "t", "postgresql"), strict=True)
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


def _pg_drop(source: str) -> str:
    return f"""
DROP TRIGGER usage_month_truncate ON billing_{source};
DROP TRIGGER usage_month_delete ON billing_{source};
DROP TRIGGER usage_month_update ON billing_{source};
DROP TRIGGER usage_month_insert ON billing_{source};
DROP FUNCTION billing_usagemonth_from_{source}_truncated();
DROP FUNCTION billing_usagemonth_from_{source}();
"""


def _sqlite_add(source: str, row: str) -> str:
    month = _SQLITE_MONTH[source].format(t=row)
    values = ", ".join(_values(source, row, "sqlite"))
    add = ", ".join(f"{column} = {column} + excluded.{column}" for column in _SUMS)
    return f"""INSERT INTO billing_usagemonth (month, customer_id, {", ".join(_SUMS)})
        VALUES ({month}, {row}.customer_id, {values})
        ON CONFLICT (month, customer_id) DO UPDATE SET {add};"""


def _sqlite_subtract(source: str) -> str:
    """An old row's sums taken off its month's row, if that row is there (a flush may have
    emptied billing_usagemonth first: nothing then to take from, and no row to make)."""
    month = _SQLITE_MONTH[source].format(t="OLD")
    take = ", ".join(
        f"{column} = {column} - {value}"
        for value, column in zip(_values(source, "OLD", "sqlite"), _SUMS, strict=True)
        if value != "0"
    )
    return f"""UPDATE billing_usagemonth SET {take}
        WHERE month = {month} AND customer_id = OLD.customer_id;"""


def _sqlite_triggers(source: str) -> list[str]:
    month = _SQLITE_MONTH[source].format(t="OLD")
    zero = " AND ".join(f"{column} = 0" for column in _SUMS)
    return [
        f"""CREATE TRIGGER usage_month_{source}_insert AFTER INSERT ON billing_{source}
        BEGIN {_sqlite_add(source, "NEW")} END;""",
        f"""CREATE TRIGGER usage_month_{source}_update AFTER UPDATE ON billing_{source}
        BEGIN {_sqlite_subtract(source)} {_sqlite_add(source, "NEW")} END;""",
        f"""CREATE TRIGGER usage_month_{source}_delete AFTER DELETE ON billing_{source}
        BEGIN {_sqlite_subtract(source)}
            DELETE FROM billing_usagemonth
            WHERE month = {month} AND customer_id = OLD.customer_id AND {zero};
        END;""",
    ]


def _sqlite_drop() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS usage_month_{source}_{event};"
        for source in _PG_MONTH
        for event in ("insert", "update", "delete")
    ]


def _before_0018():
    return importlib.import_module("billing.migrations.0016_dashboard_totals")


def drop_triggers(apps, schema_editor):
    """The triggers go (0016's and 0018's have the same names), and the month rows: the table
    changes shape."""
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("".join(_pg_drop(source) for source in _PG_MONTH))
        elif vendor == "sqlite":
            for statement in _sqlite_drop():
                cursor.execute(statement)
        cursor.execute("DELETE FROM billing_usagemonth")


def restore_tariff_triggers(apps, schema_editor):
    """Backwards: migration 0016's triggers and its rows per tariff again."""
    old = _before_0018()
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DELETE FROM billing_usagemonth")
        if vendor == "postgresql":
            cursor.execute("".join(old._pg_functions(source) for source in old._PG_SOURCES))
        else:
            for statement in old.SQLITE_UP:
                cursor.execute(statement)
    _refill(schema_editor, old._PG_SOURCES, by_tariff=True)


def _refill(schema_editor, sources, *, by_tariff: bool) -> None:
    """The month rows summed from the summary's rows already there (as if each were inserted)."""
    vendor = schema_editor.connection.vendor
    month = _PG_MONTH if vendor == "postgresql" else _SQLITE_MONTH
    tariff = ", tariff_id" if by_tariff else ""
    rows = " UNION ALL ".join(
        f"SELECT {month[source].format(t='t')} AS month, customer_id{tariff}, "
        + ", ".join(
            f"{value} AS {name}"
            for value, name in zip(
                sources[source][1:] if by_tariff else _values(source, "t", vendor),
                _SUMS,
                strict=True,
            )
        )
        + (
            f" FROM billing_{source} t"
            if by_tariff or vendor == "sqlite"
            else f" FROM {_pg_from(source, f'billing_{source}', 't')}"
        )
        for source in month
    )
    keys = f"month, customer_id{tariff}"
    with schema_editor.connection.cursor() as cursor:  # no parameters: % is SQL's own
        cursor.execute(
            f"INSERT INTO billing_usagemonth ({keys}, {', '.join(_SUMS)}) "
            f"SELECT {keys}, {', '.join(f'sum({c})' for c in _SUMS)} "
            f"FROM ({rows}) AS summary GROUP BY {keys}"
        )


def create_customer_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        return
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("".join(_pg_functions(source) for source in _PG_MONTH))
        else:
            for source in _PG_MONTH:
                for statement in _sqlite_triggers(source):
                    cursor.execute(statement)
    _refill(schema_editor, None, by_tariff=False)


class Migration(migrations.Migration):
    dependencies = [("billing", "0017_ingest_speed")]

    operations = [
        migrations.RunPython(drop_triggers, restore_tariff_triggers),
        migrations.RemoveConstraint(model_name="usagemonth", name="usage_month_unique"),
        migrations.RemoveField(model_name="usagemonth", name="tariff"),
        migrations.AddConstraint(
            model_name="usagemonth",
            constraint=models.UniqueConstraint(
                fields=("month", "customer"), name="usage_month_unique"
            ),
        ),
        migrations.RunPython(create_customer_triggers, drop_triggers),
    ]
