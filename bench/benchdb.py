"""What the benchmarks share: their own PostgreSQL database (kept between runs, or made again at
each run), Django set up as in production (DEBUG off, no developer's .env), dealers created
through the model, the bulk load of a dataset (secondary indexes and foreign keys dropped, COPY
in chunks, the dataset marked complete), and the smoke size that the test suite runs
(tests/bench/test_smoke.py)."""

from __future__ import annotations

import itertools
import math
import os
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-only-secret-key-not-for-production"
SMOKE_SUFFIX = "_smoke"
# A database already migrated, to create the bench's database from (CREATE DATABASE … TEMPLATE:
# half a second, where migrating an empty one takes 4 to 15 s on a busy machine). The smoke
# tests make one per session (`python bench/benchdb.py template URL`); unset, a bench starts
# from an empty database and migrates it.
TEMPLATE_VARIABLE = "BENCH_TEMPLATE_DATABASE"


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def admin_url(url: str) -> str:
    """The same server, database `postgres`: where CREATE/DROP DATABASE run."""
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def bench_url(variable: str, default: str, *, smoke: bool = False) -> str:
    """The bench's database: $variable if set, else `default`; at the smoke size the default's
    name gains `_smoke`, so that a smoke run never touches the full-size dataset."""
    url = os.environ.get(variable)
    if url:
        return url
    if smoke:
        parts = urlsplit(default)
        return urlunsplit(parts._replace(path=parts.path + SMOKE_SUFFIX))
    return default


def check_name(url: str) -> str:
    name = database_name(url)
    if "bench" not in name:
        sys.exit(f"refusing to use database {name!r}: its name must contain 'bench'")
    return name


def dataset_complete(url: str, dataset: str) -> bool:
    """The chat-event table carries `dataset` as its comment once a load is complete."""
    with psycopg.connect(url) as conn:
        comment = conn.execute(
            "SELECT obj_description(to_regclass('billing_chatevent'), 'pg_class')"
        ).fetchone()[0]
    return comment == dataset


