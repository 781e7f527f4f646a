"""Payment reminders: an overdue invoice gets one e-mail per step (REMINDER_OFFSETS, days after
its due date), in its language, with its PDF, the amount still due and the late-payment
mentions. None once it is paid or cancelled by a credit note, none while staff paused the
customer's reminders, none while it is in collection; never twice for one step (a database
constraint: two runs at once send one)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import translation
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from billing.formats import format_money
from billing.models import (
    DirectDebit,
    DirectDebitStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    PaymentReminder,
    ReminderPause,
)
from billing.months import today as billing_today
from billing.payments.balances import with_balance

logger = logging.getLogger(__name__)


def _offsets() -> list[int]:
    return sorted({int(offset) for offset in settings.REMINDER_OFFSETS if int(offset) > 0})


def reminders_send(*, today: date | None = None) -> list[PaymentReminder]:
    """The daily job. For each overdue invoice, the latest step reached that was not sent (and
    no later one was): claim it (insert; a concurrent run's insert fails), then e-mail."""
    today = today or billing_today()
    offsets = _offsets()
    if not offsets:
        return []
    overdue = list(
        with_balance(
            Invoice.objects.filter(
                kind=InvoiceKind.INVOICE,
                status=InvoiceStatus.ISSUED,
                paid_on__isnull=True,
                due_date__lte=today - timedelta(days=offsets[0]),
            )
            .exclude(Exists(ReminderPause.objects.filter(customer_id=OuterRef("customer_id"))))
            .exclude(
                Exists(
                    DirectDebit.objects.filter(
                        invoice=OuterRef("pk"), status=DirectDebitStatus.IN_COLLECTION
                    )
                )
            )
        )
        .filter(balance__gt=0)
        .select_related("customer")
        .order_by("due_date", "number")
    )
    sent_steps: dict[int, set[int]] = {}
    for invoice_id, step in PaymentReminder.objects.filter(
        invoice_id__in=[invoice.pk for invoice in overdue]
    ).values_list("invoice_id", "step"):
        sent_steps.setdefault(invoice_id, set()).add(step)
    sent = []
    for invoice in overdue:
        late = (today - invoice.due_date).days
        step = max(offset for offset in offsets if offset <= late)
        done = sent_steps.get(invoice.pk, set())
        if any(previous >= step for previous in done):
            continue
        try:
            with transaction.atomic():
                reminder = PaymentReminder.objects.create(
                    invoice=invoice, step=step, sent_on=today, amount_due=invoice.balance
                )
        except IntegrityError:
            continue  # another run took this step
        _reminder_email(reminder, invoice, late)
        sent.append(reminder)
    return sent


def _reminder_email(reminder: PaymentReminder, invoice: Invoice, late: int) -> None:
    recipients = invoice.customer.billing_email_list
    try:
        if not recipients:
            raise ValueError(_("The customer has no billing e-mail address."))
        rate = invoice.seller.get("late_payment_rate") or settings.LATE_PAYMENT_RATE
        indemnity = Decimal(invoice.seller.get("recovery_indemnity") or settings.RECOVERY_INDEMNITY)
        with translation.override(invoice.language):
            subject = _("Reminder: invoice %(number)s is overdue") % {"number": invoice.number}
            body = _(
                "Hello,\n\nUnless we are mistaken, invoice %(number)s, due on %(due)s, is still "
                "unpaid %(days)d days later: %(amount)s remain due. Please find it attached.\n\n"
                "Late payment: penalties at the annual rate of %(rate)s %%, and a fixed "
                "indemnity of %(indemnity)s for recovery costs (French Commercial Code, "
                "article L441-10).\n\nIf you have paid it in the meantime, please disregard "
                "this message.\n\n%(seller)s"
            ) % {
                "number": invoice.number,
                "due": date_format(invoice.due_date, "DATE_FORMAT"),
                "days": late,
                "amount": format_money(reminder.amount_due),
                "rate": number_format(Decimal(rate), decimal_pos=2),
                "indemnity": format_money(indemnity),
                "seller": invoice.seller.get("legal_name", ""),
            }
        message = EmailMessage(
            subject=subject,
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=recipients,
            reply_to=[invoice.seller["email"]] if invoice.seller.get("email") else None,
        )
        if invoice.pdf is not None:
            message.attach(f"{invoice.number}.pdf", bytes(invoice.pdf), "application/pdf")
        message.send()
    except Exception as error:  # noqa: BLE001 - recorded on the reminder, never raised
        logger.warning("reminder of %s not sent: %s", invoice.number, error)
        PaymentReminder.objects.filter(pk=reminder.pk).update(
            email_error=f"{type(error).__name__}: {error}"[:2000]
        )
