"""Benchmark: POST /api/v1/chat-events under gunicorn against a bare psycopg COPY (the floor).

Run by hand, on PostgreSQL (the test suite runs its smoke size):

    .venv/bin/python bench/ingest.py [--events 200000] [--batch 1000] [--clients 2] [--workers 2]
    .venv/bin/python bench/ingest.py --prefill 2000000   # the chat table already full
    .venv/bin/python bench/ingest.py --smoke     # 1,000 events in batches of 100, seconds

It uses its own database, BENCH_INGEST_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/chatpoints_ingest_bench, with --smoke
chatpoints_ingest_bench_smoke; the name must contain 'bench'), dropped and created again at each
run, and migrated.

1. It generates the events (deterministic: 60 dealers, every tariff and actor on offer, engaged
   contacts, a small `meta` on each) and serialises the batches before anything is timed.
   With --prefill N, the chat table first holds N chats of the 12 months before (source
   `history`, 2,000 dealers: the 60 and 1,940 more, each with a plan), loaded as the other
   benchmarks load theirs (benchdb: COPY with the secondary indexes and foreign keys dropped,
   made again afterwards), with their usage summary; the floor's table holds the same rows.
   Each run then deletes only what the runs wrote (the chats of other sources and the summary
   of the bench's month), and vacuums.
2. It starts the app under gunicorn on 127.0.0.1 (DEBUG off, as in production; a free port
   unless --port), warms every worker up with a few batches from another source, then
   `--clients` processes post the batches at once; the time is from the start signal to the last
   answer. Every answer must be a 200, the table must then hold exactly the events sent, and the
   usage summary (billing/usage/summary.py) count exactly those chats: the chats and the summary are
   emptied together before each run. After the last run the summary must equal its rebuild from
   the chats (`summary_rebuild()`), row for row.
3. The floor: the same rows, already priced, written by `--clients` processes with a plain
   psycopg COPY into an identical table (same columns, indexes, constraints and foreign keys),
   one transaction per batch of the same size.
4. It prints both rates, their ratio (targets, issue 16: >= 30,000 events/s and >= 1/2 of the
   floor) and the resident memory of the gunicorn workers sampled over the run (it must stay
   flat).

gunicorn is stopped whatever happens (an error, a failed check, Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from benchdb import (
    CHAT_EVENT_COLUMNS,
    ROOT,
    add_smoke_argument,
    bench_url,
    chat_events_bulk_load,
    copy_rows,
    customers_create,
    django_env,
    free_port,
    migrate,
    recreate_database,
    setup_django,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/chatpoints_ingest_bench"
SEED = 20261127
CUSTOMERS = 60
TARGET_RATE = 30_000
TARGET_SHARE = 1 / 2
# --smoke: the same steps and checks, a few seconds (the rates mean nothing at that size), with a
# small prefill (its code runs too).
SMOKE = {"events": 1_000, "batch": 100, "repeat": 2, "prefill": 2_000}
HISTORY = "history"  # the source of the prefilled chats
HISTORY_CUSTOMERS = 1_940  # dealers beside the bench's 60, in the prefill only (1 per 100 chats)
# The bench's chats are in this month (billing time zone), the prefill's in the 12 before it.
BENCH_MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)
HISTORY_START = datetime(2025, 10, 31, 23, tzinfo=UTC)  # 2025-11-01 00:00 in Paris
HISTORY_END = datetime(2026, 10, 31, 23, tzinfo=UTC)  # 2026-11-01 00:00 in Paris
COLUMNS = (
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
    "late",
)
# The tables a run empties: the chats, the usage summary written in the same transaction as
# them (billing/usage/summary.py), and the floor's copy.
RUN_TABLES = "billing_chatevent, billing_usageday, billing_contactmonth, bench_copy_floor"


def server_env(url: str) -> dict:
    # WhiteNoise warns that there is no collectstatic output: the API serves no static file.
    warnings = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), "ignore:No directory at"]))
    return django_env(
        url, ALLOWED_HOSTS="127.0.0.1", SECURE_SSL_REDIRECT="0", PYTHONWARNINGS=warnings
    )


def setup(url: str, total: int, batch: int, prefill: int):
    """Migrate, create dealers and tokens, prefill the chat table, and build the batches (bodies
    and priced rows)."""
    setup_django(url, ALLOWED_HOSTS="127.0.0.1", SECURE_SSL_REDIRECT="0")
    from django.db import connection

    from billing.catalog.tariffs import TariffBook
    from billing.models import Actor, Plan, Subscription, Tariff
    from billing.usage.tokens import api_token_create
    from customers.models import Customer

    migrate()
    plans = list(Plan.objects.filter(is_custom=False))
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
            )
            for n in range(CUSTOMERS)
        ]
    )
    Subscription.objects.bulk_create(
        Subscription(
            customer=customer, plan=plans[n % len(plans)], first_month=datetime(2026, 1, 1).date()
        )
        for n, customer in enumerate(customers)
    )
    tokens = {source: api_token_create(source=source)[1] for source in ("bench", "bench-warmup")}

    book = TariffBook()
    day = datetime(2026, 11, 1).date()
    offered = []
    for code in sorted(Tariff.objects.values_list("code", flat=True)):  # all on offer
        for actor in Actor.values:
            try:
                book.price(code, actor, day)
            except Exception:  # noqa: BLE001, S112 - not offered for that actor
                continue
            offered.append((code, actor))
    rng = random.Random(SEED)
    if prefill:
        prefill_history(connection, customers, plans, offered, prefill, random.Random(SEED + 1))
    start = BENCH_MONTH_START
    now = datetime.now(UTC)
    span = int((min(now, datetime(2026, 11, 26, tzinfo=UTC)) - start).total_seconds())

    def events(prefix, count):
        for n in range(count):
            tariff, actor = rng.choice(offered)
            customer = rng.choice(customers)
            moment = start + timedelta(seconds=rng.randrange(span))
            event = {
                "id": f"{prefix}-{n:07d}",
                "customer": customer.code,
                "tariff": tariff,
                "actor": actor,
                "occurred_at": moment.isoformat(),
                "meta": {"channel": rng.choice(["web", "whatsapp", "messenger"]), "n": n},
            }
            if tariff == "contact_engaged":
                event["contact"] = f"+3360{rng.randrange(100_000):06d}"
            yield event, customer.id

    from billing.months import billing_tz

    tz = billing_tz()
    received = datetime.now(UTC)
    bodies, rows = [], []
    current, current_rows = [], []
    for event, customer_id in events("chat", total):
        moment = datetime.fromisoformat(event["occurred_at"])
        priced = book.price(event["tariff"], event["actor"], moment.astimezone(tz).date())
        current.append(event)
        current_rows.append(
            (
                "bench",
                event["id"],
                customer_id,
                priced.tariff_id,
                event["actor"],
                event.get("contact", ""),
                moment,
                priced.points,
                json.dumps(event["meta"]),
                received,
                False,
            )
        )
        if len(current) == batch:
            bodies.append(json.dumps({"events": current}).encode())
            rows.append(current_rows)
            current, current_rows = [], []
    if current:
        bodies.append(json.dumps({"events": current}).encode())
        rows.append(current_rows)
    warmup = [
        json.dumps({"events": [e for e, _c in events(f"warm{k}", batch)]}).encode()
        for k in range(6)
    ]
    connection.close()
    return tokens, bodies, rows, warmup


# --- prefill ---

# The prefill's usage summary, in SQL from its chats (the rule of billing.usage.summary: sums per
# customer, day, tariff and actor; each engaged contact's first chat of its month); checked
# against summary_rebuild() for a few dealers (check_summary_rebuild).
_HISTORY_DAYS = """
INSERT INTO billing_usageday (customer_id, day, tariff_id, actor, chats, points)
SELECT customer_id, (occurred_at AT TIME ZONE %(tz)s)::date, tariff_id, actor, count(*),
       sum(points)