def _create(admin, name: str) -> None:
    template = os.environ.get(TEMPLATE_VARIABLE)
    if template:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    else:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def prepare_database(url: str, rebuild: bool, dataset: str) -> bool:
    """Create (or drop and create) the bench database; True when the dataset must be generated."""
    name = check_name(url)
    with psycopg.connect(admin_url(url), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not rebuild and dataset_complete(url, dataset):
            return False
        if exists:
            why = "--rebuild" if rebuild else "dataset missing or incomplete"
            print(f"dropping database {name} ({why})")
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        print(f"creating database {name}")
        _create(admin, name)
    return True


def recreate_database(url: str) -> None:
    """Drop the bench database if it is there and create it empty (the benchmarks that measure
    writes start from nothing at each run)."""
    name = check_name(url)
    with psycopg.connect(admin_url(url), autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        _create(admin, name)


def drop_database(url: str) -> None:
    name = check_name(url)
    with psycopg.connect(admin_url(url), autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def django_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a Django process on the bench database (this one, or a child such as
    gunicorn or manage.py): production-like, DEBUG off (no query logging in the cursor), so a
    key is needed, and no developer's .env (DEBUG=1) in the way."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "ENV_FILE": "/dev/null",
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or SECRET_KEY,
        **extra,
    }


def setup_django(url: str, **extra: str) -> None:
    os.environ.update(django_env(url, **extra))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def open_dataset(url: str, *, rebuild: bool, dataset: str, generate, what: str):
    """Prepare the database, set Django up, migrate, and generate the dataset unless a complete
    one is there (`generate(connection)` returns its seconds). Returns Django's connection."""
    must_generate = prepare_database(url, rebuild, dataset)
    setup_django(url)
    from django.db import connection

    migrate()
    if must_generate:
        print(f"generating {what} into {database_name(url)} ...", flush=True)
        print(f"data generated in {generate(connection):.1f} s", flush=True)
    else:
        print(f"reusing the dataset in {database_name(url)} (--rebuild to regenerate)")
    return connection


def customers_create(customers: list) -> list:
    """Store the bench's dealers through the model, as the admin would: each one is checked
    first (its fields' validators and Customer.clean(); uniqueness and CHECK constraints are left
    to the database), so that a change of the model the bench's data no longer satisfies stops
    here with the customer, the field and the reason, and every field the bench does not set
    takes the model's default. Then one bulk INSERT."""
    from django.core.exceptions import ValidationError

    from customers.models import Customer

    for customer in customers:
        try:
            customer.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            sys.exit(f"FAILED: the bench's customer {customer.code} is refused: {error}")
    return Customer.objects.bulk_create(customers)


# --- bulk loads of chat events --------------------------------------------------------------------

COPY_CHUNK = 250_000  # rows per COPY transaction
# The columns a benchmark's chats are loaded with (the others take their defaults); a chat never
# voided may stop at received_at.
CHAT_EVENT_COLUMNS = (
    "source",
    "external_id",
    "customer_id",
    "tariff_id",
    "actor",
    "contact",
    "occurred_at",
    "points",
    "metadata",
    "received_at",
    "voided_at",
    "void_reason",
)

# What slows a bulk load down: the indexes that back no constraint, and the foreign keys (checked
# row by row at commit). Both are dropped for the load and made again from their own definitions.
_SECONDARY_INDEXES = """
SELECT format('DROP INDEX %I.%I', i.schemaname, i.indexname), i.indexdef
FROM pg_indexes i
WHERE i.schemaname = current_schema() AND i.tablename = 'billing_chatevent'
  AND NOT EXISTS (
      SELECT 1 FROM pg_constraint c
      WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass
  )
"""
_FOREIGN_KEYS = """
SELECT format('ALTER TABLE billing_chatevent DROP CONSTRAINT %I', conname),
       format('ALTER TABLE billing_chatevent ADD CONSTRAINT %I ', conname)
       || pg_get_constraintdef(oid)
FROM pg_constraint
WHERE conrelid = 'billing_chatevent'::regclass AND contype = 'f'
"""


@contextmanager
def chat_events_bulk_load(connection):
    """For a bulk load into billing_chatevent through Django's `connection`: its secondary
    indexes and foreign keys are dropped, and made again from their own definitions once the
    block is done (not after an error: the dataset is then left incomplete, unmarked, and made
    again by the next run)."""
    with connection.cursor() as cursor:
        cursor.execute(_SECONDARY_INDEXES)
        recreate = cursor.fetchall()
        cursor.execute(_FOREIGN_KEYS)
        recreate += cursor.fetchall()
        for drop, _create in recreate:
            cursor.execute(drop)
    yield
    with connection.cursor() as cursor:
        for _drop, create in recreate:
            cursor.execute(create)


def copy_rows(
    connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[tuple],
    *,
    chunk_size: int = COPY_CHUNK,
    started: float | None = None,
) -> int:
    """COPY `rows` (tuples in the order of `columns`, consumed lazily) into `table` through
    Django's `connection`, `chunk_size` rows per transaction. With `started` (a perf_counter
    time), prints the rows loaded so far after each chunk. Returns the number of rows."""
    from django.db import transaction

    copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    rows = iter(rows)
    loaded = 0
    while True:
        written = 0
        with (
            transaction.atomic(),
            connection.connection.cursor() as cursor,
            cursor.copy(copy_sql) as copy,
        ):
            for row in itertools.islice(rows, chunk_size):
                copy.write_row(row)
                written += 1
        loaded += written
        if written and started is not None:
            elapsed = time.perf_counter() - started
            print(f"  {loaded:>9,} events loaded ({elapsed:.1f} s)", flush=True)
        if written < chunk_size:
            return loaded


def dataset_mark(connection, dataset: str, *, tables: Sequence[str] = ("billing_chatevent",)):
    """After a load: VACUUM (ANALYZE) `tables`, ANALYZE the rest, and mark the dataset complete
    (the chat-event table's comment, read by dataset_complete)."""
    if "'" in dataset:
        raise ValueError(f"a dataset's name has no quote: {dataset!r}")
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
        cursor.execute("ANALYZE")
        cursor.execute(f"COMMENT ON TABLE billing_chatevent IS '{dataset}'")


def percentile(samples, fraction):
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a server the bench starts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def add_smoke_argument(parser) -> None:
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny size that runs in seconds, with every correctness check (the test suite "
        "runs it); its own database, the default name + '_smoke'",
    )


def template_ensure(url: str, key: str) -> bool:
    """A migrated database for BENCH_TEMPLATE_DATABASE, kept between runs: made again (dropped,
    created, migrated) unless it carries `key` (e.g. a hash of the migrations) as its comment.
    Concurrent callers wait on an advisory lock: one makes it, the others find it made. True
    when it was made. A template a migration is missing from is still safe: each bench migrates
    its copy."""
    name = check_name(url)
    with psycopg.connect(admin_url(url), autocommit=True) as admin:
        admin.execute("SELECT pg_advisory_lock(hashtext(%s))", [name])
        try:
            comment = admin.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                [name],
            ).fetchone()
            if comment and comment[0] == key:
                return False
            os.environ.pop(TEMPLATE_VARIABLE, None)
            recreate_database(url)
            setup_django(url)
            migrate()
            from django.db import connection

            connection.close()  # a template must have no session open when it is copied
            admin.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(name), sql.Literal(key)
                )
            )
            return True
        finally:
            admin.execute("SELECT pg_advisory_unlock(hashtext(%s))", [name])


def main() -> None:
    """`template URL --key KEY`: make that database a migrated template unless it is one for
    KEY already (template_ensure); `drop URL`: drop it. Both refuse a name without 'bench'."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("action", choices=["template", "drop"])
    parser.add_argument("url")
    parser.add_argument("--key", default="", help="what the template is for (its comment)")
    options = parser.parse_args()
    if options.action == "drop":
        drop_database(options.url)
    elif template_ensure(options.url, options.key):
        print(f"made the template {database_name(options.url)}")
    else:
        print(f"the template {database_name(options.url)} is up to date")


if __name__ == "__main__":
    main()
