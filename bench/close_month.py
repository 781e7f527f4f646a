"""Benchmark: month close (drafts of 5,000 customers) against a bare GROUP BY; one invoice PDF.

Run by hand, on PostgreSQL (the test suite runs its smoke size):

    .venv/bin/python bench/close_month.py [--repeat 5] [--pdf-repeat 10] [--rebuild] [--no-jit]
    .venv/bin/python bench/close_month.py --smoke   # 60 customers, 12,000 events: seconds

It uses its own database, BENCH_CLOSE_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/chatpoints_close_bench, with --smoke
chatpoints_close_bench_smoke; the name must contain 'bench'), created and migrated if missing.
The first run generates 5,000 customers (BASE, GROW, SCALE and a few ENTERPRISE with their own
terms, French and English) and 2,000,000 chat events in 2026-10 (uneven customer sizes, every
tariff and actor on offer priced with TariffBook, engaged contacts with several chats each, a few
voided chats), loaded with COPY; later runs reuse them (--rebuild drops the database and starts
again).

1. Drafts: it deletes the month's drafts, warms up, then times `invoices_draft()` once when it
   creates the 5,000 drafts and --repeat times when it refreshes them, interleaved with the floor:
   the month's aggregate (per customer, tariff and actor) written by hand and fetched with a plain
   psycopg cursor, with the faster of the planner's plan and a seq scan (chosen at warm-up: the
   planner may scan the whole month through the customer_id index). It counts the SQL queries
   of each call (target: a constant number, not one per customer) and prints the medians and the
   ratio drafts / floor (target <= 2). Every draft's points and chats are checked against the
   floor's rows, and a few net totals against `month_statement()`. --no-jit sets jit off on its
   connection (both sides), to tell PostgreSQL's JIT compile time apart.
2. PDF: it issues one draft (the biggest customer's) inside a transaction that is rolled back at
   the end (no number taken, no e-mail, the next run finds the same 5,000 drafts), then times
   `invoice_pdf()` warm and, in the same process, WeasyPrint rendering a one-line HTML page (the
   floor); targets: <= 0.3 s per invoice and <= 3x the floor.
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
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
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/chatpoints_close_bench"

DATASET = "chatpoints close-month bench dataset v1"  # the table comment once a load is complete
SEED = 20261031
SOURCE = "bench"
CUSTOMERS = 5_000
TOTAL_EVENTS = 2_000_000
TARGET_YEAR, TARGET_MONTH = 2026, 10
ISSUE_TODAY = date(2026, 11, 27)  # the month is over: its drafts can be issued
TEAM_CHATS_PER_CONTACT = 3  # on average: an engaged contact has several chats in a month
VOIDED_SHARE = 0.001  # voided by staff: stored, never counted
SILENT_EVERY = 1_000  # every 1,000th customer has no chat this month (a plan fee alone)
ENTERPRISE_EVERY = 100  # every 100th customer is on ENTERPRISE, with its own terms
TARGET_DRAFTS_RATIO = 2.0
TARGET_QUERIES = 20  # "constant": whatever the number of customers, far below one per customer
TARGET_PDF_SECONDS = 0.3
TARGET_PDF_RATIO = 3.0
FLOOR_PAGE = "<p>Chatpoints</p>"
# --smoke: the same dataset's shape and checks, tiny (the test suite runs it in seconds; the
# times and ratios mean little at that size). These replace the constants above.
SIZE = "full"
SMOKE = {
    "SIZE": "smoke",
    "DATASET": "chatpoints close-month bench dataset v1, smoke size",
    "CUSTOMERS": 60,
    "TOTAL_EVENTS": 12_000,
    "SILENT_EVERY": 20,
    "ENTERPRISE_EVERY": 10,
    "PDF_WARMUP": 0,  # a PDF takes 0.1 to 2.5 s as the machine is idle or busy: fewer of them
}
SMOKE_REPEAT, SMOKE_PDF_REPEAT = 2, 1
PDF_WARMUP = 2  # PDFs rendered before the timed ones (fonts, stylesheets, templates)


# The hand-written twin of billing.usage.selectors.usage_rows_by_customer (the month close's one
# aggregate): every chat of the month not voided, per customer, tariff and actor. What the
# database alone costs.
FLOOR_SQL = """
SELECT customer_id, tariff_id, actor,
       count(*),
       max(points),
       sum(points),
       count(DISTINCT contact) FILTER (WHERE tariff_id = ANY(%s))