FROM billing_chatevent WHERE source = %(source)s AND voided_at IS NULL
GROUP BY 1, 2, 3, 4
"""
_HISTORY_CONTACTS = """
INSERT INTO billing_contactmonth (customer_id, month, tariff_id, actor, contact, first_at,
                                  first_day, first_id, points)
SELECT DISTINCT ON (customer_id, month, tariff_id, actor, contact)
       customer_id, date_trunc('month', occurred_at AT TIME ZONE %(tz)s)::date AS month,
       tariff_id, actor, contact, occurred_at, (occurred_at AT TIME ZONE %(tz)s)::date, id,
       points
FROM billing_chatevent
WHERE source = %(source)s AND voided_at IS NULL AND tariff_id = ANY(%(per_contact)s)
ORDER BY customer_id, month, tariff_id, actor, contact, occurred_at, id
"""


def prefill_history(connection, customers, plans, offered, count: int, rng) -> None:
    """`count` chats of the 12 months before the bench's, over its dealers and HISTORY_CUSTOMERS
    more (each with a plan), COPYed with the chat table's secondary indexes and foreign keys
    dropped and made again, then their summary, then VACUUM ANALYZE."""
    from billing.catalog.tariffs import TariffBook, per_contact_tariff_ids
    from billing.models import Subscription
    from billing.months import billing_tz
    from customers.models import Customer

    started = time.perf_counter()
    more = customers_create(
        [
            Customer(
                code=f"history-{n:04d}",
                legal_name=f"History dealer {n}",
                address="2 rue du Test",
                postal_code="69002",
                city="Lyon",
                country="FR",
                billing_emails=f"compta@history-{n:04d}.example",
            )
            for n in range(min(HISTORY_CUSTOMERS, count // 100))
        ]
    )
    Subscription.objects.bulk_create(
        Subscription(customer=customer, plan=plans[n % len(plans)], first_month=date(2025, 1, 1))
        for n, customer in enumerate(more)
    )
    ids = [customer.id for customer in [*customers, *more]]
    book, tz = TariffBook(), billing_tz()
    prices: dict[tuple, tuple[int, int]] = {}
    span = int((HISTORY_END - HISTORY_START).total_seconds())

    def rows():
        for n in range(count):
            tariff, actor = rng.choice(offered)
            moment = HISTORY_START + timedelta(seconds=rng.randrange(span))
            day = moment.astimezone(tz).date()
            key = (tariff, actor, day)
            if key not in prices:
                priced = book.price(tariff, actor, day)
                prices[key] = (priced.tariff_id, priced.points)
            tariff_id, points = prices[key]
            contact = f"+3361{rng.randrange(100_000):06d}" if tariff == "contact_engaged" else ""
            yield (
                HISTORY,
                f"h{n:08d}",
                rng.choice(ids),
                tariff_id,
                actor,
                contact,
                moment,
                points,
                json.dumps({"channel": rng.choice(["web", "whatsapp", "messenger"]), "n": n}),
                moment + timedelta(seconds=rng.randrange(1, 600)),
                None,
                "",
            )

    with chat_events_bulk_load(connection):
        copy_rows(connection, "billing_chatevent", CHAT_EVENT_COLUMNS, rows())
    with connection.cursor() as cursor:
        params = {"tz": str(tz), "source": HISTORY, "per_contact": list(per_contact_tariff_ids())}
        cursor.execute(_HISTORY_DAYS, params)
        cursor.execute(_HISTORY_CONTACTS, params)
        cursor.execute("VACUUM (ANALYZE) billing_chatevent, billing_usageday, billing_contactmonth")
    print(
        f"prefill: {count:,} chats of 2025-11 to 2026-10 (source {HISTORY!r}) for "
        f"{len(ids):,} dealers, with their summary, loaded in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )


# --- gunicorn ---


def start_server(url: str, port: int, workers: int) -> subprocess.Popen:
    """gunicorn, in this process's group (whoever ends the group ends it too); it must answer
    within 20 s, else it is stopped and the bench fails."""
    server = subprocess.Popen(  # noqa: S603
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=server_env(url),
    )
    for _attempt in range(200):
        if server.poll() is not None:
            sys.exit(f"FAILED: gunicorn exited {server.returncode} (port {port} taken?)")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/openapi.json")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.1)
    stop_server(server)
    sys.exit("FAILED: gunicorn did not answer")


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM to gunicorn's master, which stops its workers and waits for them; if it has not
    ended within 30 s, SIGKILL to it and to its workers."""
    workers = worker_pids(server.pid)
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
            return
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(f"stopped by signal {signum}")  # the finally blocks stop gunicorn


