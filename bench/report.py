"""Benchmark: a dealer's monthly report page and its CSV export against the bare SQL aggregate.

Run by hand, on PostgreSQL (the test suite runs its smoke size):

    .venv/bin/python bench/report.py [--repeat 30] [--warmup 3] [--csv-repeat 5] [--explain]
    .venv/bin/python bench/report.py --rebuild
    .venv/bin/python bench/report.py --smoke    # 6,000 events, 2,000 for bench-big: seconds

It uses its own database, BENCH_REPORT_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/chatpoints_bench_report, with --smoke
chatpoints_bench_report_smoke; the name must contain 'bench'), created and migrated if missing.
The first run generates 2,000,000 chat events (COPY): 100,000 for the dealer `bench-big` in
2026-10 (every tariff and actor on offer, engaged contacts with several chats each, plus chats on
both sides of the month's bounds and a few voided ones), 10,000 for `bench-small` in 2026-10, the
rest for 2,000 other dealers over 2026-07 to 2026-11; later runs reuse them (--rebuild drops the
database and starts again).

It logs a dealer user in (Django's test client, in process: no network, no server) and times:

1. the report page `portal:report` of bench-big for 2026-10 (--warmup requests, then --repeat
   requests) interleaved with the floor: the month's aggregate per tariff and actor written by
   hand and fetched with a plain psycopg cursor. Every page must be a 200 that shows the month's
   chats and points. Targets: page p95 < 150 ms and <= 3x the floor's median.
2. the CSV export `portal:report_csv` of bench-big (100,000 rows) and bench-small (10,000 rows),
   --csv-repeat times each, every byte consumed; then once each under tracemalloc, for the peak
   of Python memory during the export. Target: flat memory, peak big / small <= 2 (about 1; a
   list of the rows would make it about 10, the rows being 10x).
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import statistics
import sys
import time
import tracemalloc
import warnings
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

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

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/chatpoints_bench_report"

DATASET = "chatpoints report bench dataset v1"  # the table comment once a load is complete
SEED = 20261127
SOURCE = "bench"
TOTAL_EVENTS = 2_000_000
BIG_CODE, SMALL_CODE = "bench-big", "bench-small"
BIG_CHATS, SMALL_CHATS = 100_000, 10_000  # counted in the target month (not voided)
BIG_VOIDED, SMALL_VOIDED = 100, 10  # voided in the target month: stored, never counted
BIG_OUTSIDE = 1_000  # bench-big's chats in the 24 hours before the month, and in those after
BIG_PLAN, SMALL_PLAN = "SCALE", "GROW"
DEALERS_FROM = date(2026, 1, 1)  # the two dealers' subscriptions start then
OTHERS = 2_000  # other dealers
FIRST_MONTH, LAST_MONTH = (2026, 7), (2026, 11)  # the other dealers' months
DATA_END = datetime(2026, 11, 27, 12)  # local time (billing tz): no chat after it
TARGET_YEAR, TARGET_MONTH = 2026, 10
TEAM_CHATS_PER_CONTACT = 5  # on average: an engaged contact has several chats in a month
VOIDED_SHARE = 0.001  # of the other dealers' chats
ENTERPRISE_EVERY = 100
DEALER_USERNAME = "bench-dealer"
TARGET_PAGE_MS = 150.0
TARGET_PAGE_RATIO = 3.0
TARGET_MEMORY_RATIO = 2.0  # flat: about 1; a list of the rows would give about 10
EXPLAIN_FROM = 0.010  # seconds: past a target, the page's queries this slow are explained
# --smoke: the same dataset's shape and checks, tiny (the test suite runs it in seconds; the
# times and ratios mean little at that size). These replace the constants above.
SIZE = "full"
SMOKE = {
    "SIZE": "smoke",
    "DATASET": "chatpoints report bench dataset v1, smoke size",
    "TOTAL_EVENTS": 6_000,
    "BIG_CHATS": 2_000,
    "SMALL_CHATS": 200,
    "BIG_VOIDED": 10,
    "SMALL_VOIDED": 2,
    "BIG_OUTSIDE": 20,
    "OTHERS": 20,
    "ENTERPRISE_EVERY": 10,
}
SMOKE_REPEAT, SMOKE_WARMUP, SMOKE_CSV_REPEAT = 3, 1, 1


# The month's aggregate of one dealer, written by hand: what the database alone costs.
FLOOR_SQL = """
SELECT tariff_id, actor,
       count(*),
       max(points),
       sum(points),
       count(DISTINCT contact) FILTER (WHERE tariff_id = ANY(%s))
