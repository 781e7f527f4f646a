"""Benchmark: `manage.py import_chat_events` memory and speed against the size of the file.

Run by hand, on PostgreSQL (the test suite runs its smoke size):

    .venv/bin/python bench/import_csv.py [--sizes 100000 1000000]
    .venv/bin/python bench/import_csv.py --smoke     # 1,000 then 3,000 rows, seconds

It uses its own database, BENCH_IMPORT_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/chatpoints_import_bench, with --smoke
chatpoints_import_bench_smoke; the name must contain 'bench'), dropped, created and migrated at
each run, with 60 dealers created through the model (benchdb.customers_create). For each size it
writes a CSV file of that many valid chats (under var/bench/, kept for the next run), imports it
with the command in a child process and prints the rows per second and the child's peak resident
memory (from wait4): the import streams, so the peak must not grow with the file. Every row must
be stored, and the usage summary (billing/usage/summary.py) must count exactly the chats stored.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchdb import (
    ROOT,
    add_smoke_argument,
    bench_url,
    customers_create,
    django_env,
    migrate,
    recreate_database,
    setup_django,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/chatpoints_import_bench"
SIZES = [100_000, 1_000_000]
SMOKE_SIZES = [1_000, 3_000]
DEALERS = 60
OFFERED = [
    ("test_drive", "agent"),
    ("test_drive", "bot"),
    ("quote_request", "agent"),
    ("crm_lead", "bot"),
    ("contact_engaged", "team"),
]


def create_dealers() -> None:
    """60 dealers on GROW from 2026-01, through the model (every field it adds gets its
    default; a field the bench's data no longer satisfies stops the bench, named)."""
    from django.db import transaction

    from billing.models import Plan, Subscription
    from customers.models import Customer

    grow = Plan.objects.get(code="GROW")
    with transaction.atomic():
        customers = customers_create(
            [
                Customer(
                    code=f"bench-{n:03d}",
                    legal_name=f"Bench dealer {n}",
                    address="1 rue du Test",
                    postal_code="75002",
                    city="Paris",
                    country="FR",
                    billing_emails=f"compta@bench-{n:03d}.example",
                    language="fr",
                )
                for n in range(DEALERS)
            ]
        )
        Subscription.objects.bulk_create(
            Subscription(customer=customer, plan=grow, first_month=date(2026, 1, 1))
            for customer in customers
        )


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(rows)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    # Written aside then renamed: a file cut short is never taken for a whole one, and two runs
    # writing the same file at once do not mix their lines.
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "tariff", "actor", "occurred_at", "contact", "meta"])
        for n in range(rows):
            tariff, actor = rng.choice(OFFERED)
            contact = f"+3360{rng.randrange(100_000):06d}" if tariff == "contact_engaged" else ""
            moment = start + timedelta(seconds=rng.randrange(50 * 86400))
            writer.writerow(
                [
                    f"row-{rows}-{n:08d}",
                    f"bench-{rng.randrange(DEALERS):03d}",
                    tariff,
                    actor,
                    moment.isoformat(),
                    contact,
                    '{"channel": "web"}',
                ]
            )
    partial.rename(path)


def stored_and_summed(source: str) -> tuple[int, int, int, int, int]:
    """(chats stored for the source, chats stored in all, chats and engaged contacts in the
    summary, distinct engaged contacts per month in the chats) read from the database."""
    from django.db import connection

    from billing.months import billing_tz

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE source = %s), count(*) FROM billing_chatevent "
            "WHERE voided_at IS NULL",
            [source],
        )
        of_source, everything = cursor.fetchone()
        cursor.execute("SELECT coalesce(sum(chats), 0) FROM billing_usageday")
        (summed,) = cursor.fetchone()
        cursor.execute(
            """
            SELECT (SELECT count(*) FROM billing_contactmonth),
                   (SELECT count(*) FROM (
                        SELECT DISTINCT e.customer_id,
                               date_trunc('month', e.occurred_at AT TIME ZONE %s),
                               e.tariff_id, e.actor, e.contact
                        FROM billing_chatevent e JOIN billing_tariff t ON t.id = e.tariff_id
                        WHERE t.unit = 'contact_month' AND e.voided_at IS NULL) engaged)
            """,
            [str(billing_tz())],
        )
        contacts, engaged = cursor.fetchone()
    return of_source, everything, summed, contacts, engaged


def import_file(url: str, path: Path, source: str):
    """Run the command in a child process; (seconds, peak RSS in MiB, exit code, its output).
    Its output goes to a file, not a pipe: a long list of refused rows cannot block it."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as output:
        started = time.perf_counter()
        child = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "import_chat_events",
                str(path),
                "--source",
                source,
                "--quiet",
            ],
            env=django_env(url),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _pid, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        lines = output.read().strip().splitlines()
    return elapsed, usage.ru_maxrss / 1024, child.returncode, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", help=f"rows per file ({SIZES})")
    add_smoke_argument(parser)
    options = parser.parse_args()
    sizes = options.sizes or (SMOKE_SIZES if options.smoke else SIZES)
    if min(sizes) < 1:
        parser.error("--sizes must be >= 1")
    url = bench_url("BENCH_IMPORT_DATABASE_URL", DEFAULT_URL, smoke=options.smoke)

    recreate_database(url)
    setup_django(url)
    migrate()
    create_dealers()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    connection.close()  # the children import; this process only reads between them
    print(f"PostgreSQL {version}, {os.cpu_count()} CPUs; {DEALERS} dealers; sizes {sizes}")

    folder = ROOT / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    peaks = {}
    for size in sizes:
        path = folder / f"chats-{size}.csv"
        if not path.exists():
            write_csv(path, size)
        source = f"bench-{size}"
        elapsed, peak, code, output = import_file(url, path, source)
        summary = output[-1] if output else "(no output)"
        if code != 0:
            shown = "\n".join(output[:5] + (["..."] if len(output) > 6 else []) + output[-1:])
            sys.exit(f"FAILED: the import of {size:,} rows exited {code}:\n{shown}")
        of_source, everything, summed, contacts, engaged = stored_and_summed(source)
        if of_source != size:
            sys.exit(f"FAILED: {size:,} rows imported, {of_source:,} stored for {source}")
        if (summed, contacts) != (everything, engaged):
            sys.exit(
                f"FAILED: the usage summary counts {summed:,} chats and {contacts:,} engaged "
                f"contacts for {everything:,} chats and {engaged:,} engaged contacts stored"
            )
        peaks[size] = peak
        print(
            f"{size:>10,} rows ({path.stat().st_size / 1e6:6.1f} MB): {elapsed:6.1f} s, "
            f"{size / elapsed:8,.0f} rows/s, peak RSS {peak:6.1f} MiB",
            flush=True,
        )
        print(f"           {summary}")
        print(
            f"           checked: {of_source:,} rows stored; the summary counts the "
            f"{everything:,} chats stored and their {engaged:,} engaged contacts"
        )
    if len(peaks) > 1:
        largest, smallest = max(peaks), min(peaks)
        print(
            f"ratio peak RSS, largest file / smallest: {peaks[largest] / peaks[smallest]:.2f} "
            f"({largest / smallest:g}x the rows; flat memory: about 1.00)"
        )


if __name__ == "__main__":
    main()