def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry.name))
    return sorted(pids)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids
        self.samples: list[list[int]] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            with contextlib.suppress(OSError):
                self.samples.append([rss_kib(pid) for pid in self.pids])
            self.stop.wait(0.2)


def post_all(port: int, token: str, bodies: list[bytes]) -> tuple[int, int, list[int]]:
    accepted = duplicates = 0
    statuses = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for body in bodies:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("POST", "/api/v1/chat-events", body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        statuses.append(response.status)
        if response.status == 200:
            answer = json.loads(payload)
            accepted += answer["accepted"]
            duplicates += answer["duplicates"]
            if answer["rejected"]:
                print("rejected:", answer["rejected"][:2], file=sys.stderr)
        connection.close()
    return accepted, duplicates, statuses


# --- parallel runs ---


def _child(target, args, go, results):
    go.wait()
    try:
        results.put(("ok", target(*args)))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which stops
        results.put(("error", f"{type(error).__name__}: {error}"))


def parallel(target, per_client_args) -> tuple[float, list]:
    """Run target(*args) in one process per client, started together; (seconds, results).
    A client that fails stops the bench with its error (never a wait for ever)."""
    context = multiprocessing.get_context("fork")
    go = context.Event()
    results = context.Queue()
    processes = [
        context.Process(target=_child, args=(target, args, go, results), daemon=True)
        for args in per_client_args
    ]
    for process in processes:
        process.start()
    time.sleep(0.5)  # every child is forked and waiting
    started = time.perf_counter()
    go.set()
    collected, errors = [], []
    for _process in processes:
        outcome, value = results.get(timeout=600)
        (collected if outcome == "ok" else errors).append(value)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    if errors:
        sys.exit(f"FAILED: a client process failed: {errors[0]}")
    return elapsed, collected


def copy_all(url: str, batches: list[list[tuple]]) -> int:
    written = 0
    with psycopg.connect(url) as connection:
        for rows in batches:
            with (
                connection.transaction(),
                connection.cursor() as cursor,
                cursor.copy(f"COPY bench_copy_floor ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            written += len(rows)
    return written


def check_run(url: str, results: list, expected: int, prefill: int) -> str:
    """Every answer a 200, every event stored once, and the summary of the bench's month counting
    exactly the chats stored (the chats and that summary were emptied together before the run;
    the table holds the prefill beside them)."""
    statuses = [status for _a, _d, client_statuses in results for status in client_statuses]
    accepted = sum(result[0] for result in results)
    with psycopg.connect(url) as connection:
        stored, stored_points = connection.execute(
            "SELECT count(*), coalesce(sum(points), 0) FROM billing_chatevent "
            "WHERE source = 'bench'"
        ).fetchone()
        everything = connection.execute("SELECT count(*) FROM billing_chatevent").fetchone()[0]
        summed, summed_points = connection.execute(
            "SELECT coalesce(sum(chats), 0), coalesce(sum(points), 0) FROM billing_usageday "
            "WHERE day >= %s",
            [BENCH_MONTH_START.date()],
        ).fetchone()
    bad = [status for status in statuses if status != 200]
    if bad or accepted != expected or stored != expected or everything != expected + prefill:
        sys.exit(
            f"FAILED: {len(bad)} non-200 answers, {accepted:,} accepted, {stored:,} stored "
            f"({everything:,} in the table with a prefill of {prefill:,}), {expected:,} sent"
        )
    if (summed, summed_points) != (stored, stored_points):
        sys.exit(
            f"FAILED: the usage summary counts {summed:,} chats and {summed_points:,} points for "
            f"{stored:,} chats and {stored_points:,} points stored"
        )
    return f"summary {summed:,} chats"


def check_summary_rebuild(prefill: int) -> str:
    """The summary the API wrote as the batches came, against summary_rebuild() from the chats:
    every row equal (UsageDay: chats and points per customer, day, tariff and actor;
    ContactMonth: each engaged contact's first chat of the month), in the bench's month; with a
    prefill, also every month of five dealers (the prefill's summary, written in SQL)."""
    from django.db import connection, transaction

    from billing.models import ContactMonth, UsageDay
    from billing.months import Month
    from billing.usage.summary import summary_rebuild

    first = BENCH_MONTH_START.date()
    month = Month.of(first)
    dealers = None
    if prefill:
        prefilled = sorted(
            UsageDay.objects.filter(day__lt=first).values_list("customer_id", flat=True).distinct()
        )
        dealers = prefilled[:: max(1, len(prefilled) // 5)][:5]

    def snapshot():
        days_rows = UsageDay.objects.filter(day__gte=first)
        contact_rows = ContactMonth.objects.filter(month__gte=first)
        if dealers:
            days_rows = days_rows | UsageDay.objects.filter(customer_id__in=dealers)
            contact_rows = contact_rows | ContactMonth.objects.filter(customer_id__in=dealers)
        days = set(
            days_rows.values_list("customer_id", "day", "tariff_id", "actor", "chats", "points")
        )
        contacts = set(
            contact_rows.values_list(
                "customer_id",
                "month",
                "tariff_id",
                "actor",
                "contact",
                "first_at",
                "first_day",
                "first_id",
                "points",
            )
        )
        return days, contacts

    written = snapshot()
    with transaction.atomic():
        summary_rebuild(month=month)
        if dealers:
            summary_rebuild(customers=dealers)
        rebuilt = snapshot()
        transaction.set_rollback(True)  # the summary stays as the API wrote it
    connection.close()
    for what, got, expected in zip(("UsageDay", "ContactMonth"), written, rebuilt, strict=True):
        if got != expected:
            extra, missing = sorted(got - expected)[:3], sorted(expected - got)[:3]
            sys.exit(
                f"FAILED: the {what} rows the API wrote differ from summary_rebuild(): "
                f"{len(got - expected):,} not in the rebuild (e.g. {extra}), "
                f"{len(expected - got):,} missing (e.g. {missing})"
            )
    what = f" and every month of {len(dealers)} prefilled dealer(s)" if dealers else ""
    return f"{len(written[0]):,} UsageDay and {len(written[1]):,} ContactMonth rows{what}"


def make_floor_table(url: str) -> None:
    """The floor's table: the chat table's columns, constraints, indexes and foreign keys, and
    the same prefill (copied, its indexes made afterwards)."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_copy_floor")
        connection.execute(
            "CREATE TABLE bench_copy_floor (LIKE billing_chatevent INCLUDING ALL EXCLUDING INDEXES)"
        )
        connection.execute("INSERT INTO bench_copy_floor SELECT * FROM billing_chatevent")
        (next_id,) = connection.execute(
            "SELECT coalesce(max(id), 0) + 1 FROM bench_copy_floor"
        ).fetchone()
        connection.execute(f"ALTER TABLE bench_copy_floor ALTER COLUMN id RESTART WITH {next_id:d}")
        for (definition,) in connection.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'billing_chatevent'::regclass"
        ).fetchall():
            head, tail = definition.split(" ON ", 1)
            table, rest = tail.split(" ", 1)
            assert table.endswith("billing_chatevent"), definition
            name = head.rsplit(" ", 1)[1]
            connection.execute(f"{head.rsplit(' ', 1)[0]} floor_{name} ON bench_copy_floor {rest}")
        for definition in connection.execute(
            """
            SELECT pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid = 'billing_chatevent'::regclass AND contype = 'f'
            """
        ).fetchall():
            connection.execute(f"ALTER TABLE bench_copy_floor ADD {definition[0]}")
        connection.execute("VACUUM ANALYZE bench_copy_floor")


def run_reset(url: str, prefill: int) -> None:
    """Empty what a run writes: the chats and the summary emptied together (TRUNCATE), or with a
    prefill, the chats of other sources and the summary of the bench's month (DELETE); then
    VACUUM ANALYZE."""
    with psycopg.connect(url, autocommit=True) as connection:
        if not prefill:
            connection.execute(f"TRUNCATE {RUN_TABLES}")
        else:
            first = BENCH_MONTH_START.date()
            for table in ("billing_chatevent", "bench_copy_floor"):
                connection.execute(f"DELETE FROM {table} WHERE source <> %s", [HISTORY])
            connection.execute("DELETE FROM billing_usageday WHERE day >= %s", [first])
            connection.execute("DELETE FROM billing_contactmonth WHERE month >= %s", [first])
        connection.execute(f"VACUUM ANALYZE {RUN_TABLES}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, help="events posted per run (200,000)")
    parser.add_argument("--batch", type=int, help="events per request (1,000)")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--port", type=int, help="gunicorn's port (default: a free one)")
    parser.add_argument("--repeat", type=int, help="runs of each side, interleaved (3)")
    parser.add_argument(
        "--prefill",
        type=int,
        help="chats already in the table (and in the floor's) before the runs, over the 12 "
        "months before and 2,000 dealers (0)",
    )
    add_smoke_argument(parser)
    options = parser.parse_args()
    sizes = (
        SMOKE if options.smoke else {"events": 200_000, "batch": 1000, "repeat": 3, "prefill": 0}
    )
    for name, value in sizes.items():
        if getattr(options, name) is None:
            setattr(options, name, value)
    if min(options.events, options.batch, options.clients, options.workers, options.repeat) < 1:
        parser.error("--events, --batch, --clients, --workers and --repeat must be >= 1")
    if options.prefill < 0:
        parser.error("--prefill must be >= 0")
    url = bench_url("BENCH_INGEST_DATABASE_URL", DEFAULT_URL, smoke=options.smoke)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    recreate_database(url)
    prepared = time.perf_counter()
    tokens, bodies, rows, warmup = setup(url, options.events, options.batch, options.prefill)
    with psycopg.connect(url) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
    print(
        f"PostgreSQL {version}, {os.cpu_count()} CPUs; {options.events:,} events in "
        f"{len(bodies)} batches of {options.batch:,}, {options.clients} client processes, "
        f"gunicorn with {options.workers} sync workers, {options.prefill:,} chats already stored "
        f"(data built in {time.perf_counter() - prepared:.1f} s)",
        flush=True,
    )

    make_floor_table(url)
    per_client = [bodies[k :: options.clients] for k in range(options.clients)]
    per_client_rows = [rows[k :: options.clients] for k in range(options.clients)]
    api_times, floor_times = [], []
    port = options.port or free_port()
    server = start_server(url, port, options.workers)
    sampler = None
    try:
        pids = worker_pids(server.pid)
        # Warm every worker up (imports, database connection) with another source's events.
        parallel(post_all, [(port, tokens["bench-warmup"], warmup[k::3]) for k in range(3)])
        sampler = RssSampler([server.pid, *pids])
        sampler.start()
        for run in range(options.repeat):
            run_reset(url, options.prefill)
            elapsed, results = parallel(
                post_all, [(port, tokens["bench"], chunk) for chunk in per_client]
            )
            checked = check_run(url, results, options.events, options.prefill)
            floor_elapsed, written = parallel(copy_all, [(url, chunk) for chunk in per_client_rows])
            if sum(written) != options.events:
                sys.exit(f"FAILED: the floor wrote {sum(written):,} rows")
            api_times.append(elapsed)
            floor_times.append(floor_elapsed)
            print(
                f"run {run + 1}: API {options.events / elapsed:9,.0f} events/s "
                f"({elapsed:5.2f} s, every answer 200, {options.events:,} rows stored, "
                f"{checked}); COPY floor {options.events / floor_elapsed:9,.0f} events/s "
                f"({floor_elapsed:5.2f} s)",
                flush=True,
            )
    finally:
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
        stop_server(server)
    rebuilt = check_summary_rebuild(options.prefill)
    print(f"checked: the summary of the last run equals summary_rebuild() ({rebuilt})")

    api_rate = options.events / statistics.median(api_times)
    floor_rate = options.events / statistics.median(floor_times)
    share = api_rate / floor_rate
    print(
        f"median of {options.repeat} runs: API (gunicorn, HTTP, auth, validation, pricing, "
        f"idempotent insert) {api_rate:,.0f} events/s; floor (bare psycopg COPY, same rows, same "
        f"batches) {floor_rate:,.0f} events/s"
    )
    print(
        f"ratio API / floor {share:.2f} (target >= {TARGET_SHARE:.2f}) "
        f"{'OK' if share >= TARGET_SHARE else 'BELOW TARGET'}; "
        f"rate target >= {TARGET_RATE:,}/s {'OK' if api_rate >= TARGET_RATE else 'BELOW TARGET'}"
    )
    samples = sampler.samples
    if samples:
        first, last = samples[0], samples[-1]
        peak = [max(column) for column in zip(*samples, strict=True)]
        for index, pid in enumerate([server.pid, *pids]):
            role = "master" if index == 0 else f"worker {index}"
            print(
                f"RSS {role:9} pid {pid}: start {first[index] / 1024:6.1f} MiB, end "
                f"{last[index] / 1024:6.1f} MiB, peak {peak[index] / 1024:6.1f} MiB "
                f"({len(samples)} samples over {options.repeat * options.events:,} events)"
            )


if __name__ == "__main__":
    main()
