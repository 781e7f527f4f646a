"""Benchmark: month close issued by Celery workers (PostgreSQL + Redis), with 1 and 2 workers.

Run by hand (Redis answering, e.g. `make redis`; the test suite runs its smoke size):

    .venv/bin/python bench/issue_month.py [--drafts 5000] [--pdf-repeat 20]
    .venv/bin/python bench/issue_month.py --smoke   # 12 drafts per run: seconds

It uses its own database, BENCH_ISSUE_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/chatpoints_issue_bench, with --smoke
chatpoints_issue_bench_smoke; the name must contain 'bench'), made again at each run, and the
Redis database BENCH_REDIS_URL (default redis://127.0.0.1:6379/3), emptied at each run.

It creates --drafts dealers on BASE (a few chats each, French and English), then twice: the
drafts of a month (September, then October), `celery -A config worker --pool=solo` processes
started (1, then 2) and ready, the month close run sent from this process (one task per draft)
and timed until every invoice is issued and e-mailed; the workers' resident memory is sampled
through the run.
It prints invoices per second for each, the speed-up of 2 workers over 1 (target >= 1.7 on 2
cores), the time per invoice with 1 worker against rendering one invoice's PDF alone in this
process (`invoice_pdf()`, median of --pdf-repeat; target <= 1.3x) and the workers' memory at the
first tenth of the run and at its end (flat: a worker does not grow with the invoices it issued).
It checks the numbers are exactly 1 to 2 x drafts, one PDF and one e-mail each.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

from benchdb import (
    add_smoke_argument,
    bench_url,
    customers_create,
    django_env,
    migrate,
    percentile,
    recreate_database,
    setup_django,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/chatpoints_issue_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/3"
TARGET_SPEEDUP = 1.7
TARGET_PDF_RATIO = 1.3
TARGET_PAGE_MS = 300
MONTHS = ((2026, 9), (2026, 10))


def redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pool_children(pid: int) -> list[int]:
    """The pool processes of a prefork worker (its children)."""
    try:
        return [int(v) for v in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def start_workers(count: int, env: dict, logs: Path) -> list[subprocess.Popen]:
    workers = []
    for n in range(count):
        log = (logs / f"worker{count}-{n}.log").open("ab")
        workers.append(
            subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    # The production pool (prefork), one process each: it is replaced after
                    # CELERY_WORKER_MAX_TASKS_PER_CHILD tasks, as in production.
                    "--pool=prefork",
                    "--concurrency=1",
                    "--loglevel=WARNING",
                    f"--hostname=bench{count}-{n}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return workers


def wait_ready(app, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=1.0) or []) >= count:
            return
    sys.exit(f"FAILED: {count} workers not ready after {timeout:.0f} s")


def stop_workers(workers) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def dealers_create(count: int) -> None:
    from billing.models import Plan, Subscription
    from billing.usage.store import events_ingest
    from customers.models import Customer

    customers_create(
        [
            Customer(
                code=f"bench-{n:05d}",
                legal_name=f"Garage Bench {n:05d} SARL",
                address=f"{n} rue du Banc",
                postal_code="75011",
                city="Paris",
                country="FR",
                billing_emails=f"compta@bench-{n:05d}.example",
                language="en" if n % 4 == 0 else "fr",
            )
            for n in range(count)
        ]
    )
    base = Plan.objects.get(code="BASE")
    Subscription.objects.bulk_create(
        [
            Subscription(customer=c, plan=base, first_month=date(2026, 1, 1))
            for c in Customer.objects.filter(code__startswith="bench-")
        ]
    )
    events = [
        {
            "id": f"{code}-{year}-{month}-{k}",
            "customer": code,
            "tariff": "test_drive",
            "actor": "agent" if k % 2 else "bot",
            "occurred_at": f"{year}-{month:02d}-{10 + k:02d}T10:00:00+02:00",
        }
        for code in (f"bench-{n:05d}" for n in range(count))
        for year, month in MONTHS
        for k in range(3 + int(code[-1]) % 5)
    ]
    for start in range(0, len(events), 1000):
        events_ingest(
            source="bench",
            events=events[start : start + 1000],
            now=datetime(2026, 11, 1, tzinfo=UTC),
        )


def page_timer(month, stop: threading.Event, samples: dict[str, list[float]]) -> None:
    """GET the progress box (what the page fetches every 3 s while drafts wait) once a second,
    and the whole month close page (every draft's row: what a clerk opens) every 10 s, with
    Django's test client in this process while the workers issue: each response's time, in ms.
    (Run during the 2 workers' run only: both cores busy issuing, the worst case.)"""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    user, _created = User.objects.get_or_create(
        username="bench-clerk", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    urls = {
        "page": f"{reverse('admin:billing_invoice_close')}?month={month}",
        "progress": f"{reverse('admin:billing_invoice_close_progress')}?month={month}",
    }
    try:
        tick = 0
        while not stop.is_set():
            for name, url in urls.items():
                if name == "page" and tick % 10:
                    continue
                started = time.perf_counter()
                response = client.get(url)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"GET {url} answered {response.status_code}")
                samples[name].append(elapsed * 1000)
            tick += 1
            stop.wait(1.0)
    finally:
        connection.close()


def one_run(*, workers_count: int, month, env: dict, logs: Path) -> dict:
    from billing.invoicing.drafts import invoices_draft
    from billing.invoicing.month_close import month_close_progress, month_close_start
    from billing.models import Invoice
    from config.celery import app

    report = invoices_draft(month=month)
    drafts = len(report.drafts)
    workers = start_workers(workers_count, env, logs)
    # RSS samples per pool process (a pool process replaced after its tasks is a new pid).
    samples: dict[int, list[int]] = {}
    pages: dict[str, list[float]] = {"page": [], "progress": []}
    try:
        wait_ready(app, workers_count)
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                for worker in workers:
                    for pid in pool_children(worker.pid):
                        samples.setdefault(pid, []).append(rss_kib(pid))
                stop.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        timer = threading.Thread(target=page_timer, args=(month, stop, pages), daemon=True)
        sampler.start()
        started = time.perf_counter()
        run = month_close_start(month=month)
        if workers_count == 2:
            timer.start()
        while not (progress := month_close_progress(run=run)).done:
            time.sleep(0.1)
        # Done when every invoice is issued and e-mailed (the e-mails are tasks of their own).
        sent = Invoice.objects.filter(month=month.first_day, email_status="sent")
        while sent.count() < progress.issued:
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        stop.set()
        sampler.join()
        if timer.is_alive():
            timer.join()
    finally:
        stop_workers(workers)
    if progress.failed:
        reasons = list(run.items.filter(state="failed").values_list("reason", flat=True)[:5])
        sys.exit(f"FAILED: {progress.failed} drafts not issued: {reasons}")
    memory = []
    for values in samples.values():
        values = [v for v in values if v]
        if values:
            memory.append((values[max(0, len(values) // 10)], values[-1], max(values)))
    return {"drafts": drafts, "elapsed": elapsed, "memory": memory, "pages": pages}


def pdf_alone(repeat: int) -> tuple[float, float]:
    """Median seconds of rendering one issued invoice's PDF in this process (warm): the PDF
    issuing stores, a PDF/A-3b carrying its Factur-X XML (the XML given, as issuing gives the one
    it built and checked; `invoice_facturx_pdf()`), and the plain PDF (`invoice_pdf()`)."""
    from billing.invoicing.facturx import facturx_xml_from_pdf, invoice_facturx_pdf
    from billing.invoicing.pdf import invoice_pdf
    from billing.models import Invoice

    invoices = list(Invoice.objects.filter(status="issued").order_by("sequence")[: repeat + 1])
    prepared = [
        (invoice, list(invoice.lines.all()), facturx_xml_from_pdf(bytes(invoice.pdf)))
        for invoice in invoices
    ]
    invoice_facturx_pdf(prepared[0][0], prepared[0][1], xml=prepared[0][2])  # warm-up
    facturx, plain = [], []
    for invoice, lines, xml in prepared[1:]:
        started = time.perf_counter()
        invoice_facturx_pdf(invoice, lines, xml=xml)
        facturx.append(time.perf_counter() - started)
        started = time.perf_counter()
        invoice_pdf(invoice, lines)
        plain.append(time.perf_counter() - started)
    return statistics.median(facturx), statistics.median(plain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafts", type=int, default=5_000)
    parser.add_argument("--pdf-repeat", type=int, default=20)
    add_smoke_argument(parser)
    args = parser.parse_args()
    if args.smoke:
        args.drafts, args.pdf_repeat = 12, 3
    url = bench_url("BENCH_ISSUE_DATABASE_URL", DEFAULT_URL, smoke=args.smoke)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    recreate_database(url)
    redis_flush(redis_url)
    mail_dir = Path(tempfile.mkdtemp(prefix="issue-bench-mail-"))
    logs = Path(tempfile.mkdtemp(prefix="issue-bench-logs-"))
    extra = {
        "CELERY_BROKER_URL": redis_url,
        "EMAIL_URL": f"filemail:///{mail_dir}",  # /// + an absolute path: absolute
        "CONN_MAX_AGE": "600",
    }
    # The test client speaks plain HTTP to host "testserver": allowed, and not redirected to HTTPS.
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1"
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    setup_django(url, **extra)
    migrate()
    # Templates render without a collectstatic manifest, as in the tests (tests/conftest.py).
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    from django.conf import settings
    from django.db import connection
    from django.test.utils import override_settings

    override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()

    from billing.models import Invoice
    from billing.months import Month

    print(f"creating {args.drafts:,} dealers ...", flush=True)
    dealers_create(args.drafts)
    connection.close()
    env = {**django_env(url, **extra), "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    results = {}
    for workers_count, (year, month) in zip((1, 2), MONTHS, strict=True):
        result = one_run(workers_count=workers_count, month=Month(year, month), env=env, logs=logs)
        results[workers_count] = result
        rate = result["drafts"] / result["elapsed"]
        print(
            f"{workers_count} worker{'s' if workers_count > 1 else ' '}: {result['drafts']:,} "
            f"invoices in {result['elapsed']:.1f} s, {rate:.1f} invoices/s",
            flush=True,
        )
        memory = result["memory"]
        if memory:
            print(
                f"  pool processes: {len(memory)} (each replaced after "
                f"{settings.CELERY_WORKER_MAX_TASKS_PER_CHILD:,} tasks); memory at a tenth of "
                f"each one's life {min(m[0] for m in memory) / 1024:.0f} to "
                f"{max(m[0] for m in memory) / 1024:.0f} MiB, at its end "
                f"{min(m[1] for m in memory) / 1024:.0f} to {max(m[1] for m in memory) / 1024:.0f}"
                f" MiB, peak {max(m[2] for m in memory) / 1024:.0f} MiB"
            )
        for name, times in result["pages"].items():
            if times:
                worst = max(times)
                print(
                    f"  month close {name:8} while issuing: median {statistics.median(times):4.0f}"
                    f" ms, p95 {percentile(times, 0.95):4.0f} ms, max {worst:4.0f} ms "
                    f"({len(times)} GETs; target < {TARGET_PAGE_MS} ms, "
                    f"{'met' if worst < TARGET_PAGE_MS else 'NOT met'})"
                )
    redis_flush(redis_url)

    total = sum(r["drafts"] for r in results.values())
    sequences = sorted(
        Invoice.objects.filter(status="issued", series="F").values_list("sequence", flat=True)
    )
    if sequences != list(range(1, total + 1)):
        sys.exit(f"FAILED: numbers are not exactly 1 to {total}")
    if Invoice.objects.filter(pdf__isnull=True).exists():
        sys.exit("FAILED: an issued invoice has no PDF")
    deadline = time.monotonic() + 30
    while Invoice.objects.filter(email_status="sent").count() < total:
        if time.monotonic() > deadline:
            sys.exit("FAILED: not every invoice was e-mailed")
        time.sleep(0.2)
    mails = sum(
        path.read_text(errors="replace").count("Content-Disposition: attachment")
        for path in mail_dir.glob("*")
    )
    print(
        f"checked: numbers 1 to {total:,}, one PDF each, {mails:,} e-mails for {total:,} invoices"
    )

    one = results[1]["drafts"] / results[1]["elapsed"]
    two = results[2]["drafts"] / results[2]["elapsed"]
    speedup = two / one
    per_invoice = results[1]["elapsed"] / results[1]["drafts"]
    alone, plain = pdf_alone(args.pdf_repeat)
    print(
        f"its PDF alone in one process: invoice_facturx_pdf() (PDF/A-3b + its Factur-X XML, what "
        f"is stored) median {alone * 1000:.0f} ms; invoice_pdf() (plain PDF) {plain * 1000:.0f} ms"
    )
    print(
        f"ratio 2 workers / 1 worker: {speedup:.2f} (target >= {TARGET_SPEEDUP}, "
        f"{'met' if speedup >= TARGET_SPEEDUP else 'NOT met'}; {os.cpu_count()} cores)"
    )
    print(
        f"ratio per invoice (1 worker) / its PDF alone: {per_invoice / alone:.2f} "
        f"({per_invoice * 1000:.0f} ms / {alone * 1000:.0f} ms; target <= {TARGET_PDF_RATIO}, "
        f"{'met' if per_invoice / alone <= TARGET_PDF_RATIO else 'NOT met'})"
    )
    if mails != total:
        sys.exit(f"FAILED: {mails} e-mails for {total} invoices")


if __name__ == "__main__":
    main()
