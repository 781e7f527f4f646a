"""Benchmark: one customer's month statement (usage selector + pricing) against the bare SQL floor.

Run by hand, on PostgreSQL (the test suite runs its smoke size):

    .venv/bin/python bench/statement.py [--repeat 30] [--warmup 5] [--explain] [--rebuild]
    .venv/bin/python bench/statement.py --smoke   # 4,000 events, 1,000 for the target: seconds

It uses its own database, BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/chatpoints_bench, with --smoke chatpoints_bench_smoke),
created and migrated if missing. The first
run generates 2,000,000 chat events over 200 customers and 12 months, 100,000 of them for the
target customer in the target month, loaded with COPY; later runs reuse them (--rebuild drops the
database and starts again).

It then times `billing.usage.selectors.month_statement()` (plan in force, tariffs, one GROUP BY,
pricing) and the same aggregate written by hand and fetched with a plain psycopg cursor (the
floor), checks that both give the same numbers, and prints the medians, p95s and their ratio
(target <= 1.5).
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from benchdb import (
    CHAT_EVENT_COLUMNS,
    add_smoke_argument,
    bench_url,
    chat_events_bulk_load,
    copy_rows,
    customers_create,
    dataset_mark,
    open_dataset,
    percentile,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/chatpoints_bench"

DATASET = "chatpoints bench dataset v1"  # stored as the table comment once a load is complete
SEED = 20261001
SOURCE = "bench"
TOTAL_EVENTS = 2_000_000
TARGET_EVENTS = 100_000  # the target customer in the target month
TARGET_OTHER_MONTH_EVENTS = 10_000  # the target customer in each of its other months
CUSTOMERS = 200
TARGET_CODE = "bench-000"
TARGET_PLAN = "GROW"
TARGET_YEAR, TARGET_MONTH = 2026, 10
MONTHS = 12  # the target month and the 11 before it
TEAM_CHATS_PER_CONTACT = 3  # on average: an engaged contact has several chats in a month
TARGET_RATIO = 1.5
# --smoke: the same dataset's shape and checks, tiny (the test suite runs it in seconds; the
# ratio means little at that size). These replace the constants above.
SIZE = "full"
SMOKE = {
    "SIZE": "smoke",
    "DATASET": "chatpoints bench dataset v1, smoke size",
    "TOTAL_EVENTS": 4_000,
    "TARGET_EVENTS": 1_000,
    "TARGET_OTHER_MONTH_EVENTS": 100,
    "CUSTOMERS": 20,
}
SMOKE_REPEAT, SMOKE_WARMUP = 5, 1


# The hand-written twin of the ORM query of billing.usage.selectors.month_usage (same joins, same
# aggregates, same grouping): what the database alone costs.
FLOOR_SQL = """
SELECT e.tariff_id, e.actor,
       count(e.id),
       max(e.points),
       sum(e.points),
       count(DISTINCT e.contact) FILTER (WHERE e.tariff_id = ANY(%s))
