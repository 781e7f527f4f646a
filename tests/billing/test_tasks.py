"""The tasks without a broker (eager, in this process): month close fan-out and its progress,
idempotent redelivery, e-mails once with retries, the schedule and its commands, password reset
e-mails through a task."""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import StringIO

import pytest
from celery.exceptions import Retry
from celery.schedules import crontab
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from billing.invoicing.drafts import invoices_draft
from billing.invoicing.emails import invoice_send
from billing.invoicing.month_close import (
    month_close_item_issue,
    month_close_progress,
    month_close_retry,
    month_close_start,
)
from billing.models import Invoice, InvoiceSequence, MonthCloseItem, Subscription
from billing.months import Month
from config.celery import app
from customers.models import CustomerAccess
from tests.factories import CustomerFactory, UserFactory, subscribe

OCTOBER = Month(2026, 10)
ISSUE_DAY = datetime(2026, 11, 3, 10, tzinfo=UTC)


@pytest.fixture
def dealers(clock):
    clock.now = ISSUE_DAY
    customers = [CustomerFactory(code=f"dealer-{n}") for n in range(4)]
    for customer in customers:
        subscribe(customer, "BASE", first_month=date(2026, 1, 1))
    invoices_draft(month=OCTOBER)
    return customers


def test_without_a_broker_tasks_run_eagerly_and_are_acknowledged_late():
    assert settings.CELERY_TASK_ALWAYS_EAGER is True
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_the_schedule_names_registered_tasks_at_paris_times():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert {entry["task"] for entry in schedule.values()} <= set(app.tasks)
    drafts = schedule["month-close-drafts"]["schedule"]
    assert drafts == crontab(minute=30, hour=5, day_of_month=1)
    assert app.conf.timezone == "Europe/Paris"
    assert schedule["usage-alerts"]["schedule"] == crontab(minute=5)  # hourly
    assert schedule["retry-unsent"]["schedule"] == crontab(minute=15, hour=7)  # daily
    assert schedule["direct-debit-notices"]["schedule"] == crontab(minute=30, hour=7)  # daily
    assert schedule["payment-reminders"]["schedule"] == crontab(minute=45, hour=7)  # daily
    assert schedule["ingestion-heartbeat"]["schedule"] == crontab(minute="*/10")