FROM billing_chatevent
WHERE customer_id = %s AND occurred_at >= %s AND occurred_at < %s AND voided_at IS NULL
GROUP BY tariff_id, actor
"""


# --- the dataset ----------------------------------------------------------------------------------


def local_days(tz):
    """The local days from the first bench month to the day after DATA_END, with their local
    midnights as epoch seconds (2026-10-25 has 25 hours in Paris)."""
    day = date(*FIRST_MONTH, 1)
    days = []
    while day <= DATA_END.date():
        days.append(day)
        day += timedelta(days=1)
    midnights = [datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() for d in days]
    return days, midnights


def offered_kinds(book, days):
    """Every (tariff, actor) on offer, weighted like the demo's mix (1 for the others), with its
    points on each day (TariffBook: the version in force on the day)."""
    from billing.errors import TariffNotOffered
    from billing.management.demo import MIX
    from billing.models import Actor, Tariff, Unit

    weights = {(code, actor): weight for code, actor, weight in MIX}
    kinds, kind_weights = [], []
    for tariff in Tariff.objects.order_by("code"):
        for actor in Actor.values:
            try:
                points = [book.price(tariff.code, actor, day).points for day in days]
            except TariffNotOffered:
                continue
            kinds.append((tariff.id, actor, tariff.unit == Unit.CONTACT_MONTH, points))
            kind_weights.append(weights.get((tariff.code, actor), 1))
    offered = {(tariff_id, actor) for tariff_id, actor, _, _ in kinds}
    assert len(offered) == len(kinds) and len(weights) <= len(kinds)
    return kinds, kind_weights


def other_counts(rng, slots: int, rest: int, month_weights) -> list[list[int]]:
    """Chats per other dealer and month, uneven (log-normal sizes), summing to `rest` exactly."""
    sizes = [rng.lognormvariate(0, 1.0) for _ in range(slots)]
    weights = [
        size * month_weight * rng.uniform(0.8, 1.2)
        for size in sizes
        for month_weight in month_weights
    ]
    total = sum(weights)
    shares = [rest * weight / total for weight in weights]
    counts = [int(share) for share in shares]
    short = rest - sum(counts)
    by_remainder = sorted(range(len(counts)), key=lambda i: shares[i] - counts[i], reverse=True)
    for index in by_remainder[:short]:
        counts[index] += 1
    assert sum(counts) == rest
    width = len(month_weights)
    return [counts[i * width : (i + 1) * width] for i in range(slots)]


def create_customers(sizes: list[int], rng):
    """bench-big, bench-small and OTHERS dealers, each with one subscription."""
    from billing.models import Plan, Subscription
    from customers.models import Customer

    plans = {plan.code: plan for plan in Plan.objects.all()}
    rows = [
        Customer(
            code=code,
            legal_name=name,
            address="12 avenue du Rapport",
            postal_code="69003",
            city="Lyon",
            billing_emails=f"compta@{code}.example",
        )
        for code, name in ((BIG_CODE, "Grand Garage SAS"), (SMALL_CODE, "Petit Garage SARL"))
    ]
    rows += [
        Customer(
            code=f"bench-{index:04d}",
            legal_name=f"Bench Dealer {index:04d} SAS",
            address=f"{index % 200 + 1} rue du Banc d'Essai",
            postal_code="33000",
            city="Bordeaux",
            billing_emails=f"compta+{index:04d}@report.example",
            language="en" if index % 4 == 1 else "fr",
        )
        for index in range(OTHERS)
    ]
    customers = customers_create(rows)
    ordered = sorted(sizes)
    subscriptions = [
        Subscription(customer=customers[0], plan=plans[BIG_PLAN], first_month=DEALERS_FROM),
        Subscription(customer=customers[1], plan=plans[SMALL_PLAN], first_month=DEALERS_FROM),
    ]
    for index, (customer, size) in enumerate(zip(customers[2:], sizes, strict=True)):
        rank = bisect.bisect_left(ordered, size) / len(ordered)
        code = "BASE" if rank < 0.3 else "GROW" if rank < 0.75 else "SCALE"
        custom = {}
        if index % ENTERPRISE_EVERY == ENTERPRISE_EVERY // 2:
            code = "ENTERPRISE"
            custom = {
                "custom_monthly_fee": Decimal("2400.00"),
                "custom_included_points": 30_000,
                "custom_price_per_extra_point": Decimal("0.1150"),
            }
        months_before = rng.randrange(18)  # from 2025-02 to the first bench month
        year, month = divmod(FIRST_MONTH[0] * 12 + FIRST_MONTH[1] - 1 - months_before, 12)
        subscriptions.append(
            Subscription(
                customer=customer,
                plan=plans[code],
                first_month=date(year, month + 1, 1),
                **custom,
            )
        )
    Subscription.objects.bulk_create(subscriptions)
    return customers


def create_dealer_user(big, small):
    """A dealer's login (not staff) with access to bench-big and bench-small."""
    from django.contrib.auth import get_user_model

    from customers.models import CustomerAccess

    user, created = get_user_model().objects.get_or_create(
        username=DEALER_USERNAME, defaults={"email": "direction@bench-big.example"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    for customer in (big, small):
        CustomerAccess.objects.get_or_create(user=user, customer=customer)
    return user


def generate(conn) -> float:
    """Customers, subscriptions, the dealer user and TOTAL_EVENTS chat events (COPY), then
    VACUUM ANALYZE."""
    from django.db import transaction

    from billing.catalog.tariffs import TariffBook
    from billing.months import Month, billing_tz

    started = time.perf_counter()
    rng = random.Random(SEED)
    tz = billing_tz()
    days, midnights = local_days(tz)
    kinds, weights = offered_kinds(TariffBook(), days)
    team_share = sum(w for kind, w in zip(kinds, weights, strict=True) if kind[2]) / sum(weights)
    data_end = DATA_END.replace(tzinfo=tz).timestamp()

    months = [Month(*FIRST_MONTH)]
    while months[-1] < Month(*LAST_MONTH):
        months.append(months[-1].next())
    spans = []  # (start, end) epoch seconds of each month, the last one cut at DATA_END
    for month in months:
        start, end = (moment.timestamp() for moment in month.bounds(tz))
        spans.append((start, min(end, data_end)))
    full = max(end - start for start, end in spans[:-1])
    month_weights = [(end - start) / full for start, end in spans]

    target_start, target_end = (m.timestamp() for m in Month(TARGET_YEAR, TARGET_MONTH).bounds(tz))
    big_n = BIG_CHATS + BIG_VOIDED + 2 * BIG_OUTSIDE
    small_n = SMALL_CHATS + SMALL_VOIDED
    rest = TOTAL_EVENTS - big_n - small_n
    per_other = other_counts(rng, OTHERS, rest, month_weights)
    sizes = [sum(counts) for counts in per_other]
    with transaction.atomic():
        customers = create_customers(sizes, rng)
        create_dealer_user(customers[0], customers[1])

    rows = []

    def add(customer_id, n, low, high, voided=0):
        """n chats between low and high (epoch seconds), the first `voided` of them voided."""
        picks = rng.choices(kinds, weights, k=n)
        pool = max(1, round(n * team_share / TEAM_CHATS_PER_CONTACT))
        for index, (tariff_id, actor, per_contact, points) in enumerate(picks):
            moment = rng.uniform(low, high)
            if per_contact:  # the dealer's staff and known customers: the same contacts again
                contact = f"+33 6 {customer_id:04d} {rng.randrange(pool):05d}"
            else:  # a visitor of the website or WhatsApp: mostly new ones
                contact = f"v-{customer_id}-{rng.randrange(n * 4)}"
            day = bisect.bisect_right(midnights, moment) - 1
            is_voided = index < voided
            rows.append((moment, customer_id, tariff_id, actor, contact, points[day], is_voided))

    big, small = customers[0], customers[1]
    # Safely inside the month: a second after its first midnight, a second before its last.
    add(big.id, BIG_CHATS + BIG_VOIDED, target_start + 1, target_end - 1, voided=BIG_VOIDED)
    # Just outside it, on both sides: the page must count only the month (billing tz bounds).
    add(big.id, BIG_OUTSIDE, target_start - 86_400, target_start - 1)
    add(big.id, BIG_OUTSIDE, target_end, target_end + 86_400)
    add(small.id, SMALL_CHATS + SMALL_VOIDED, target_start + 1, target_end - 1, voided=SMALL_VOIDED)
    for customer, counts in zip(customers[2:], per_other, strict=True):
        for (low, high), n in zip(spans, counts, strict=True):
            voided = sum(rng.random() < VOIDED_SHARE for _ in range(n))
            add(customer.id, n, low + 1, high - 1, voided=voided)
    assert len(rows) == TOTAL_EVENTS, len(rows)
    rows.sort()  # stored in arrival order, dealers interleaved, as in production
    print(f"  {len(rows):,} events generated ({time.perf_counter() - started:.1f} s)", flush=True)

    def copied():
        for sequence, (ts, customer_id, tariff_id, actor, contact, points, voided) in enumerate(
            rows, start=1
        ):
            occurred = datetime.fromtimestamp(ts, UTC)
            received = occurred + timedelta(seconds=5 + sequence % 120)
            yield (
                SOURCE,
                f"evt-{sequence:08d}",
                customer_id,
                tariff_id,
                actor,
                contact,
                occurred,
                points,
                "{}",
                received,
                received + timedelta(hours=20) if voided else None,
                "bench: sent twice by the platform" if voided else "",
            )

    with chat_events_bulk_load(conn):
        copy_rows(conn, "billing_chatevent", CHAT_EVENT_COLUMNS, copied(), started=started)
    from billing.usage.summary import summary_rebuild

    summary_rebuild()  # the chats went in by COPY, not through ingestion: sum them once
    print(f"  summary built ({time.perf_counter() - started:.1f} s)", flush=True)
    dataset_mark(
        conn, DATASET, tables=("billing_chatevent", "billing_usageday", "billing_contactmonth")
    )
    return time.perf_counter() - started


# --- the measurement ------------------------------------------------------------------------------


def number_forms(value: int) -> list[bytes]:
    """How a page may write an integer: plain, or grouped by thousands (English, French)."""
    plain = str(value)
    if value < 1000:
        return [plain.encode()]
    forms = [plain]
    for separator in (",", ".", " ", "\u00a0", "\u202f", "&nbsp;", "&#8239;"):
        forms.append(f"{value:,}".replace(",", separator))
    return [form.encode() for form in forms]


def shows(content: bytes, value: int) -> bool:
    return any(form in content for form in number_forms(value))


def floor_totals(rows, per_contact) -> tuple[int, int, int]:
    """(chats, points, engaged contacts) from the bare rows, priced as rule 2 says."""
    chats = points = contacts = 0
    for tariff_id, _actor, count, unit_points, chat_points, distinct in rows:
        chats += count
        if tariff_id in per_contact:
            points += distinct * unit_points
            contacts += distinct
        else:
            points += chat_points
    return chats, points, contacts


def print_queries(title: str, captured) -> None:
    """Each query with its time (Django records it to the millisecond), cut to one line."""
    print(f"  {title}:")
    for query in captured:
        text = " ".join(query["sql"].split())
        shown = text if len(text) <= 94 else f"{text[:91]}..."
        print(f"    {float(query['time']) * 1000:6.0f} ms  {shown}")


def explain(connection, title: str, sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        plan = [row[0] for row in cursor.fetchall()]
    print(f"\n--- EXPLAIN (ANALYZE, BUFFERS): {title} ---")
    print(" ".join(sql.split())[:2000])
    print("\n".join(plan))


def describe_dataset(connection, big, small, start, end) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version'), current_setting('jit')")
        version, jit = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), count(DISTINCT customer_id), min(occurred_at), max(occurred_at), "
            "pg_total_relation_size('billing_chatevent') FROM billing_chatevent"
        )
        total, dealers, first, last, size = cursor.fetchone()
        cursor.execute(
            "SELECT customer_id, count(*) FILTER (WHERE voided_at IS NULL), "
            "count(*) FILTER (WHERE voided_at IS NOT NULL), "
            "count(*) FILTER (WHERE actor = 'team'), "
            "count(DISTINCT (tariff_id, actor)) "
            "FROM billing_chatevent WHERE customer_id IN (%s, %s) "
            "AND occurred_at >= %s AND occurred_at < %s GROUP BY customer_id",
            [big.id, small.id, start, end],
        )
        in_month = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT count(*) FROM billing_chatevent WHERE customer_id = %s "
            "AND (occurred_at < %s OR occurred_at >= %s)",
            [big.id, start, end],
        )
        outside = cursor.fetchone()[0]
    from django.conf import settings

    lines = [
        f"PostgreSQL {version} (jit {jit}); Django DEBUG={'on' if settings.DEBUG else 'off'}; "
        f"{os.cpu_count()} CPUs",
        f"dataset: {total:,} chat events of {dealers:,} dealers, {first:%Y-%m-%d} to "
        f"{last:%Y-%m-%d} (UTC); table and indexes {size / 2**20:,.0f} MiB",
    ]
    for customer in (big, small):
        counted, voided, team, kinds = in_month.get(customer.id, (0, 0, 0, 0))
        lines.append(
            f"  {customer.code}: {counted:,} chats counted in the month ({voided:,} voided left "
            f"out), {kinds} tariff/actor pairs, {team:,} team chats"
            + (f"; {outside:,} chats just outside the month's bounds" if customer is big else "")
        )
    return lines