FROM billing_chatevent
WHERE occurred_at >= %s AND occurred_at < %s AND voided_at IS NULL
GROUP BY 1, 2, 3
"""


# For the floor's runs when a seq scan is faster than the planner's choice (decided at warm-up).
FLOOR_SEQ_SCAN = "SET enable_indexscan = off; SET enable_bitmapscan = off"
FLOOR_PLANNER_DEFAULTS = "RESET enable_indexscan; RESET enable_bitmapscan"

# The month's drafts and their lines, deleted before the "create" measurement (a draft may be
# deleted: only issued invoices are final).
DELETE_DRAFT_LINES = """
DELETE FROM billing_invoiceline WHERE invoice_id IN (
    SELECT id FROM billing_invoice WHERE month = %s AND kind = 'invoice' AND status = 'draft'
)
"""
DELETE_DRAFTS = (
    "DELETE FROM billing_invoice WHERE month = %s AND kind = 'invoice' AND status = 'draft'"
)

CITIES = [
    ("69003", "Lyon"),
    ("13008", "Marseille"),
    ("31000", "Toulouse"),
    ("33000", "Bordeaux"),
    ("44000", "Nantes"),
    ("59000", "Lille"),
    ("67000", "Strasbourg"),
    ("35000", "Rennes"),
    ("21000", "Dijon"),
    ("75011", "Paris"),
]


# --- the database, before Django -----------------------------------------------------------------


# --- the dataset ----------------------------------------------------------------------------------


def event_counts(rng) -> list[int]:
    """Events per customer (index), uneven (log-normal: many small dealers, a few big ones),
    summing to TOTAL_EVENTS exactly; every SILENT_EVERY-th customer has none."""
    weights = [
        0.0 if index % SILENT_EVERY == SILENT_EVERY - 1 else rng.lognormvariate(0, 1.0)
        for index in range(CUSTOMERS)
    ]
    total = sum(weights)
    shares = [TOTAL_EVENTS * weight / total for weight in weights]
    counts = [int(share) for share in shares]
    short = TOTAL_EVENTS - sum(counts)
    by_remainder = sorted(range(CUSTOMERS), key=lambda i: shares[i] - counts[i], reverse=True)
    for index in by_remainder[:short]:
        counts[index] += 1
    assert sum(counts) == TOTAL_EVENTS
    return counts


def plan_codes(counts, rng) -> list[str]:
    """BASE for the smaller dealers, GROW in the middle, SCALE for the bigger ones (with some
    dealers on a plan too small or too big for them), ENTERPRISE every ENTERPRISE_EVERY-th."""
    order = sorted(range(CUSTOMERS), key=lambda i: counts[i])
    rank = {index: position / CUSTOMERS for position, index in enumerate(order)}
    ladder = ["BASE", "GROW", "SCALE"]
    codes = []
    for index in range(CUSTOMERS):
        if index % ENTERPRISE_EVERY == ENTERPRISE_EVERY // 2:
            codes.append("ENTERPRISE")
            continue
        step = 0 if rank[index] < 0.3 else 1 if rank[index] < 0.75 else 2
        if rng.random() < 0.15:
            step = min(2, max(0, step + rng.choice((-1, 1))))
        codes.append(ladder[step])
    return codes


def create_customers(counts, rng):
    """CUSTOMERS dealers and their subscriptions: every one in force in the target month, some
    after a change of plan (an earlier subscription that ended in 2026-08)."""
    from billing.models import Plan, Subscription
    from customers.models import Customer

    plans = {plan.code: plan for plan in Plan.objects.all()}
    rows = []
    for index in range(CUSTOMERS):
        postal_code, city = CITIES[index % len(CITIES)]
        country, vat_number, siren = "FR", "", ""
        if index % 37 == 5:  # a Belgian business: reverse charge
            country, vat_number = "BE", f"BE0{rng.randrange(10**8, 10**9)}"
            postal_code, city = "1000", "Bruxelles"
        elif index % 101 == 7:  # outside the EU: no French VAT
            country, postal_code, city = "CH", "1201", "Genève"
        emails = "" if index % 500 == 123 else f"compta+{index:04d}@close.example"
        rows.append(
            Customer(
                code=f"close-{index:04d}",
                legal_name=f"Close Dealer {index:04d} SAS",
                address=f"{index % 200 + 1} avenue de la Clôture",
                postal_code=postal_code,
                city=city,
                country=country,
                vat_number=vat_number,
                siren=siren,
                billing_emails=emails,
                language="en" if rng.random() < 0.3 else "fr",
            )
        )
    customers = customers_create(rows)
    codes = plan_codes(counts, rng)
    subscriptions = []
    for index, (customer, code) in enumerate(zip(customers, codes, strict=True)):
        custom = {}
        if plans[code].is_custom:
            custom = {
                "custom_monthly_fee": Decimal(1800 + 100 * (index % 7)).quantize(Decimal("0.01")),
                "custom_included_points": 20_000 + 1_000 * (index % 5),
                "custom_price_per_extra_point": Decimal(f"0.11{index % 10}0"),
            }
        if index % 10 == 3:  # changed plan two months ago
            previous = "BASE" if code != "BASE" else "GROW"
            subscriptions.append(
                Subscription(
                    customer=customer,
                    plan=plans[previous],
                    first_month=date(2025, 1, 1),
                    last_month=date(2026, 8, 1),
                )
            )
            first_month = date(2026, 9, 1)
        else:
            months_before = rng.randrange(22)  # from 2025-01 to the target month
            year, month = divmod(TARGET_YEAR * 12 + TARGET_MONTH - 1 - months_before, 12)
            first_month = date(year, month + 1, 1)
        subscriptions.append(
            Subscription(customer=customer, plan=plans[code], first_month=first_month, **custom)
        )
    Subscription.objects.bulk_create(subscriptions)
    return customers


def offered_kinds(book, day_starts):
    """Every (tariff, actor) on offer, weighted like the demo's mix (1 for the others), with its
    points on each day of the month (TariffBook: the version in force on the day)."""
    from billing.errors import TariffNotOffered
    from billing.management.demo import MIX
    from billing.models import Actor, Tariff, Unit

    weights = {(code, actor): weight for code, actor, weight in MIX}
    kinds, kind_weights, offered = [], [], set()
    for tariff in Tariff.objects.order_by("code"):
        for actor in Actor.values:
            try:
                points = [book.price(tariff.code, actor, day).points for day in day_starts]
            except TariffNotOffered:
                continue
            offered.add((tariff.code, actor))
            kinds.append((tariff.id, actor, tariff.unit == Unit.CONTACT_MONTH, points))
            kind_weights.append(weights.get((tariff.code, actor), 1))
    assert set(weights) <= offered, set(weights) - offered  # the demo's mix is all on offer
    return kinds, kind_weights


def generate(conn) -> float:
    """Customers, subscriptions and TOTAL_EVENTS chat events (COPY), then VACUUM ANALYZE."""
    from django.db import transaction

    from billing.catalog.tariffs import TariffBook
    from billing.months import Month, billing_tz

    started = time.perf_counter()
    rng = random.Random(SEED)
    tz = billing_tz()
    month = Month(TARGET_YEAR, TARGET_MONTH)
    start, end = month.bounds(tz)
    days = (month.next().first_day - month.first_day).days
    day_starts = [month.first_day + timedelta(days=n) for n in range(days)]
    # Local midnights (the billing time zone: 2026-10-25 has 25 hours) as epoch seconds.
    midnights = [
        datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() for day in day_starts
    ]
    # Safely inside the month: a minute after its first midnight, a minute before its last.
    low, high = start.timestamp() + 60, end.timestamp() - 60
    kinds, weights = offered_kinds(TariffBook(), day_starts)
    counts = event_counts(rng)

    with transaction.atomic():
        customers = create_customers(counts, rng)
    rows = []
    for customer, n in zip(customers, counts, strict=True):
        picks = rng.choices(kinds, weights, k=n)
        team = sum(1 for kind in picks if kind[2])
        pool = max(1, round(team / TEAM_CHATS_PER_CONTACT))
        for tariff_id, actor, per_contact, points in picks:
            moment = rng.uniform(low, high)
            if per_contact:  # the dealer's staff and known customers: the same contacts again
                contact = f"+33 6 {customer.id:04d} {rng.randrange(pool):05d}"
            else:  # a visitor of the website or WhatsApp: mostly new ones
                contact = f"v-{customer.id}-{rng.randrange(n * 4)}"
            day = bisect.bisect_right(midnights, moment) - 1
            rows.append((moment, customer.id, tariff_id, actor, contact, points[day]))
    rows.sort()  # stored in arrival order, customers interleaved, as in production
    print(f"  {len(rows):,} events generated ({time.perf_counter() - started:.1f} s)")

    def copied():
        for sequence, (ts, customer_id, tariff_id, actor, contact, points) in enumerate(
            rows, start=1
        ):
            occurred = datetime.fromtimestamp(ts, UTC)
            received = occurred + timedelta(seconds=5 + sequence % 120)
            voided = rng.random() < VOIDED_SHARE
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
                received + timedelta(days=1) if voided else None,
                "bench: sent twice by the platform" if voided else "",
            )

    with chat_events_bulk_load(conn):
        copy_rows(conn, "billing_chatevent", CHAT_EVENT_COLUMNS, copied(), started=started)
    dataset_mark(conn, DATASET)
    return time.perf_counter() - started


# --- the measurement ------------------------------------------------------------------------------


def delete_drafts(connection, first_day: date) -> None:
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(DELETE_DRAFT_LINES, [first_day])
        cursor.execute(DELETE_DRAFTS, [first_day])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) billing_invoice, billing_invoiceline")


def expected_drafts(first_day: date) -> tuple[int, int]:
    """(customers with a plan in force in the month, those of them whose month is issued)."""
    from django.db.models import Q

    from billing.models import Invoice, Subscription

    in_force = set(
        Subscription.objects.filter(first_month__lte=first_day)
        .filter(Q(last_month__isnull=True) | Q(last_month__gte=first_day))
        .values_list("customer_id", flat=True)
    )
    issued = set(
        Invoice.objects.issued().filter(month=first_day).values_list("customer_id", flat=True)
    )
    return len(in_force), len(in_force & issued)


def floor_per_customer(rows, per_contact) -> dict[int, tuple[int, int]]:
    """{customer id: (chats, points)} from the bare rows, priced as rule 2 says."""
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for customer_id, tariff_id, _actor, chats, unit_points, chat_points, contacts in rows:
        total = totals[customer_id]
        total[0] += chats
        total[1] += contacts * unit_points if tariff_id in per_contact else chat_points
    return {customer_id: (chats, points) for customer_id, (chats, points) in totals.items()}


def check_drafts(first_day, floor_rows, per_contact, expected: int) -> dict[int, int]:
    """Every draft of the month against the floor's numbers; {customer id: points}."""
    from billing.models import Invoice, InvoiceKind, InvoiceStatus

    # A draft carries its totals (the detail per tariff and actor is copied when it is issued):
    # its points are checked against the floor's.
    got = dict(
        Invoice.objects.filter(
            month=first_day, kind=InvoiceKind.INVOICE, status=InvoiceStatus.DRAFT
        ).values_list("customer_id", "points_used")
    )
    if len(got) != expected:
        sys.exit(f"FAILED: {len(got):,} drafts in the database, {expected:,} expected")
    floor = {
        customer_id: points
        for customer_id, (_chats, points) in floor_per_customer(floor_rows, per_contact).items()
    }
    wrong = [
        customer_id for customer_id, points in got.items() if points != floor.get(customer_id, 0)
    ]
    if wrong:
        sample = [(c, got[c], floor.get(c)) for c in wrong[:3]]
        sys.exit(f"FAILED: {len(wrong):,} drafts disagree with the floor, e.g. {sample}")
    return got


