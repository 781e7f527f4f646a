"""Benchmark: `manage.py import_chat_events` memory and speed against the size of the file.

Run by hand, on PostgreSQL (not part of the test suite):

    .venv/bin/python bench/import_csv.py [--sizes 100000 1000000]

It uses its own database, BENCH_IMPORT_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/chatpoints_import_bench; the name must contain 'bench'),
dropped, created and migrated at each run, with 60 dealers. For each size it writes a CSV file
of that many valid chats (under var/bench/), imports it with the command in a child process and
prints the rows per second and the child's peak resident memory (from wait4): the import
streams, so the peak must not grow with the file.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/chatpoints_import_bench"
OFFERED = [
    ("test_drive", "agent"),
    ("test_drive", "bot"),
    ("quote_request", "agent"),
    ("crm_lead", "bot"),
    ("contact_engaged", "team"),
]


def env(url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "ENV_FILE": "/dev/null",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
    }


def recreate(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing to use database {name!r}: its name must contain 'bench'")
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env(url), check=True)  # noqa: S603
    with psycopg.connect(url) as connection:
        for n in range(60):
            customer_id = connection.execute(
                """
                INSERT INTO customers_customer (code, legal_name, address, postal_code, city,
                    country, vat_number, siren, billing_emails, language, vat_rate, created_at)
                VALUES (%s, %s, '1 rue du Test', '75002', 'Paris', 'FR', '', '', %s, 'fr', 20,
                        now())
                RETURNING id
                """,
                [f"bench-{n:03d}", f"Bench dealer {n}", f"compta@bench-{n:03d}.example"],
            ).fetchone()[0]
            connection.execute(
                """
                INSERT INTO billing_subscription (customer_id, plan_id, first_month, created_at)
                SELECT %s, id, '2026-01-01', now() FROM billing_plan WHERE code = 'GROW'
                """,
                [customer_id],
            )


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(rows)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "tariff", "actor", "occurred_at", "contact", "meta"])
        for n in range(rows):
            tariff, actor = rng.choice(OFFERED)
            contact = f"+3360{rng.randrange(100_000):06d}" if tariff == "contact_engaged" else ""
            moment = start + timedelta(seconds=rng.randrange(50 * 86400))
            writer.writerow(
                [
                    f"row-{rows}-{n:08d}",
                    f"bench-{rng.randrange(60):03d}",
                    tariff,
                    actor,
                    moment.isoformat(),
                    contact,
                    '{"channel": "web"}',
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    options = parser.parse_args()
    url = os.environ.get("BENCH_IMPORT_DATABASE_URL", DEFAULT_URL)
    recreate(url)
    folder = ROOT / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    peaks = []
    for size in options.sizes:
        path = folder / f"chats-{size}.csv"
        if not path.exists():
            write_csv(path, size)
        started = time.perf_counter()
        child = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "import_chat_events",
                str(path),
                "--source",
                f"bench-{size}",
                "--quiet",
            ],
            env=env(url),
            stdout=subprocess.PIPE,
            text=True,
        )
        _pid, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        summary = child.stdout.read().strip().splitlines()[-1]
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"import of {size:,} rows failed: {summary}")
        peaks.append(usage.ru_maxrss / 1024)
        print(
            f"{size:>10,} rows ({path.stat().st_size / 1e6:6.1f} MB): {elapsed:6.1f} s, "
            f"{size / elapsed:8,.0f} rows/s, peak RSS {usage.ru_maxrss / 1024:6.1f} MiB"
        )
        print(f"           {summary}")
    if len(peaks) > 1:
        print(
            f"peak RSS, largest file / smallest: {peaks[-1] / peaks[0]:.2f} "
            f"(flat memory: about 1.00)"
        )


if __name__ == "__main__":
    main()