def measure(args) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import NoReverseMatch, reverse

    from billing.catalog.tariffs import per_contact_tariff_ids
    from billing.months import Month, billing_tz
    from customers.models import Customer

    month = Month(TARGET_YEAR, TARGET_MONTH)
    start, end = month.bounds(billing_tz())
    big = Customer.objects.get(code=BIG_CODE)
    small = Customer.objects.get(code=SMALL_CODE)
    user = create_dealer_user(big, small)
    per_contact = sorted(per_contact_tariff_ids())
    header = describe_dataset(connection, big, small, start, end)
    print("\n".join(header), flush=True)

    connection.ensure_connection()
    raw = connection.connection.cursor()  # a plain psycopg cursor: no Django in the way

    def run_floor(customer):
        began = time.perf_counter()
        raw.execute(FLOOR_SQL, [per_contact, customer.id, start, end])
        rows = raw.fetchall()
        return time.perf_counter() - began, rows

    _elapsed, rows = run_floor(big)
    chats, points, contacts = floor_totals(rows, per_contact)
    small_chats = floor_totals(run_floor(small)[1], per_contact)[0]
    if (chats, small_chats) != (BIG_CHATS, SMALL_CHATS):
        sys.exit(f"FAILED: the floor counts {chats:,} and {small_chats:,} chats in {month}")
    print(
        f"  {BIG_CODE} {month}: {len(rows)} aggregate rows, {chats:,} chats, {points:,} points, "
        f"{contacts:,} engaged contacts (the floor's numbers)",
        flush=True,
    )

    try:
        page_url = reverse("portal:report", kwargs={"customer": BIG_CODE, "month": str(month)})
        csv_urls = {
            customer.code: reverse(
                "portal:report_csv", kwargs={"customer": customer.code, "month": str(month)}
            )
            for customer in (big, small)
        }
    except NoReverseMatch as error:
        floor = [run_floor(big)[0] for _ in range(args.repeat)]
        print(
            f"bare SQL aggregate  median {statistics.median(floor) * 1000:7.1f} ms  p95 "
            f"{percentile(floor, 0.95) * 1000:7.1f} ms  (1 query, plain psycopg cursor)"
        )
        sys.exit(f"the portal's report views are not there yet: {error}")

    client = Client()
    client.force_login(user)

    def get_page():
        began = time.perf_counter()
        response = client.get(page_url)
        elapsed = time.perf_counter() - began
        if response.status_code != 200:
            sys.exit(f"FAILED: GET {page_url} answered {response.status_code}")
        return elapsed, response

    # The page must be the report, not an error page: the month's chats and points shown.
    _elapsed, response = get_page()
    content = response.content
    missing = [
        f"{what} {value:,}"
        for what, value in (("chats", chats), ("points", points))
        if not shows(content, value)
    ]
    if missing:
        sys.exit(f"FAILED: the report page does not show {' and '.join(missing)}")
    with CaptureQueriesContext(connection) as captured:
        get_page()
    page_queries = captured.captured_queries

    for _ in range(args.warmup):
        get_page()
        run_floor(big)
    page, floor = [], []
    for i in range(args.repeat):  # interleaved, alternating which goes first, so drift hits both
        for side in ("floor", "page") if i % 2 else ("page", "floor"):
            if side == "page":
                elapsed, response = get_page()
                if not shows(response.content, chats):
                    sys.exit("FAILED: a report page without the month's chats")
                page.append(elapsed)
            else:
                floor.append(run_floor(big)[0])

    def export(code, trace=False):
        """Every byte of the CSV consumed: {seconds, rows, footer, bytes, peak traced bytes}."""
        if trace:
            tracemalloc.start()
        began = time.perf_counter()
        response = client.get(csv_urls[code])
        if response.status_code != 200:
            sys.exit(f"FAILED: GET {csv_urls[code]} answered {response.status_code}")
        if not response.streaming:
            sys.exit(f"FAILED: {csv_urls[code]} is not a streaming response")
        lines = size = 0
        tail = b""
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
            size += len(chunk)
            tail = (tail + chunk)[-4096:]
        elapsed = time.perf_counter() - began
        peak = None
        if trace:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        # A header line, the chats, maybe a last line with the totals.
        last = tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
        chats_, points_ = totals[code]
        footer = shows(last, chats_) and shows(last, points_)
        rows = lines - 1 - footer
        return {"seconds": elapsed, "rows": rows, "footer": footer, "size": size, "peak": peak}

    totals = {
        BIG_CODE: (chats, points),
        SMALL_CODE: floor_totals(run_floor(small)[1], per_contact)[:2],
    }
    exports = {}
    for code in (BIG_CODE, SMALL_CODE):
        export(code)  # warm-up
        runs = [export(code) for _ in range(args.csv_repeat)]
        rows_out = {run["rows"] for run in runs}
        if rows_out != {totals[code][0]}:
            sys.exit(
                f"FAILED: the CSV export of {code} has {sorted(rows_out)} chats, "
                f"{totals[code][0]:,} expected"
            )
        exports[code] = {**runs[0], "times": [run["seconds"] for run in runs]}
    with CaptureQueriesContext(connection) as captured:
        export(BIG_CODE)
    csv_queries = captured.captured_queries
    raw.close()
    for code in (SMALL_CODE, BIG_CODE):  # the smaller first: nothing left for it to warm
        exports[code]["peak"] = export(code, trace=True)["peak"]

    ms = 1000
    print("\n--- results ---")
    print("\n".join(header))
    print(
        f"report page: GET {page_url} as a dealer user (test client, in process), "
        f"{len(content) / 1024:,.0f} KiB of HTML"
    )
    print(
        f"runs: {args.warmup} warm-up, {args.repeat} measured per side (interleaved)"
        + ("; smoke size: the checks hold, the times mean little" if SIZE == "smoke" else "")
    )
    print(
        f"report page         median {statistics.median(page) * ms:7.1f} ms  p95 "
        f"{percentile(page, 0.95) * ms:7.1f} ms  ({len(page_queries)} queries)"
    )
    print(
        f"bare SQL aggregate  median {statistics.median(floor) * ms:7.1f} ms  p95 "
        f"{percentile(floor, 0.95) * ms:7.1f} ms  (1 query, plain psycopg cursor)"
    )
    floor_median = statistics.median(floor)
    page_p95 = percentile(page, 0.95)
    print(f"ratio page median / floor median {statistics.median(page) / floor_median:.2f}")
    ratio = page_p95 / floor_median
    print(
        f"ratio page p95 / floor median {ratio:.2f} (target <= {TARGET_PAGE_RATIO:g}) "
        f"{'OK' if ratio <= TARGET_PAGE_RATIO else 'NOT MET'}"
    )
    print(
        f"page p95 {page_p95 * ms:.1f} ms (target < {TARGET_PAGE_MS:g} ms) "
        f"{'OK' if page_p95 * ms < TARGET_PAGE_MS else 'NOT MET'}"
    )
    query_time = sum(float(query["time"]) for query in page_queries)
    print_queries(
        f"queries of one page (time of each; {query_time * ms:.0f} ms in all, the rest of the "
        f"page is Python)",
        page_queries,
    )

    print(f"CSV export: {args.csv_repeat} runs each after a warm-up, every byte consumed")
    for code in (BIG_CODE, SMALL_CODE):
        export_ = exports[code]
        median = statistics.median(export_["times"])
        footer = ", a totals line" if export_["footer"] else ""
        print(
            f"  {code:<12} median {median:7.2f} s  p95 {percentile(export_['times'], 0.95):7.2f} s"
            f"  ({export_['rows']:>7,} chats{footer}, {export_['size'] / 2**20:5.1f} MiB, "
            f"{export_['rows'] / median:,.0f} rows/s; peak traced memory "
            f"{export_['peak'] / 2**20:.2f} MiB)"
        )
    big_export, small_export = exports[BIG_CODE], exports[SMALL_CODE]
    memory = big_export["peak"] / small_export["peak"]
    rows_ratio = big_export["rows"] / small_export["rows"]
    more_rows = big_export["rows"] - small_export["rows"]
    print(
        f"CSV peak memory big / small {memory:.2f} for {rows_ratio:.0f}x the rows (flat: about 1, "
        f"target <= {TARGET_MEMORY_RATIO:g}) {'OK' if memory <= TARGET_MEMORY_RATIO else 'NOT MET'}"
        f"; {(big_export['peak'] - small_export['peak']) / 2**20:+.2f} MiB for {more_rows:,} more "
        f"rows ({(big_export['peak'] - small_export['peak']) / more_rows:+.1f} bytes per row)"
    )
    print_queries(f"queries of one CSV export of {BIG_CODE}", csv_queries)

    missed = ratio > TARGET_PAGE_RATIO or page_p95 * ms >= TARGET_PAGE_MS
    if args.explain or (missed and SIZE != "smoke"):
        slow = sorted(page_queries, key=lambda query: float(query["time"]), reverse=True)
        for number, query in enumerate(slow, start=1):
            if number > 1 and float(query["time"]) < EXPLAIN_FROM:
                break
            explain(connection, f"the page's query {number} by time", query["sql"])
        explain(connection, "the floor", FLOOR_SQL, [per_contact, big.id, start, end])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, help="measured pages and floors (30)")
    parser.add_argument("--warmup", type=int, help="warm-up pages and floors (3)")
    parser.add_argument("--csv-repeat", type=int, help="CSV exports of each (5)")
    parser.add_argument("--rebuild", action="store_true", help="drop and regenerate the data")
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN ANALYZE of the page's slowest query"
    )
    add_smoke_argument(parser)
    args = parser.parse_args()
    if args.smoke:
        globals().update(SMOKE)
    defaults = (SMOKE_REPEAT, SMOKE_WARMUP, SMOKE_CSV_REPEAT) if args.smoke else (30, 3, 5)
    for name, value in zip(("repeat", "warmup", "csv_repeat"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.repeat < 1 or args.warmup < 0 or args.csv_repeat < 1:
        parser.error("--repeat and --csv-repeat must be >= 1, --warmup >= 0")

    # The test client speaks plain HTTP to host "testserver": allowed, and not redirected to HTTPS.
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1"
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    url = bench_url("BENCH_REPORT_DATABASE_URL", DEFAULT_URL, smoke=args.smoke)
    open_dataset(
        url,
        rebuild=args.rebuild,
        dataset=DATASET,
        generate=generate,
        what=f"{TOTAL_EVENTS:,} events",
    )
    # Templates render without a collectstatic manifest, as in the tests (tests/conftest.py).
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    from django.conf import settings
    from django.test.utils import override_settings

    override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()
    measure(args)


if __name__ == "__main__":
    main()