def spot_check(first_day, month, customers) -> list[str]:
    """A few drafts' net totals against billing.usage.selectors.month_statement() (another code
    path)."""
    from billing.models import Invoice, InvoiceKind, InvoiceStatus
    from billing.usage.selectors import month_statement

    notes = []
    for customer in customers:
        draft = Invoice.objects.get(
            customer=customer, month=first_day, kind=InvoiceKind.INVOICE, status=InvoiceStatus.DRAFT
        )
        statement = month_statement(customer=customer, month=month)
        if (draft.net_total, draft.points_used) != (statement.net_total, statement.points_used):
            sys.exit(
                f"FAILED: {customer.code}: draft net € {draft.net_total} ({draft.points_used} "
                f"points), month_statement € {statement.net_total} ({statement.points_used})"
            )
        notes.append(
            f"{customer.code} ({statement.plan}, {statement.usage.chats:,} chats) "
            f"net € {draft.net_total}"
        )
    return notes


def floor_plan(raw, params) -> str:
    """The scan node of the floor's plan, e.g. 'Parallel Seq Scan on billing_chatevent'."""
    raw.execute(f"EXPLAIN {FLOOR_SQL}", params)
    for (line,) in raw.fetchall():
        if " Scan " in line or line.lstrip(" ->").startswith("Seq Scan"):
            return line.lstrip(" ->").split("  (")[0]
    return "?"


