"""Issuing: a draft frozen under a lock on its customer, the next number of the year's series
(gapless: a rolled-back issue gives it back); then its PDF, rendered once outside the series'
lock (so several workers render at once) and stored once (the database refuses a second);
credit notes that cancel an issued invoice; payments marked.

Money comes from billing.pricing only, the VAT decision from billing.vat
(Customer.vat_decision); this package copies them into rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from billing.catalog.tariffs import tariffs_by_id
from billing.errors import BillingError
from billing.invoicing.content import (
    SERIES_CREDIT_NOTE,
    SERIES_INVOICE,
    InvoiceError,
    _buyer,
    _fill,
)
from billing.invoicing.facturx import einvoice_issued, facturx_xml, invoice_facturx_pdf
from billing.models import (
    EmailStatus,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    InvoiceStatus,
)
from billing.months import Month
from billing.months import today as billing_today
from billing.pricing import price_month
from billing.usage.selectors import (
    subscription_in_force,
    usage_from_rows,
    usage_rows_by_customer,
)
from config.celery import enqueue
from customers.models import Customer

logger = logging.getLogger(__name__)


def _next_number(series: str, year: int) -> tuple[int, str]:
    """The next number of a series in a year, in one statement (the counter made at its first
    use): the counter's row stays locked until the issuing transaction ends, so numbers are
    gapless (a rollback gives the number back) and the lock is held for that transaction only."""
    table = connection.ops.quote_name(InvoiceSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (series, year, last) VALUES (%s, %s, 1) "  # noqa: S608 - our table
            f"ON CONFLICT (series, year) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [series, year],
        )
        (last,) = cursor.fetchone()
    pattern = (
        settings.INVOICE_NUMBER_FORMAT
        if series == SERIES_INVOICE
        else settings.CREDIT_NOTE_NUMBER_FORMAT
    )
    return last, pattern.format(year=year, number=last)


def _seller() -> dict:
    seller = dict(settings.SELLER)
    seller["late_payment_rate"] = settings.LATE_PAYMENT_RATE
    seller["recovery_indemnity"] = settings.RECOVERY_INDEMNITY
    return seller


def _lock_customer(customer_id: int) -> Customer:
    """FOR UPDATE (not NO KEY UPDATE): it waits for the chat batches of this customer in flight
    (they hold it FOR KEY SHARE) and makes the later ones wait, then see the issued invoice."""
    return Customer.objects.select_for_update().get(pk=customer_id)


def _finalize(
    invoice: Invoice, lines: list[InvoiceLine], *, series: str, now: datetime | None = None
) -> bytes:
    """Number, date and mark issued (inside the caller's transaction); the PDF follows once the
    number is committed (invoice_pdf_store), so the series' lock is held for milliseconds.
    Returns the e-invoice's XML (checked against its XSD), which the PDF then carries.

    `now`: the moment of issue, the present unless given (the demo issues its past months on
    their day). Never in the future, never before the series' last issue: numbers and issue
    dates go up together."""
    year = billing_today(now).year
    sequence, number = _next_number(series, year)  # waits for any issue of the series in flight
    if now is None:
        now = timezone.now()  # read after the lock: numbers and issue dates go up together
    elif (
        now > timezone.now()
        or Invoice.objects.filter(series=series, year=year, issued_at__gt=now).exists()
    ):
        raise InvoiceError(
            _(
                "%(number)s cannot be dated %(date)s: a document is dated today at the latest, "
                "and not before the last one of its series."
            )
            % {"number": number, "date": date_format(billing_today(now), "DATE_FORMAT")}
        )
    issue_date = billing_today(now)
    invoice.series, invoice.year, invoice.sequence, invoice.number = series, year, sequence, number
    invoice.issued_at = now
    invoice.issue_date = issue_date
    invoice.due_date = issue_date + timedelta(days=settings.PAYMENT_TERMS_DAYS)
    # The e-invoice's XML is built and checked against its XSD now: a document the XSD refuses
    # is not issued (FacturXError; the number is given back). Its PDF follows after commit.
    xml = facturx_xml(invoice, lines)
    invoice.status = InvoiceStatus.ISSUED
    invoice.save()
    return xml


def invoice_issue(
    *, invoice: Invoice, today: date | None = None, now: datetime | None = None
) -> Invoice:
    """Issue a draft: recompute it, freeze it, number it (committed), then store its PDF and
    e-mail it after commit (invoice_pdf_store). A PDF that fails to render leaves the invoice
    issued without one (no gap); invoice_pdf_store renders it later (the daily retry job).

    `now`: the moment of issue, the present unless given (see _finalize)."""
    with transaction.atomic():
        customer = _lock_customer(invoice.customer_id)
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != InvoiceStatus.DRAFT or invoice.kind != InvoiceKind.INVOICE:
            raise InvoiceError(
                _("%(invoice)s is not a draft invoice: it cannot be issued.") % {"invoice": invoice}
            )
        month = Month.of(invoice.month)
        today = today or billing_today(now)
        if month.next().first_day > today:
            raise InvoiceError(
                _("%(month)s is not over: a month is invoiced once it has ended.")
                % {"month": month}
            )
        subscription = subscription_in_force(customer=customer, month=month)
        if subscription is not None:
            subscription.customer = customer  # the row locked above
        if subscription is None:
            raise InvoiceError(
                _("%(customer)s has no plan in force in %(month)s.")
                % {"customer": customer.code, "month": month}
            )
        tariffs = tariffs_by_id()
        rows = usage_rows_by_customer(month=month, customers=[customer.id], tariffs=tariffs)
        usage = usage_from_rows(rows.get(customer.id, []), tariffs)
        statement = price_month(
            terms=subscription.terms(), usage=usage, vat=customer.vat_decision()
        )
        invoice.customer = customer
        lines = _fill(
            invoice,
            subscription=subscription,
            statement=statement,
            tariffs={tariff.code: tariff for tariff in tariffs.values()},
            month=month,
        )
        invoice.seller = _seller()
        invoice.buyer = _buyer(customer)
        # The lines replaced while the stored invoice is still a draft, then the invoice saved
        # once, numbered and issued (_finalize).
        InvoiceLine.objects.filter(invoice=invoice).delete()
        InvoiceLine.objects.bulk_create(lines)
        xml = _finalize(invoice, lines, series=SERIES_INVOICE, now=now)
    return _with_pdf(invoice, lines, xml)


def _with_pdf(
    invoice: Invoice, lines: list[InvoiceLine] | None = None, xml: bytes | None = None
) -> Invoice:
    """The PDF of a document just issued: rendered from what this process froze and wrote
    (`lines`, `xml`: nothing read again), or read from the database (invoice_pdf_store)."""
    try:
        if lines is None:
            return invoice_pdf_store(invoice_id=invoice.pk)
        return _pdf_store_issued(invoice, lines, xml)
    except Exception:  # noqa: BLE001 - issued and numbered; the PDF is rendered again later
        logger.exception(
            "The PDF of invoice %s could not be rendered: it will be retried", invoice.pk
        )
        return invoice


def invoice_pdf_store(*, invoice_id: int) -> Invoice:
    """Render and store the PDF of an issued invoice or credit note that has none yet (once: the
    database refuses to change a stored PDF), then e-mail it after commit unless it went already.
    Idempotent: a second call renders nothing and sends nothing twice (invoice_send)."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status == InvoiceStatus.DRAFT:
            raise InvoiceError(
                _("%(invoice)s is a draft: it has no PDF yet.") % {"invoice": invoice}
            )
        if invoice.pdf is None:
            # The Factur-X: the PDF/A-3b carrying its CII XML (billing.invoicing.facturx).
            _pdf_keep(invoice, invoice_facturx_pdf(invoice, list(invoice.lines.all())))
        if invoice.email_status != EmailStatus.SENT:
            enqueue("billing.invoice_send", invoice_id=invoice.pk)
    return invoice


def _pdf_store_issued(invoice: Invoice, lines: list[InvoiceLine], xml: bytes | None) -> Invoice:
    """Render the Factur-X PDF of a document this process has just issued and committed, store
    it unless one is stored already (a redelivered task that got there first: the database keeps
    the first), then e-mail it (its task sends it once). Rendered outside any transaction, so
    no row stays locked and no connection idles in a transaction while WeasyPrint works."""
    _pdf_keep(invoice, invoice_facturx_pdf(invoice, lines, xml=xml))
    enqueue("billing.invoice_send", invoice_id=invoice.pk)
    return invoice


def _pdf_keep(invoice: Invoice, pdf: bytes) -> None:
    """Store a rendered PDF unless one is stored already (the database keeps the first: a
    stored PDF never changes) and tell the e-invoicing platform after commit; `invoice.pdf` is
    then the stored one."""
    if Invoice.objects.filter(pk=invoice.pk, pdf__isnull=True).update(pdf=pdf):
        invoice.pdf = pdf
        transaction.on_commit(lambda: einvoice_issued(invoice_id=invoice.pk), robust=True)
    else:
        invoice.pdf = Invoice.objects.filter(pk=invoice.pk).values_list("pdf", flat=True).get()


def invoice_cancel(*, invoice: Invoice, now: datetime | None = None) -> Invoice:
    """Cancel an issued invoice with a credit note (the same lines negated); returns the note.

    The month can then be invoiced again (month close makes a new draft, with any late chats).
    `now`: the moment of issue of the credit note, the present unless given (see _finalize).
    """
    with transaction.atomic():
        _lock_customer(invoice.customer_id)
        original = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if original.status != InvoiceStatus.ISSUED or original.kind != InvoiceKind.INVOICE:
            raise InvoiceError(
                _("%(invoice)s is not an issued invoice: there is nothing to cancel.")
                % {"invoice": original}
            )
        note = Invoice(
            customer_id=original.customer_id,
            month=original.month,
            kind=InvoiceKind.CREDIT_NOTE,
            credited_invoice=original,
            language=original.language,
            plan_name=original.plan_name,
            included_points=original.included_points,
            points_used=original.points_used,
            overage_points=original.overage_points,
            engaged_contacts=original.engaged_contacts,
            net_total=-original.net_total,
            vat_rate=original.vat_rate,
            vat_amount=-original.vat_amount,
            total=-original.total,
            vat_treatment=original.vat_treatment,
            # A new document: the seller's details of today (structured as its e-invoice needs
            # them, even for an invoice issued before e-invoices); the buyer the invoice froze.
            seller=_seller(),
            buyer=original.buyer,
            usage=original.usage,
            computed_at=timezone.now(),
        )
        note.save()
        lines = [
            InvoiceLine(
                invoice=note,
                position=line.position,
                kind=line.kind,
                description=line.description,
                quantity=-line.quantity,
                unit_price=line.unit_price,
                amount=-line.amount,
            )
            for line in original.lines.all()
        ]
        InvoiceLine.objects.bulk_create(lines)
        xml = _finalize(note, lines, series=SERIES_CREDIT_NOTE, now=now)
        original.status = InvoiceStatus.CANCELLED
        original.save(update_fields=["status"])
    return _with_pdf(note, lines, xml)


def invoices_issue_month(
    *, month: Month, today: date | None = None
) -> tuple[list[Invoice], list[str]]:
    """Issue every draft of the month (customer order), each on its own: (the issued invoices,
    the refusals, one message per draft not issued)."""
    report = invoices_issue(invoices=Invoice.objects.filter(month=month.first_day), today=today)
    return report.issued, report.refused


@dataclass(frozen=True)
class IssueReport:
    issued: list[Invoice]  # in customer order
    refused: list[str]  # "<customer code>: <why>", one per draft not issued
    gone: int = 0  # drafts asked for by id that are no longer drafts (recomputed or issued)


def _drafts(invoices: QuerySet[Invoice]) -> list[Invoice]:
    return list(
        invoices.filter(kind=InvoiceKind.INVOICE, status=InvoiceStatus.DRAFT)
        .select_related("customer")
        .order_by("customer__code")
    )


def _issue_each(drafts: list[Invoice], today: date | None) -> IssueReport:
    issued, refused = [], []
    for draft in drafts:
        try:
            issued.append(invoice_issue(invoice=draft, today=today))
        except (BillingError, Invoice.DoesNotExist) as error:
            refused.append(f"{draft.customer.code}: {error}")
    return IssueReport(issued=issued, refused=refused)


def invoices_issue(*, invoices: QuerySet[Invoice], today: date | None = None) -> IssueReport:
    """Issue the draft invoices among `invoices` (customer order), each on its own: one refused
    stops none of the others."""
    return _issue_each(_drafts(invoices), today)


def invoices_issue_selected(*, month: Month, invoice_ids: Sequence[int]) -> IssueReport:
    """Issue the drafts of `month` staff selected (by id) on the month close page; a selected
    draft that is no longer one (recomputed or issued meanwhile) is counted in `gone`."""
    drafts = _drafts(Invoice.objects.filter(pk__in=invoice_ids, month=month.first_day))
    return replace(_issue_each(drafts, None), gone=len(invoice_ids) - len(drafts))


# --- E-mail ---------------------------------------------------------------------------------------

# "of October 2026", one string per month: French elides "de" before a vowel (d'avril, d'août,
# d'octobre, but de mars), which a translated "of %(month)s" could not do.


def invoices_retry_unsent() -> tuple[int, int]:
    """The daily retry: render the PDFs still missing (a rendering that failed after the number
    was committed), and e-mail again every document whose e-mail failed. (PDFs rendered, e-mails
    sent again); each goes through its task, once."""
    missing = list(
        Invoice.objects.exclude(status=InvoiceStatus.DRAFT)
        .filter(pdf__isnull=True)
        .values_list("pk", flat=True)
    )
    for invoice_id in missing:
        _with_pdf(Invoice(pk=invoice_id))
    failed = list(
        Invoice.objects.exclude(status=InvoiceStatus.DRAFT)
        .filter(email_status=EmailStatus.FAILED, pdf__isnull=False)
        .values_list("pk", flat=True)
    )
    for invoice_id in failed:
        enqueue("billing.invoice_send", invoice_id=invoice_id)
    return len(missing), len(failed)
