"""SEPA direct debits: pre-notifications a set number of days before the collection date, then
one pain.008 file per collection date and scheme (built and checked against its XSD by sepaxml).
Each invoice is in collection once at a time (a database constraint)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from sepaxml import SepaDD

from billing.formats import format_money
from billing.models import (
    DirectDebit,
    DirectDebitBatch,
    DirectDebitNotice,
    DirectDebitStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Mandate,
    SequenceType,
)
from billing.months import today as billing_today
from billing.payments.balances import invoice_balances
from billing.payments.methods import PaymentError
from customers.models import PaymentMethod

logger = logging.getLogger(__name__)

SCHEMA = "pain.008.001.02"


def _collectable():
    """Issued invoices (not credit notes) still to pay, of customers paying by direct debit under
    a mandate in force, not in collection now."""
    return Invoice.objects.filter(
        kind=InvoiceKind.INVOICE,
        status=InvoiceStatus.ISSUED,
        paid_on__isnull=True,
        customer__payment_method=PaymentMethod.SEPA_DEBIT,
        customer__mandates__revoked_on__isnull=True,
    ).exclude(
        Exists(
            DirectDebit.objects.filter(
                invoice=OuterRef("pk"), status=DirectDebitStatus.IN_COLLECTION
            )
        )
    )


def _mandates_by_customer(customer_ids) -> dict[int, Mandate]:
    return {
        mandate.customer_id: mandate
        for mandate in Mandate.objects.in_force().filter(customer_id__in=set(customer_ids))
    }


def direct_debit_notices_send(*, today: date | None = None) -> list[DirectDebitNotice]:
    """The daily job: e-mail a pre-notification for each invoice to debit whose due date is
    within DIRECT_DEBIT_NOTICE_DAYS and that has no notice of a collection still to come. The
    collection date is the due date, or today + the notice days if that is later. Never twice
    for one invoice and date (a database constraint); e-mails leave after the commit."""
    today = today or billing_today()
    earliest = today + timedelta(days=settings.DIRECT_DEBIT_NOTICE_DAYS)
    invoices = list(
        _collectable()
        .filter(due_date__lte=earliest)
        .exclude(
            Exists(
                DirectDebitNotice.objects.filter(invoice=OuterRef("pk"), collection_date__gte=today)
            )
        )
        .select_related("customer")
        .distinct()
        .order_by("due_date", "number")
    )
    mandates = _mandates_by_customer(invoice.customer_id for invoice in invoices)
    balances = invoice_balances(invoice_ids=[invoice.pk for invoice in invoices])
    sent = []
    for invoice in invoices:
        amount = balances[invoice.pk]
        if amount <= 0:
            continue
        try:
            with transaction.atomic():
                notice = DirectDebitNotice.objects.create(
                    invoice=invoice,
                    mandate=mandates[invoice.customer_id],
                    collection_date=max(invoice.due_date, earliest),
                    amount=amount,
                )
                transaction.on_commit(lambda notice=notice: _notice_email(notice))
        except IntegrityError:
            continue  # another run notified it for this date
        sent.append(notice)
    return sent


def _notice_email(notice: DirectDebitNotice) -> None:
    invoice = notice.invoice
    recipients = invoice.customer.billing_email_list
    try:
        if not recipients:
            raise PaymentError(_("The customer has no billing e-mail address."))
        with translation.override(invoice.language):
            subject = _("SEPA direct debit of invoice %(number)s on %(date)s") % {
                "number": invoice.number,
                "date": date_format(notice.collection_date, "DATE_FORMAT"),
            }
            body = _(
                "Hello,\n\nUnder SEPA mandate %(reference)s (creditor identifier %(ics)s), "
                "%(amount)s will be debited from account %(iban)s on %(date)s for invoice "
                "%(number)s.\nPlease make sure the account is funded on that day.\n\n%(seller)s"
            ) % {
                "reference": notice.mandate.reference,
                "ics": notice.mandate.creditor_id,
                "amount": format_money(notice.amount),
                "iban": "…" + notice.mandate.iban[-4:],
                "date": date_format(notice.collection_date, "DATE_FORMAT"),
                "number": invoice.number,
                "seller": invoice.seller.get("legal_name", ""),
            }
        EmailMessage(
            subject=subject,
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=recipients,
            reply_to=[invoice.seller["email"]] if invoice.seller.get("email") else None,
        ).send()
    except Exception as error:  # noqa: BLE001 - recorded on the notice, never raised
        logger.warning("pre-notification of %s not sent: %s", invoice.number, error)
        DirectDebitNotice.objects.filter(pk=notice.pk).update(
            email_error=f"{type(error).__name__}: {error}"[:2000]
        )


@dataclass(frozen=True)
class Export:
    batches: list[DirectDebitBatch]

    @property
    def count(self) -> int:
        return sum(batch.count for batch in self.batches)


def direct_debits_export(*, collection_date: date, user=None, today: date | None = None) -> Export:
    """Build the pain.008 file(s) of a collection date: every invoice pre-notified for that date
    (or an earlier one it missed) and not in collection; one file per scheme. The invoices are
    then *in collection*; each mandate's next collection is recurrent."""
    today = today or billing_today()
    if collection_date < today:
        raise PaymentError(
            _("The collection date %(value)s is in the past.") % {"value": collection_date},
            field="collection_date",
        )
    seller_iban = settings.SELLER_IBAN
    seller_bic = settings.SELLER_BIC
    if not seller_iban or not seller_bic:
        raise PaymentError(_("The seller's IBAN and BIC are not set (SELLER_IBAN, SELLER_BIC)."))
    with transaction.atomic():
        invoices = list(
            _collectable()
            .filter(
                Exists(
                    DirectDebitNotice.objects.filter(
                        invoice=OuterRef("pk"), collection_date__lte=collection_date
                    )
                )
            )
            .select_related("customer")
            .distinct()
            .order_by("customer__code", "number")
        )
        if not invoices:
            raise PaymentError(
                _("No pre-notified invoice to collect on %(date)s.") % {"date": collection_date},
                field="collection_date",
            )
        mandates = {
            mandate.customer_id: mandate
            for mandate in Mandate.objects.in_force()
            .select_for_update()
            .filter(customer_id__in={invoice.customer_id for invoice in invoices})
        }
        balances = invoice_balances(invoice_ids=[invoice.pk for invoice in invoices])
        by_scheme: dict[str, list[tuple[Invoice, Mandate, Decimal]]] = {}
        for invoice in invoices:
            mandate = mandates[invoice.customer_id]
            if balances[invoice.pk] > 0:
                by_scheme.setdefault(mandate.scheme, []).append(
                    (invoice, mandate, balances[invoice.pk])
                )
        batches = []
        for scheme, rows in sorted(by_scheme.items()):
            batches.append(_batch(scheme, rows, collection_date, user, seller_iban, seller_bic))
        touched = {mandate.pk for rows in by_scheme.values() for _i, mandate, _a in rows}
        Mandate.objects.filter(pk__in=touched).update(next_sequence=SequenceType.RECURRENT)
    return Export(batches=batches)