def print_queries(title: str, captured) -> None:
    """Each query with its time; a run of queries alike (batches: the same SQL up to its list
    of values) on one line, with their number and total time."""
    print(f"  {title}:")
    groups: list[list] = []  # [key, count, seconds, text]
    for query in captured:
        text = " ".join(query["sql"].split())
        key = text.split(" IN (")[0]
        if groups and groups[-1][0] == key:
            groups[-1][1] += 1
            groups[-1][2] += float(query["time"])
        else:
            groups.append([key, 1, float(query["time"]), text])
    for _key, count, seconds, text in groups:
        times = f"{count:3d} x " if count > 1 else "      "
        shown = text if len(text) <= 88 else f"{text[:85]}..."
        print(f"    {seconds * 1000:8.1f} ms {times}{shown}")


def measure_drafts(repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.catalog.tariffs import per_contact_tariff_ids
    from billing.invoicing.drafts import invoices_draft
    from billing.months import Month, billing_tz
    from customers.models import Customer

    month = Month(TARGET_YEAR, TARGET_MONTH)
    first_day = month.first_day
    start, end = month.bounds(billing_tz())
    per_contact = sorted(per_contact_tariff_ids())
    connection.ensure_connection()
    raw = connection.connection.cursor()  # a plain psycopg cursor: no Django in the way

    params = [per_contact, start, end]
    seq_scan = False  # decided at warm-up: the faster of the planner's plan and a seq scan

    def time_floor():
        if seq_scan:
            raw.execute(FLOOR_SEQ_SCAN)
        began = time.perf_counter()
        raw.execute(FLOOR_SQL, params)
        rows = raw.fetchall()
        elapsed = time.perf_counter() - began
        if seq_scan:
            raw.execute(FLOOR_PLANNER_DEFAULTS)
        return elapsed, rows

    def time_drafts():
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            report = invoices_draft(month=month)
            elapsed = time.perf_counter() - began
        return elapsed, report, captured.captured_queries

    in_force, issued = expected_drafts(first_day)
    expected = in_force - issued
    delete_drafts(connection, first_day)
    # Warm-up: the table's pages cached, the code imported. The floor is the fastest the database
    # does it: the planner may pick an index scan on customer_id for the whole month (the rows
    # are stored in time order, so that reads the heap at random), slower than a seq scan.
    planner_plan = floor_plan(raw, params)
    planner = min(time_floor()[0] for _ in range(2))
    raw.execute(FLOOR_SEQ_SCAN)
    seq_plan = floor_plan(raw, params)
    raw.execute(FLOOR_PLANNER_DEFAULTS)
    seq_scan = True
    forced = min(time_floor()[0] for _ in range(2))
    seq_scan = forced < planner
    chosen = "index scans off" if seq_scan else "the planner's plan"
    floor_choice = (
        f"planner's plan ({planner_plan}) {planner:.2f} s, index scans off ({seq_plan}) "
        f"{forced:.2f} s: the floor runs with the faster, {chosen}"
    )
    warm_drafts, _report, _queries = time_drafts()
    print(f"  warm-up: floor: {floor_choice}; drafts created {warm_drafts:.2f} s", flush=True)
    delete_drafts(connection, first_day)

    created_time, report, created_queries = time_drafts()
    if report.created != expected or report.refreshed != 0:
        sys.exit(f"FAILED: created {report.created:,}, refreshed {report.refreshed:,}")
    print(f"  drafts created {created_time:.2f} s ({len(created_queries)} queries)", flush=True)
    floor, refresh, refresh_counts = [], [], []
    refresh_queries = floor_rows = None
    for i in range(repeat):  # interleaved, alternating which goes first, so drift hits both
        for side in ("floor", "drafts") if i % 2 else ("drafts", "floor"):
            if side == "floor":
                elapsed, floor_rows = time_floor()
                floor.append(elapsed)
            else:
                elapsed, report, refresh_queries = time_drafts()
                if report.refreshed != expected or report.created != 0:
                    sys.exit(f"FAILED: created {report.created:,}, refreshed {report.refreshed:,}")
                refresh.append(elapsed)
                refresh_counts.append(len(refresh_queries))
        print(
            f"  run {i + 1}: drafts refreshed {refresh[-1]:.2f} s ({refresh_counts[-1]} queries), "
            f"floor {floor[-1]:.2f} s",
            flush=True,
        )
    raw.close()

    drafts = check_drafts(first_day, floor_rows, per_contact, expected)
    by_chats = sorted(drafts, key=lambda customer_id: drafts[customer_id])  # by points
    enterprise = (
        Customer.objects.filter(
            subscriptions__plan__code="ENTERPRISE", subscriptions__last_month__isnull=True
        )
        .order_by("code")
        .first()
    )
    picked = [by_chats[-1], enterprise.id, by_chats[0]]  # the biggest, an ENTERPRISE, a silent one
    notes = spot_check(
        first_day, month, [Customer.objects.get(pk=pk) for pk in dict.fromkeys(picked)]
    )
    return {
        "expected": expected,
        "in_force": in_force,
        "issued": issued,
        "created": created_time,
        "created_queries": created_queries,
        "refresh": refresh,
        "refresh_counts": refresh_counts,
        "refresh_queries": refresh_queries,
        "floor": floor,
        "floor_rows": len(floor_rows),
        "floor_choice": floor_choice,
        "attention": report.attention,
        "notes": notes,
        "biggest": by_chats[-1],
    }


def measure_pdf(customer_id: int, repeat: int) -> dict:
    """Issue the customer's draft inside a transaction rolled back at the end, and time its PDF
    beside WeasyPrint's one-line page. Nothing stays: no number taken, no e-mail sent."""
    import weasyprint
    from django.conf import settings
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from billing.invoicing.issue import invoice_issue
    from billing.invoicing.pdf import invoice_html, invoice_pdf
    from billing.models import Invoice, InvoiceKind, InvoiceStatus

    draft = Invoice.objects.get(
        customer_id=customer_id,
        month=date(TARGET_YEAR, TARGET_MONTH, 1),
        kind=InvoiceKind.INVOICE,
        status=InvoiceStatus.DRAFT,
    )
    static = str(settings.BASE_DIR / "static")  # as billing.invoicing.pdf renders it
    with transaction.atomic():
        began = time.perf_counter()
        invoice = invoice_issue(invoice=draft, today=ISSUE_TODAY)
        issue_time = time.perf_counter() - began
        lines = list(invoice.lines.all())

        def time_invoice():
            began = time.perf_counter()
            invoice_pdf(invoice, lines)
            return time.perf_counter() - began

        def time_floor():
            began = time.perf_counter()
            weasyprint.HTML(string=FLOOR_PAGE).write_pdf()
            return time.perf_counter() - began

        def time_template():
            began = time.perf_counter()
            invoice_html(invoice, lines)
            return time.perf_counter() - began

        for _ in range(PDF_WARMUP):  # fonts, stylesheets, templates
            time_invoice()
            time_floor()
        with CaptureQueriesContext(connection) as captured:
            pdf = invoice_pdf(invoice, lines)
        pdf_queries = len(captured.captured_queries)
        rendered, floor, template = [], [], []
        for i in range(repeat):
            if i % 2:
                floor.append(time_floor())
                rendered.append(time_invoice())
            else:
                rendered.append(time_invoice())
                floor.append(time_floor())
            template.append(time_template())
        summary = {
            "number": invoice.number,
            "code": invoice.buyer["code"],
            "language": invoice.language,
            "lines": len(lines),
            "usage_lines": len(invoice.usage),
            "pages": len(
                weasyprint.HTML(string=invoice_html(invoice, lines), base_url=static).render().pages
            ),
            "size": len(pdf),
            "issue": issue_time,
            "queries": pdf_queries,
            "pdf": rendered,
            "floor": floor,
            "template": template,
        }
        transaction.set_rollback(True)  # the invoice goes back to a draft; on_commit never runs
    return summary


def describe_dataset(first_day) -> list[str]:
    from django.db import connection
    from django.db.models import Count, Q

    from billing.models import Subscription

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version'), current_setting('jit')")
        version, jit = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE voided_at IS NOT NULL), "
            "count(*) FILTER (WHERE contact LIKE '+33%%'), "
            "count(DISTINCT contact) FILTER (WHERE contact LIKE '+33%%'), "
            "min(occurred_at), max(occurred_at), "
            "pg_total_relation_size('billing_chatevent') FROM billing_chatevent"
        )
        total, voided, team, contacts, first, last, size = cursor.fetchone()
        cursor.execute(
            "SELECT min(n), percentile_disc(0.5) WITHIN GROUP (ORDER BY n), max(n), count(*) "
            "FROM (SELECT count(*) AS n FROM billing_chatevent GROUP BY customer_id) per_customer"
        )
        smallest, median, biggest, with_chats = cursor.fetchone()
    plans = Counter(
        dict(
            Subscription.objects.filter(first_month__lte=first_day)
            .filter(Q(last_month__isnull=True) | Q(last_month__gte=first_day))
            .values_list("plan__code")
            .annotate(n=Count("id"))
            .order_by()
        )
    )
    from customers.models import Customer

    languages = Counter(Customer.objects.values_list("language", flat=True))
    mix = ", ".join(f"{code} {plans[code]:,}" for code in ("BASE", "GROW", "SCALE", "ENTERPRISE"))
    return [
        f"PostgreSQL {version} (jit {jit}); Django DEBUG={'on' if _debug() else 'off'}; "
        f"{os.cpu_count()} CPUs",
        f"dataset: {total:,} chat events in {first_day:%Y-%m} ({voided:,} voided; "
        f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC), table and indexes "
        f"{size / 2**20:,.0f} MiB",
        f"  {Customer.objects.count():,} customers (fr {languages['fr']:,}, en "
        f"{languages['en']:,}), plans in force: {mix}",
        f"  chats per customer: {with_chats:,} with chats, min {smallest:,}, median {median:,}, "
        f"max {biggest:,}; {team:,} team chats with {contacts:,} engaged contacts",
    ]