@pytest.mark.django_db
def test_the_fan_out_issues_every_draft_and_records_its_progress(
    dealers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = month_close_start(month=OCTOBER)
    progress = month_close_progress(run=run)
    assert (progress.issued, progress.failed, progress.waiting, progress.done) == (4, 0, 0, True)
    assert sorted(run.items.values_list("number", flat=True)) == [
        f"F2026-{n:05d}" for n in range(1, 5)
    ]
    assert len(mail.outbox) == 4
    # A redelivered task: nothing issued, numbered or e-mailed twice.
    item = run.items.first()
    with django_capture_on_commit_callbacks(execute=True):
        assert month_close_item_issue(item_id=item.pk).state == "issued"
        MonthCloseItem.objects.filter(pk=item.pk).update(state="waiting")  # died before writing
        assert month_close_item_issue(item_id=item.pk).number == item.number
    assert InvoiceSequence.objects.get(series="F", year=2026).last == 4
    assert len(mail.outbox) == 4


@pytest.mark.django_db
def test_a_failed_draft_says_why_and_is_retried(dealers, django_capture_on_commit_callbacks):
    Subscription.objects.filter(customer=dealers[1]).delete()
    run = month_close_start(month=OCTOBER)
    progress = month_close_progress(run=run)
    assert (progress.issued, progress.failed) == (3, 1)
    failed = run.items.get(state="failed")
    assert failed.reason == "dealer-1: dealer-1 has no plan in force in 2026-10."
    subscribe(dealers[1], "BASE", first_month=date(2026, 1, 1))
    assert month_close_retry(run=run) == 1
    progress = month_close_progress(run=run)
    assert (progress.issued, progress.failed, progress.waiting) == (4, 0, 0)
    assert run.items.get(pk=failed.pk).number == "F2026-00004"


@pytest.mark.django_db
def test_close_month_issue_waits_with_a_progress_bar_or_returns_at_once(dealers):
    out = StringIO()
    call_command("close_month", "2026-10", "--issue", "--no-wait", stdout=out)
    assert "Month close run" in out.getvalue()
    assert "4 drafts sent to the workers" in out.getvalue()
    assert Invoice.objects.filter(status="issued").count() == 4  # eager: done already
    invoices_draft(month=Month(2026, 9))
    out = StringIO()
    call_command("close_month", "2026-09", "--issue", stdout=out)
    assert "[##############################] 4/4: 4 issued, 0 failed, 0 waiting" in out.getvalue()
    assert "4 invoices issued: F2026-00005 to F2026-00008." in out.getvalue()


@pytest.mark.django_db
def test_an_e_mail_goes_once_unless_a_clerk_sends_it_again(
    dealers, django_capture_on_commit_callbacks
):
    run = month_close_start(month=OCTOBER)  # the test's transaction holds the e-mails back
    invoice = Invoice.objects.get(number=run.items.first().number)
    assert mail.outbox == []
    invoice_send(invoice_id=invoice.pk)
    invoice_send(invoice_id=invoice.pk)  # a redelivered task
    assert len(mail.outbox) == 1
    invoice_send(invoice_id=invoice.pk, again=True)
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_a_failed_e_mail_is_recorded_retried_with_backoff_and_by_the_daily_job(
    dealers, settings, monkeypatch, django_capture_on_commit_callbacks
):
    month_close_start(month=OCTOBER)
    invoice = Invoice.objects.filter(status="issued").first()
    settings.EMAIL_BACKEND = "tests.billing.test_tasks.BrokenBackend"
    task = app.tasks["billing.invoice_send"]
    countdowns = []

    def retry(countdown):  # what a worker's retry would send back to the broker
        countdowns.append(countdown)
        return Retry("again", when=countdown)

    monkeypatch.setattr(task, "retry", retry)
    for retries in (0, 2, 5):
        task.push_request(is_eager=False, retries=retries)  # as a worker runs it
        try:
            if retries < settings.EMAIL_TASK_RETRIES:
                with pytest.raises(Retry):
                    task.run(invoice_id=invoice.pk)
            else:
                assert task.run(invoice_id=invoice.pk) == "failed"  # given up: recorded
        finally:
            task.pop_request()
    assert countdowns == [60, 240]  # the wait doubles
    monkeypatch.undo()
    invoice.refresh_from_db()
    assert invoice.email_status == "failed"
    assert invoice.email_error == "ConnectionRefusedError: the mail server is down"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("retry_unsent", stdout=out)
    assert "e-mails sent again" in out.getvalue()
    invoice.refresh_from_db()
    assert invoice.email_status == "sent"
    assert [m.to for m in mail.outbox] == [invoice.customer.billing_email_list]


@pytest.mark.django_db
def test_the_job_of_the_first_drafts_the_month_and_issues_only_if_told(clock, settings):
    clock.now = datetime(2026, 11, 1, 4, 30, tzinfo=UTC)  # 05:30 in Paris
    subscribe(CustomerFactory(code="garage"), "BASE", first_month=date(2026, 1, 1))
    call_command("close_month_scheduled", stdout=StringIO())
    assert list(Invoice.objects.values_list("month", "status")) == [(date(2026, 10, 1), "draft")]
    settings.MONTH_CLOSE_AUTO_ISSUE = True
    clock.now = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    call_command("close_month_scheduled", stdout=StringIO())
    assert list(Invoice.objects.values_list("number", flat=True)) == ["F2026-00001"]


@pytest.mark.django_db
def test_a_password_reset_request_only_sends_a_task(client, monkeypatch, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    user = UserFactory(username="dupont", email="dupont@garage.example")
    CustomerAccess.objects.create(user=user, customer=CustomerFactory(code="garage"))
    task = app.tasks["accounts.password_reset_send"]
    sent = []
    monkeypatch.setattr(task, "apply_async", lambda kwargs: sent.append(kwargs))
    for email in ("dupont@garage.example", "nobody@example.com"):
        response = client.post(reverse("password_reset"), {"email": email})
        assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []  # the request looked nothing up and sent nothing
    assert [kwargs["email"] for kwargs in sent] == ["dupont@garage.example", "nobody@example.com"]
    assert {kwargs["language"] for kwargs in sent} == {"fr"}
    monkeypatch.undo()
    for kwargs in sent:
        task.run(**kwargs)  # what the worker does
    assert [m.to for m in mail.outbox] == [["dupont@garage.example"]]
    assert mail.outbox[0].subject == "Votre mot de passe Chatpoints"


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("the mail server is down")
