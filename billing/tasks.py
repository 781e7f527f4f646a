"""Celery tasks: thin wrappers that call services (config/celery.py runs them; eagerly, in the
calling process, without a broker).

Every task is idempotent and safe to redeliver (acks_late: a worker killed mid-task gives it back
to the queue): issuing an item already issued does nothing, numbers stay gapless (a transaction
that dies gives its number back), and an e-mail goes once (the invoice's e-mail status is the
truth, read under a row lock)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from billing.invoicing.emails import invoice_send
from billing.invoicing.issue import invoice_pdf_store, invoices_retry_unsent
from billing.invoicing.month_close import month_close_item_issue, month_close_scheduled
from billing.models import AlertEmail, EmailStatus
from billing.payments.debits import direct_debit_notices_send
from billing.payments.reminders import reminders_send
from billing.usage.alerts import usage_alert_send, usage_alerts_send
from billing.usage.heartbeat import heartbeat_check
from config.accounts import password_reset_send


def _backoff(retries: int) -> int:
    return settings.EMAIL_TASK_BACKOFF_SECONDS * 2**retries


@shared_task(name="billing.month_close_issue")
def month_close_issue(*, item_id: int) -> str:
    return month_close_item_issue(item_id=item_id).state


@shared_task(name="billing.invoice_pdf")
def invoice_pdf(*, invoice_id: int) -> None:
    invoice_pdf_store(invoice_id=invoice_id)


@shared_task(name="billing.invoice_send", bind=True, max_retries=None)
def invoice_send_task(self, *, invoice_id: int, again: bool = False) -> str:
    """Send an invoice's e-mail; a failure is recorded on the invoice and tried again later
    (EMAIL_TASK_RETRIES times, the wait doubling from EMAIL_TASK_BACKOFF_SECONDS). Eager (no
    broker): one try, the daily retry job tries again."""
    invoice = invoice_send(invoice_id=invoice_id, again=again)
    if (
        invoice.email_status == EmailStatus.FAILED
        and not self.request.is_eager
        and self.request.retries < settings.EMAIL_TASK_RETRIES
    ):
        raise self.retry(countdown=_backoff(self.request.retries))
    return invoice.email_status


@shared_task(
    name="accounts.password_reset_send",
    autoretry_for=(OSError,),
    retry_backoff=60,
    max_retries=5,
)
def password_reset_send_task(**kwargs) -> None:
    """A password reset e-mail (config/accounts.py); a mail server down is tried again."""
    password_reset_send(**kwargs)


@shared_task(name="billing.month_close_scheduled")
def month_close_scheduled_task() -> None:
    """On the 1st (CELERY_BEAT_SCHEDULE): the drafts of the month that ended."""
    month_close_scheduled()


@shared_task(name="billing.invoices_retry_unsent")
def invoices_retry_unsent_task() -> None:
    """Daily: missing PDFs rendered, failed e-mails sent again."""
    invoices_retry_unsent()


@shared_task(name="billing.direct_debit_notices_send")
def direct_debit_notices_send_task() -> int:
    """Daily: the pre-notifications of the direct debits coming (billing.payments.debits)."""
    return len(direct_debit_notices_send())


@shared_task(name="billing.reminders_send")
def reminders_send_task() -> int:
    """Daily: the reminders of overdue invoices, one per step (billing.payments.reminders)."""
    return len(reminders_send())


@shared_task(name="billing.heartbeat_check")
def heartbeat_check_task() -> None:
    """Every 10 minutes: the sources of chat events silent too long (billing.usage.heartbeat)."""
    heartbeat_check()


@shared_task(name="billing.usage_alerts_send")
def usage_alerts_send_task() -> int:
    """Hourly: the usage alerts of the month's thresholds reached since the last run."""
    return usage_alerts_send()


@shared_task(name="billing.usage_alert_send", bind=True, max_retries=None)
def usage_alert_send_task(self, *, alert_id: int) -> str:
    alert = usage_alert_send(alert_id=alert_id)
    if (
        alert.email_status == AlertEmail.FAILED
        and not self.request.is_eager
        and self.request.retries < settings.EMAIL_TASK_RETRIES
    ):
        raise self.retry(countdown=_backoff(self.request.retries))
    return alert.email_status