def _debug() -> bool:
    from django.conf import settings

    return settings.DEBUG


def report(header: list[str], drafts: dict, pdf: dict, repeat: int) -> None:
    ms = 1000
    print("\n--- results ---")
    for line in header:
        print(line)
    print(
        f"drafts: {drafts['expected']:,} expected ({drafts['in_force']:,} customers in force, "
        f"{drafts['issued']:,} with the month issued); runs: 1 warm-up, then created once and "
        f"refreshed {repeat} times, interleaved with {repeat} floor runs"
        + ("; smoke size: the checks hold, the times mean little" if SIZE == "smoke" else "")
    )
    created, refresh, floor = drafts["created"], drafts["refresh"], drafts["floor"]
    created_count = len(drafts["created_queries"])
    counts = sorted(set(drafts["refresh_counts"]))
    print(
        f"invoices_draft, create   {created:7.2f} s                  "
        f"({created_count} queries, {drafts['expected']:,} drafts created)"
    )
    print(
        f"invoices_draft, refresh  median {statistics.median(refresh):7.2f} s  p95 "
        f"{percentile(refresh, 0.95):7.2f} s  ({'/'.join(map(str, counts))} queries, "
        f"{drafts['expected']:,} drafts refreshed)"
    )
    print(
        f"bare GROUP BY floor      median {statistics.median(floor):7.2f} s  p95 "
        f"{percentile(floor, 0.95):7.2f} s  (1 query, plain psycopg cursor, "
        f"{drafts['floor_rows']:,} rows)"
    )
    print(f"  floor plan at warm-up: {drafts['floor_choice']}")
    floor_median = statistics.median(floor)
    for title, seconds in (
        ("create", created),
        ("refresh", statistics.median(refresh)),
    ):
        ratio = seconds / floor_median
        verdict = "OK" if ratio <= TARGET_DRAFTS_RATIO else "ABOVE TARGET"
        print(f"ratio {title} / floor {ratio:.2f} (target <= {TARGET_DRAFTS_RATIO:g}) {verdict}")
    most = max(created_count, *counts)
    verdict = "OK" if most <= TARGET_QUERIES else "ABOVE TARGET"
    print(
        f"queries per call: create {created_count}, refresh {'/'.join(map(str, counts))} for "
        f"{drafts['expected']:,} customers (target: constant, <= {TARGET_QUERIES}) {verdict}"
    )
    print_queries("queries of the create run (time of each)", drafts["created_queries"])
    print_queries("queries of the last refresh run", drafts["refresh_queries"])
    attention = drafts["attention"]
    print(
        f"checked: every draft's points equal the floor's; net totals equal "
        f"month_statement() for {'; '.join(drafts['notes'])}"
    )
    print(
        f"attention: {len(attention.unbilled)} unbilled, {len(attention.late)} late, "
        f"{len(attention.no_email)} without billing e-mail, {len(attention.issued)} issued"
    )

    print(
        f"PDF: issued {pdf['number']} for {pdf['code']} ({pdf['language']}, {pdf['lines']} "
        f"invoice lines, {pdf['usage_lines']} usage lines, {pdf['pages']} pages, "
        f"{pdf['size'] / 1024:.0f} KiB) in {pdf['issue'] * ms:.0f} ms with its PDF; rolled back "
        f"afterwards"
    )
    print(f"runs: {PDF_WARMUP} warm-up, {len(pdf['pdf'])} measured per side (interleaved)")
    print(
        f"invoice_pdf()            median {statistics.median(pdf['pdf']) * ms:7.1f} ms  p95 "
        f"{percentile(pdf['pdf'], 0.95) * ms:7.1f} ms  ({pdf['queries']} queries; the template "
        f"alone: median {statistics.median(pdf['template']) * ms:.1f} ms)"
    )
    print(
        f"WeasyPrint one-line page median {statistics.median(pdf['floor']) * ms:7.1f} ms  p95 "
        f"{percentile(pdf['floor'], 0.95) * ms:7.1f} ms  (HTML(string={FLOOR_PAGE!r}).write_pdf())"
    )
    median_pdf = statistics.median(pdf["pdf"])
    ratio = median_pdf / statistics.median(pdf["floor"])
    print(
        f"PDF {median_pdf:.3f} s per invoice (target <= {TARGET_PDF_SECONDS} s) "
        f"{'OK' if median_pdf <= TARGET_PDF_SECONDS else 'ABOVE TARGET'}; ratio "
        f"{ratio:.2f} (target <= {TARGET_PDF_RATIO:g}) "
        f"{'OK' if ratio <= TARGET_PDF_RATIO else 'ABOVE TARGET'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, help="refresh and floor runs (5)")
    parser.add_argument("--pdf-repeat", type=int, help="PDF runs per side (10)")
    parser.add_argument("--rebuild", action="store_true", help="drop and regenerate the data")
    parser.add_argument(
        "--no-jit",
        action="store_true",
        help="SET jit = off on the bench's connection (diagnosis: PostgreSQL's JIT compile time "
        "apart); by default the server's setting, as in production",
    )
    add_smoke_argument(parser)
    args = parser.parse_args()
    if args.smoke:
        globals().update(SMOKE)
    if args.repeat is None:
        args.repeat = SMOKE_REPEAT if args.smoke else 5
    if args.pdf_repeat is None:
        args.pdf_repeat = SMOKE_PDF_REPEAT if args.smoke else 10
    if args.repeat < 1 or args.pdf_repeat < 1:
        parser.error("--repeat and --pdf-repeat must be >= 1")

    url = bench_url("BENCH_CLOSE_DATABASE_URL", DEFAULT_URL, smoke=args.smoke)
    connection = open_dataset(
        url,
        rebuild=args.rebuild,
        dataset=DATASET,
        generate=generate,
        what=f"{CUSTOMERS:,} customers and {TOTAL_EVENTS:,} events",
    )
    if args.no_jit:  # the bench's one connection: both sides, drafts and floor
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")
    header = describe_dataset(date(TARGET_YEAR, TARGET_MONTH, 1))
    print("\n".join(header), flush=True)
    drafts = measure_drafts(args.repeat)
    pdf = measure_pdf(drafts["biggest"], args.pdf_repeat)
    report(header, drafts, pdf, args.repeat)


if __name__ == "__main__":
    main()
