"""Benchmark: the billing staff's dashboard (the admin's first page) against its 200 ms target.

Run by hand, on PostgreSQL (the test suite runs its smoke size):

    .venv/bin/python bench/dashboard.py [--repeat 30] [--rebuild]
    .venv/bin/python bench/dashboard.py --smoke   # 60 customers, 12,000 chats: seconds

It uses its own database, BENCH_DASHBOARD_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/chatpoints_dashboard_bench, with --smoke
chatpoints_dashboard_bench_smoke; the name must contain 'bench'), created and migrated if missing.
The first run generates the month-close bench's dataset (bench/close_month.py's builders: 5,000
customers on every plan, 2,000,000 chats in 2026-10, loaded with COPY), the usage summary of
those chats (billing.usage.summary.summary_rebuild), and eleven months of issued invoices for
every customer (2025-10 to 2026-08: the revenue chart), paid, due and overdue, some whose
e-mail failed, and for 2026-09 (the month to close) issued invoices and drafts. Later runs reuse
it (--rebuild drops the database and starts again).

The clock is set to 2026-10-20 12:00 UTC: every chat of the dataset is in the month in progress
(the worst case for the quota figures). It GETs the dashboard as a staff user through Django's
test client (the whole page: middleware, session, selectors, template), warms up, then times
--repeat requests and prints the median and p95 against the 200 ms target and the queries of one
page (they must not grow with the number of customers: the test suite checks it).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import warnings
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import close_month
from benchdb import add_smoke_argument, bench_url, dataset_mark, open_dataset, percentile

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/chatpoints_dashboard_bench"
DATASET = "chatpoints dashboard bench dataset v1"
NOW = datetime(2026, 10, 20, 12, tzinfo=UTC)
TODAY = date(2026, 10, 20)
HISTORY = [date(2025 + (9 + n) // 12, (9 + n) % 12 + 1, 1) for n in range(11)]  # 2025-10…2026-08
TO_CLOSE = date(2026, 9, 1)
TARGET_MS = 200
SEED = 20261020
SIZE = "full"
SMOKE = {"SIZE": "smoke", "DATASET": "chatpoints dashboard bench dataset v1, smoke size"}
SMOKE_REPEAT = 3


def generate(connection) -> float:
    """The month-close bench's customers and chats, their summary, and the invoices."""
    from django.db import transaction

    from billing.models import Invoice, InvoiceKind, InvoiceStatus, Subscription
    from billing.usage.summary import summary_rebuild

    started = time.perf_counter()
    close_month.generate(connection)
    summary_rebuild()
    print(f"  usage summary rebuilt ({time.perf_counter() - started:.1f} s)", flush=True)
    rng = random.Random(SEED)
    plans = {
        s.customer_id: s.plan for s in Subscription.objects.select_related("plan").order_by("pk")
    }
    sequence = 0
    batch = []
    names = {}
    for month in [*HISTORY, TO_CLOSE]:
        for customer_id, plan in plans.items():
            draft = month == TO_CLOSE and customer_id % 10 == 0
            language = "en" if customer_id % 3 == 0 else "fr"
            names.setdefault(plan.code, (plan.name_fr, plan.name_en))
            net = plan.monthly_fee or Decimal("1900.00")
            net += Decimal(rng.randrange(0, 20_000)) / 100
            vat = (net * Decimal("0.20")).quantize(Decimal("0.01"))
            issued_on = month + timedelta(days=33)
            issued_on = issued_on.replace(day=2)
            due = issued_on + timedelta(days=30)
            paid = None
            if not draft and (due < TODAY - timedelta(days=60) or rng.random() < 0.6):
                paid = min(due + timedelta(days=rng.randrange(-20, 15)), TODAY)
            fields = {}
            if not draft:
                sequence += 1
                fields = {
                    "series": "F",
                    "year": issued_on.year,
                    "sequence": sequence,
                    "number": f"F{issued_on.year}-{sequence:06d}",
                    "issued_at": datetime(issued_on.year, issued_on.month, 2, 8, tzinfo=UTC),
                    "issue_date": issued_on,
                    "due_date": due,
                    "paid_on": paid,
                    "email_status": "failed" if rng.random() < 0.01 else "sent",
                }
            batch.append(
                Invoice(
                    customer_id=customer_id,
                    month=month,
                    kind=InvoiceKind.INVOICE,
                    status=InvoiceStatus.DRAFT if draft else InvoiceStatus.ISSUED,
                    language=language,
                    plan_name=names[plan.code][language == "en"],
                    net_total=net,
                    vat_rate=Decimal("20.00"),
                    vat_amount=vat,
                    total=net + vat,
                    **fields,
                )
            )
    with transaction.atomic():
        Invoice.objects.bulk_create(batch, batch_size=5000)
    print(f"  {len(batch):,} invoices ({time.perf_counter() - started:.1f} s)", flush=True)
    dataset_mark(
        connection, DATASET, tables=("billing_chatevent", "billing_usageday", "billing_usagemonth")
    )
    return time.perf_counter() - started


def measure(repeat: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    timezone.now = lambda: NOW  # the bench's clock: the month in progress is the dataset's
    user, _created = get_user_model().objects.get_or_create(
        username="bench-dashboard", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    for _warmup in range(2):
        response = client.get("/admin/")
        assert response.status_code == 200, response.status_code
        assert b"billing-dashboard" in response.content
    samples = []
    for _run in range(repeat):
        begin = time.perf_counter()
        client.get("/admin/")
        samples.append((time.perf_counter() - begin) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get("/admin/")
    from billing.invoicing.dashboard import dashboard_figures

    figures = dashboard_figures(now=NOW)
    return {"samples": samples, "queries": len(queries), "figures": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, help="timed requests (30)")
    parser.add_argument("--rebuild", action="store_true", help="drop and regenerate the data")
    add_smoke_argument(parser)
    args = parser.parse_args()
    if args.smoke:
        globals().update(SMOKE)
        for name, value in close_month.SMOKE.items():
            setattr(close_month, name, value)
        close_month.DATASET = DATASET  # the table comment is this bench's
    if args.repeat is None:
        args.repeat = SMOKE_REPEAT if args.smoke else 30
    # The test client speaks plain HTTP to host "testserver": allowed, and not redirected to HTTPS.
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1"
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    url = bench_url("BENCH_DASHBOARD_DATABASE_URL", DEFAULT_URL, smoke=args.smoke)
    open_dataset(
        url,
        rebuild=args.rebuild,
        dataset=DATASET,
        generate=generate,
        what=f"{close_month.CUSTOMERS:,} customers and {close_month.TOTAL_EVENTS:,} chats",
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
    result = measure(args.repeat)
    figures = result["figures"]
    quota, receivables = figures.quota, figures.receivables
    print(
        f"dataset ({SIZE}): {quota.dealers:,} dealers with a plan, {quota.points_used:,} points "
        f"used this month, {receivables.issued.count:,} issued invoices, "
        f"{figures.close.drafts:,} drafts to close"
    )
    if quota.points_used == 0 or receivables.issued.count == 0 or figures.close.drafts == 0:
        sys.exit("FAILED: the dashboard reads an empty dataset")
    samples = result["samples"]
    median, p95 = statistics.median(samples), percentile(samples, 0.95)
    print(
        f"dashboard page  median {median:7.1f} ms   p95 {p95:7.1f} ms   "
        f"({args.repeat} requests, {result['queries']} SQL queries per page)"
    )
    print(f"ratio median / target {median / TARGET_MS:.2f} (target {TARGET_MS} ms: <= 1)")


if __name__ == "__main__":
    main()
