"""Month close on real workers: Debian's redis-server, two `celery worker` processes, the test's
PostgreSQL database. 200 drafts get exactly the numbers 1 to 200, one PDF and one e-mail each,
even though one worker is killed with SIGKILL in the middle of the run (its task goes back to the
queue after the visibility timeout and the other worker finishes it)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date

import pytest
from django.db import connection

from billing.invoicing.drafts import invoices_draft
from billing.invoicing.month_close import month_close_progress
from billing.models import Invoice, InvoiceSequence, ItemState, MonthCloseRun
from billing.months import current_month, today
from tests.factories import CustomerFactory, subscribe
from tests.workers.celery_workers import (
    ROOT,
    redis_answers,
    redis_flush,
    start_worker,
    stop,
    wait_until,
    worker_env,
)

DRAFTS = 200
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(not redis_answers(), reason="no redis-server answers (make test starts it)"),
]


def _database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return (
        f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/"
        f"{s['NAME']}"
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_200_drafts_on_two_workers_one_killed_get_1_to_200_one_pdf_and_one_email_each(
    tmp_path,
):
    month = current_month().previous()
    for n in range(DRAFTS):
        subscribe(
            CustomerFactory(
                code=f"dealer-{n:03d}", billing_emails=f"compta@dealer-{n:03d}.example"
            ),
            "BASE",
            first_month=date(month.first_day.year - 1, 1, 1),
        )
    invoices_draft(month=month)
    assert Invoice.objects.filter(status="draft").count() == DRAFTS
    mail_dir = tmp_path / "mail"
    env = worker_env(database_url=_database_url(), mail_dir=mail_dir)
    redis_flush()
    workers = [start_worker(f"w{n}", env, tmp_path / f"w{n}.log") for n in (1, 2)]
    try:
        # The command, as a clerk runs it, sends one task per draft to Redis and returns.
        subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "manage.py", "close_month", str(month), "--issue", "--no-wait"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        run = MonthCloseRun.objects.get()
        # The first worker dies (SIGKILL) in the middle of the run.
        assert wait_until(lambda: month_close_progress(run=run).issued >= 40, timeout=90), _logs(
            tmp_path
        )
        stop(workers[0], kill=True)
        assert wait_until(lambda: month_close_progress(run=run).done, timeout=120), _logs(tmp_path)
        progress = month_close_progress(run=run)
        assert (progress.issued, progress.failed) == (DRAFTS, 0)
        assert wait_until(
            lambda: Invoice.objects.filter(email_status="sent").count() == DRAFTS, timeout=60
        ), _logs(tmp_path)
    finally:
        for worker in workers:
            stop(worker)
        redis_flush()

    year = today().year
    sequences = sorted(
        Invoice.objects.filter(status="issued", series="F", year=year).values_list(
            "sequence", flat=True
        )
    )
    assert sequences == list(range(1, DRAFTS + 1))  # nothing twice, no gap
    assert InvoiceSequence.objects.get(series="F", year=year).last == DRAFTS
    assert Invoice.objects.filter(status="draft").count() == 0
    assert not Invoice.objects.filter(pdf__isnull=True).exists()
    assert all(
        bytes(pdf).startswith(b"%PDF") for pdf in Invoice.objects.values_list("pdf", flat=True)
    )
    assert set(run.items.values_list("state", flat=True)) == {ItemState.ISSUED}
    # One e-mail each: Django's file backend appends messages to files; count the attachments.
    subjects = re.findall(r'filename="(F\d{4}-\d{5})\.pdf"', _mail_text(mail_dir))
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert sorted(subjects) == numbers


def _mail_text(folder) -> str:
    return "\n".join(path.read_text(errors="replace") for path in sorted(folder.glob("*")))


def _logs(folder) -> str:
    return "\n".join(path.read_text()[-3000:] for path in sorted(folder.glob("w*.log")))