FROM billing_chatevent e
WHERE e.customer_id = %s AND e.occurred_at >= %s AND e.occurred_at < %s
GROUP BY e.tariff_id, e.actor
"""


# --- the database, before Django -----------------------------------------------------------------


# --- the dataset ----------------------------------------------------------------------------------


def bench_months():
    from billing.months import Month

    months = [Month(TARGET_YEAR, TARGET_MONTH)]
    while len(months) < MONTHS:
        months.insert(0, months[0].previous())
    return months


def create_customers():
    """200 dealers, one subscription each from the first bench month; the target on GROW."""
    from billing.models import Plan, Subscription
    from customers.models import Customer

    first_day = bench_months()[0].first_day
    plans = {plan.code: plan for plan in Plan.objects.all()}
    cycle = ["BASE", "GROW", "GROW", "SCALE", "BASE", "GROW", "SCALE", "GROW", "BASE", "ENTERPRISE"]
    customers = customers_create(
        [
            Customer(
                code=f"bench-{index:03d}",
                legal_name=f"Bench Dealer {index:03d} SAS",
                address=f"{index + 1} rue du Banc d'Essai",
                postal_code="69003",
                city="Lyon",
                billing_emails=f"compta+{index:03d}@bench.example",
            )
            for index in range(CUSTOMERS)
        ]
    )
    subscriptions = []
    for index, customer in enumerate(customers):
        code = TARGET_PLAN if customer.code == TARGET_CODE else cycle[index % len(cycle)]
        custom = {}
        if plans[code].is_custom:
            custom = {
                "custom_monthly_fee": Decimal("2400.00"),
                "custom_included_points": 30_000,
                "custom_price_per_extra_point": Decimal("0.1150"),
            }
        subscriptions.append(
            Subscription(customer=customer, plan=plans[code], first_month=first_day, **custom)
        )
    Subscription.objects.bulk_create(subscriptions)
    return customers


def event_counts(customers, months, rng):
    """{(month index, customer id): events}, summing to TOTAL_EVENTS exactly."""
    target = next(c for c in customers if c.code == TARGET_CODE)
    others = [c for c in customers if c is not target]
    counts = {(len(months) - 1, target.id): TARGET_EVENTS}
    for m in range(len(months) - 1):
        counts[m, target.id] = TARGET_OTHER_MONTH_EVENTS
    rest = TOTAL_EVENTS - sum(counts.values())
    size = {c.id: rng.lognormvariate(0, 0.8) for c in others}  # a few big dealers, many small
    slots = [(m, c.id) for m in range(len(months)) for c in others]
    weights = [size[c] * rng.uniform(0.7, 1.3) for _, c in slots]
    total = sum(weights)
    shares = [rest * w / total for w in weights]
    floors = [int(s) for s in shares]
    short = rest - sum(floors)
    by_remainder = sorted(range(len(slots)), key=lambda i: shares[i] - floors[i], reverse=True)
    for i in by_remainder[:short]:
        floors[i] += 1
    counts.update(zip(slots, floors, strict=True))
    assert sum(counts.values()) == TOTAL_EVENTS
    return counts


def generate(conn) -> float:
    """Customers, subscriptions and TOTAL_EVENTS chat events (COPY), then VACUUM ANALYZE."""
    from django.db import transaction

    from billing.models import Tariff
    from billing.months import billing_tz

    started = time.perf_counter()
    rng = random.Random(SEED)
    tz = billing_tz()
    tariffs = {t.code: t for t in Tariff.objects.all()}
    kinds, weights = [], []
    from billing.management.demo import MIX  # the demo's mix of chats: (tariff, actor, weight)

    for code, actor, weight in MIX:
        points = getattr(tariffs[code], f"points_{actor}")
        assert points is not None, f"{code} is not offered to {actor}"
        kinds.append((tariffs[code].id, actor, points, tariffs[code].unit == "contact_month"))
        weights.append(weight)

    with transaction.atomic():
        customers = create_customers()
    months = bench_months()
    counts = event_counts(customers, months, rng)
    sequence = itertools.count(1)

    def copied(rows):
        for (ts, customer_id, tariff_id, actor, contact, points), n in zip(
            rows, sequence, strict=False
        ):
            occurred = datetime.fromtimestamp(ts, UTC)
            received = occurred + timedelta(seconds=5 + n % 120)
            yield (
                SOURCE,
                f"evt-{n:08d}",
                customer_id,
                tariff_id,
                actor,
                contact,
                occurred,
                points,
                "{}",
                received,
            )

    with chat_events_bulk_load(conn):
        for m, month in enumerate(months):
            start, end = (moment.timestamp() for moment in month.bounds(tz))
            span = end - start
            rows = []
            for customer in customers:
                n = counts.get((m, customer.id), 0)
                if not n:
                    continue
                team_pool = max(1, round(n * 0.23 / TEAM_CHATS_PER_CONTACT))
                for tariff_id, actor, points, per_contact in rng.choices(kinds, weights, k=n):
                    if per_contact:  # the dealer's staff: the same contacts again and again
                        contact = f"+33 6 {customer.id:03d} {rng.randrange(team_pool):05d}"
                    else:  # a visitor of the website or WhatsApp: mostly new ones
                        contact = f"v-{customer.id}-{rng.randrange(n * 4)}"
                    rows.append(
                        (
                            start + rng.random() * span,
                            customer.id,
                            tariff_id,
                            actor,
                            contact,
                            points,
                        )
                    )
            rows.sort()  # stored in arrival order, customers interleaved, as in production
            copy_rows(conn, "billing_chatevent", CHAT_EVENT_COLUMNS[:10], copied(rows))
            elapsed = time.perf_counter() - started
            print(f"  {month}: {len(rows):>9,} events loaded ({elapsed:.1f} s)")
    dataset_mark(conn, DATASET)
    return time.perf_counter() - started


# --- the measurement ------------------------------------------------------------------------------


def per_contact_tariffs():
    """{tariff id: code} and the ids of the tariffs charged per contact: read once, untimed."""
    from billing.catalog.tariffs import per_contact_tariff_ids, tariffs_by_id

    tariffs = tariffs_by_id()
    codes = {pk: tariff.code for pk, tariff in tariffs.items()}
    return codes, sorted(per_contact_tariff_ids(tariffs=tariffs))


def floor_rows(raw_cursor, customer_id, start, end, per_contact):
    raw_cursor.execute(FLOOR_SQL, [per_contact, customer_id, start, end])
    return raw_cursor.fetchall()


def floor_totals(rows, codes, per_contact):
    """{(tariff, actor): (chats, points, contacts)} from the bare rows, priced as rule 2 says."""
    totals = {}
    for tariff_id, actor, chats, unit_points, chat_points, contacts in rows:
        code = codes[tariff_id]
        points = contacts * unit_points if tariff_id in per_contact else chat_points
        totals[code, actor] = (chats, points, contacts)
    return totals


def statement_totals(statement):
    return {
        (line.tariff, line.actor): (line.chats, line.points, line.contacts)
        for line in statement.lines
    }


def explain(conn, customer, month, start, end, per_contact):
    from django.test.utils import CaptureQueriesContext

    from billing.usage.selectors import month_usage

    with CaptureQueriesContext(conn) as captured:
        month_usage(customer=customer, month=month)
    orm_sql = captured.captured_queries[-1]["sql"]
    print("\n--- SQL emitted by month_usage() ---")
    print(orm_sql)
    with conn.cursor() as cursor:
        for title, query, params in (
            ("month_usage() (ORM)", orm_sql, None),
            ("bare SQL aggregate (floor)", FLOOR_SQL, [per_contact, customer.id, start, end]),
        ):
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}", params)
            print(f"\n--- EXPLAIN ANALYZE: {title} ---")
            print("\n".join(row[0] for row in cursor.fetchall()))


def measure(repeat: int, warmup: int, show_plans: bool) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.months import Month, billing_tz
    from billing.usage.selectors import month_statement
    from customers.models import Customer

    month = Month(TARGET_YEAR, TARGET_MONTH)
    start, end = month.bounds(billing_tz())
    customer = Customer.objects.get(code=TARGET_CODE)

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM billing_chatevent")
        total = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM billing_chatevent "
            "WHERE customer_id = %s AND occurred_at >= %s AND occurred_at < %s",
            [customer.id, start, end],
        )
        in_month = cursor.fetchone()[0]

    connection.ensure_connection()
    raw = connection.connection.cursor()  # a plain psycopg cursor: no Django in the way

    # Honest comparison: both sides compute the same numbers.
    with CaptureQueriesContext(connection) as captured:
        statement = month_statement(customer=customer, month=month)
    queries = len(captured.captured_queries)  # 3: the plan in force, the tariffs, the aggregate
    codes, per_contact = per_contact_tariffs()
    expected = floor_totals(
        floor_rows(raw, customer.id, start, end, per_contact), codes, per_contact
    )
    got = statement_totals(statement)
    assert got == expected, (got, expected)
    assert statement.usage.chats == in_month == TARGET_EVENTS, (statement.usage.chats, in_month)
    assert statement.points_used == sum(points for _, points, _ in expected.values())

    def time_selector():
        began = time.perf_counter()
        month_statement(customer=customer, month=month)
        return time.perf_counter() - began

    def time_floor():
        began = time.perf_counter()
        floor_rows(raw, customer.id, start, end, per_contact)
        return time.perf_counter() - began

    for _ in range(warmup):
        time_selector()
        time_floor()
    selector, floor = [], []
    for i in range(repeat):  # interleaved, alternating which goes first, so drift hits both
        if i % 2:
            floor.append(time_floor())
            selector.append(time_selector())
        else:
            selector.append(time_selector())
            floor.append(time_floor())
    raw.close()

    ms = 1000
    ratio = statistics.median(selector) / statistics.median(floor)
    print(f"PostgreSQL {version}; Django DEBUG={'on' if _debug() else 'off'}")
    print(
        f"dataset: {total:,} events in total; {in_month:,} for {customer.code} in {month} "
        f"({len(statement.lines)} tariff/actor lines, {statement.engaged_contacts:,} engaged "
        f"contacts, {statement.points_used:,} points, net € {statement.net_total})"
    )
    print(
        f"runs: {warmup} warm-up, {repeat} measured per side (interleaved)"
        + ("; smoke size: the checks hold, the times mean little" if SIZE == "smoke" else "")
    )
    print(
        f"selector+pricing    median {statistics.median(selector) * ms:7.1f} ms  "
        f"p95 {percentile(selector, 0.95) * ms:7.1f} ms  ({queries} queries + pricing)"
    )
    print(
        f"bare SQL aggregate  median {statistics.median(floor) * ms:7.1f} ms  "
        f"p95 {percentile(floor, 0.95) * ms:7.1f} ms  (1 query, plain psycopg cursor)"
    )
    verdict = "OK" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(f"ratio {ratio:.2f} (target <= {TARGET_RATIO}) {verdict}")

    if show_plans or (ratio > TARGET_RATIO and SIZE != "smoke"):
        explain(connection, customer, month, start, end, per_contact)


def _debug() -> bool:
    from django.conf import settings

    return settings.DEBUG


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, help="measured runs per side (30)")
    parser.add_argument("--warmup", type=int, help="warm-up runs per side (5)")
    parser.add_argument("--rebuild", action="store_true", help="drop and regenerate the data")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of both")
    add_smoke_argument(parser)
    args = parser.parse_args()
    if args.smoke:
        globals().update(SMOKE)
    if args.repeat is None:
        args.repeat = SMOKE_REPEAT if args.smoke else 30
    if args.warmup is None:
        args.warmup = SMOKE_WARMUP if args.smoke else 5
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be >= 1 and --warmup >= 0")

    url = bench_url("BENCH_DATABASE_URL", DEFAULT_URL, smoke=args.smoke)
    open_dataset(
        url,
        rebuild=args.rebuild,
        dataset=DATASET,
        generate=generate,
        what=f"{TOTAL_EVENTS:,} events",
    )
    measure(args.repeat, args.warmup, args.explain)


if __name__ == "__main__":
    main()
