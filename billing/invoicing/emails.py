"""The invoice e-mail, in the customer's language, with its PDF; its status kept on the invoice."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from billing.formats import format_money
from billing.invoicing.content import InvoiceError
from billing.models import (
    EmailStatus,
    Invoice,
    InvoiceKind,
)

_OF_MONTH = (
    pgettext_lazy("of a month", "of January %(year)d"),
    pgettext_lazy("of a month", "of February %(year)d"),
    pgettext_lazy("of a month", "of March %(year)d"),
    pgettext_lazy("of a month", "of April %(year)d"),
    pgettext_lazy("of a month", "of May %(year)d"),
    pgettext_lazy("of a month", "of June %(year)d"),
    pgettext_lazy("of a month", "of July %(year)d"),
    pgettext_lazy("of a month", "of August %(year)d"),
    pgettext_lazy("of a month", "of September %(year)d"),
    pgettext_lazy("of a month", "of October %(year)d"),
    pgettext_lazy("of a month", "of November %(year)d"),
    pgettext_lazy("of a month", "of December %(year)d"),
)


def of_month(day: date) -> str:
    """The month of `day` after "of", in the active language: "d'octobre 2026"."""
    return str(_OF_MONTH[day.month - 1]) % {"year": day.year}


def invoice_send(*, invoice_id: int, again: bool = False) -> Invoice:
    """E-mail an issued invoice or credit note (its stored PDF) to the customer's billing
    addresses, in the invoice's language. A failure is recorded (and can be retried); it never
    un-issues anything.

    Once: the invoice's row is locked while sending and its e-mail status is the truth, so a
    redelivered or doubled task sends nothing when the e-mail went already (`again`: a clerk's
    explicit "send again")."""
    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("customer", "credited_invoice")
            .get(pk=invoice_id)
        )
        if invoice.email_status == EmailStatus.SENT and not again:
            return invoice
        try:
            _send(invoice)
        except Exception as error:  # noqa: BLE001 - any failure to send is recorded, never raised
            invoice.email_status = EmailStatus.FAILED
            invoice.email_error = f"{type(error).__name__}: {error}"[:2000]
            _write_status(invoice, "email_status", "email_error")
            return invoice
        invoice.email_status = EmailStatus.SENT
        invoice.email_sent_at = timezone.now()
        invoice.email_error = ""
        _write_status(invoice, "email_status", "email_sent_at", "email_error")
    return invoice


def _write_status(invoice: Invoice, *fields: str) -> None:
    """The e-mail's fields written (one UPDATE of the row locked above): they are among the
    fields an issued invoice may change (INVOICE_MUTABLE_FIELDS), so Invoice.save's check of the
    stored status is not needed."""
    Invoice.objects.filter(pk=invoice.pk).update(
        **{name: getattr(invoice, name) for name in fields}
    )


def _send(invoice: Invoice) -> None:
    from django.core.mail import EmailMessage

    recipients = invoice.customer.billing_email_list
    if not recipients:
        raise InvoiceError(_("The customer has no billing e-mail address."))
    if invoice.pdf is None:
        raise InvoiceError(_("The PDF of %(invoice)s is not rendered yet.") % {"invoice": invoice})
    with translation.override(invoice.language):
        month = date_format(invoice.month, "F Y")
        if invoice.kind == InvoiceKind.CREDIT_NOTE:
            subject = _("Credit note %(number)s (%(month)s)") % {
                "number": invoice.number,
                "month": month,
            }
            body = _(
                "Hello,\n\nPlease find attached credit note %(number)s, which cancels "
                "invoice %(original)s %(of_month)s.\n\n%(seller)s"
            ) % {
                "number": invoice.number,
                "original": invoice.credited_invoice.number,
                "of_month": of_month(invoice.month),
                "seller": invoice.seller.get("legal_name", ""),
            }
        else:
            subject = _("Invoice %(number)s — Chatpoints %(month)s") % {
                "number": invoice.number,
                "month": month,
            }
            body = _(
                "Hello,\n\nPlease find attached invoice %(number)s for your Chatpoints "
                "%(of_month)s: %(total)s including VAT, due on %(due)s.\n\n%(seller)s"
            ) % {
                "number": invoice.number,
                "of_month": of_month(invoice.month),
                "total": format_money(invoice.total),
                "due": date_format(invoice.due_date, "DATE_FORMAT"),
                "seller": invoice.seller.get("legal_name", ""),
            }
    message = EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        reply_to=[invoice.seller.get("email")] if invoice.seller.get("email") else None,
    )
    message.attach(f"{invoice.number}.pdf", bytes(invoice.pdf), "application/pdf")
    message.send()


def invoices_send_again(*, invoice_ids: list[int]) -> None:
    """A clerk's "send again": each e-mail through its task (again even if it went)."""
    from config.celery import app

    task = app.tasks["billing.invoice_send"]
    for invoice_id in invoice_ids:
        task.apply_async(kwargs={"invoice_id": invoice_id, "again": True})