def _invoice_label(invoice: Invoice) -> str:
    with translation.override(invoice.language):
        return _("Invoice %(number)s") % {"number": invoice.number}


def _batch(scheme, rows, collection_date, user, seller_iban, seller_bic) -> DirectDebitBatch:
    sepa = SepaDD(
        {
            "name": settings.SELLER["legal_name"],
            "IBAN": seller_iban,
            "BIC": seller_bic,
            "batch": True,
            "creditor_id": settings.SEPA_CREDITOR_ID,
            "currency": "EUR",
            "instrument": scheme,
        },
        schema=SCHEMA,
    )
    debits = []
    for invoice, mandate, amount in rows:
        end_to_end = f"{invoice.number}-{uuid.uuid4().hex[:8]}"[:35]
        sepa.add_payment(
            {
                "name": mandate.debtor_name,
                "IBAN": mandate.iban,
                "BIC": mandate.bic,
                "amount": int(amount * 100),
                "type": mandate.next_sequence,
                "collection_date": collection_date,
                "mandate_id": mandate.reference,
                "mandate_date": mandate.signed_on,
                "description": _invoice_label(invoice),
                "endtoend_id": end_to_end,
            }
        )
        debits.append(
            DirectDebit(
                invoice=invoice,
                mandate=mandate,
                amount=amount,
                sequence_type=mandate.next_sequence,
                end_to_end_id=end_to_end,
            )
        )
    xml = sepa.export(validate=True, pretty_print=True)
    batch = DirectDebitBatch.objects.create(
        collection_date=collection_date,
        scheme=scheme,
        message_id=sepa.msg_id[:35],
        count=len(debits),
        total=sum(amount for _i, _m, amount in rows),
        xml=xml,
        created_by=user,
    )
    for debit in debits:
        debit.batch = batch
    try:
        with transaction.atomic():
            DirectDebit.objects.bulk_create(debits)
    except IntegrityError:
        raise PaymentError(
            _("An invoice of this file was put in collection meanwhile: export again.")
        ) from None
    return batch
