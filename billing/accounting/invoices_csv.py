"""A period's invoices and credit notes as CSV, for a spreadsheet: one row per document issued
in the period (by issue date), with the amounts issuing froze, the buyer's details as on that
day, its status and what was paid on it.

For a spreadsheet in the reader's language: in French, semicolons between the fields, decimal
commas and dates as 30/11/2026 (what a French Excel opens as numbers and dates); in English,
commas, decimal points and dates as 2026-11-30. UTF-8 with a BOM (so that Excel reads it as
UTF-8), CRLF. Amounts are written exactly as stored (two decimals, no thousands separator); a
name that a spreadsheet would read as a formula is written as text (billing.formats).

Reads: one query whatever the number of documents; the rows are streamed."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.text import capfirst
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from billing.accounting.fec import issued_documents, period_check
from billing.formats import spreadsheet_text
from billing.models import InvoiceKind, InvoiceStatus, Payment
from customers.models import VatTreatment


def invoices_csv_filename(start: date, end: date) -> str:
    return f"invoices-{start:%Y%m%d}-{end:%Y%m%d}.csv"


class _Echo:
    """A file-like object whose write returns the line: csv.writer feeding a generator."""

    def write(self, value):
        return value


def _paid():
    """The sum of the payments recorded on the invoice (0.00 without any)."""
    paid = Subquery(
        Payment.objects.filter(invoice=OuterRef("pk"))
        .order_by()
        .values("invoice")
        .annotate(paid=Sum("amount"))
        .values("paid"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    return Coalesce(
        paid, Value(Decimal("0.00")), output_field=DecimalField(max_digits=14, decimal_places=2)
    )


def invoices_csv_lines(*, start: date, end: date) -> Iterator[str]:
    """The CSV's lines (str, BOM first), in the active language."""
    period_check(start, end)
    french = (get_language() or "fr").startswith("fr")
    writer = csv.writer(_Echo(), delimiter=";" if french else ",", lineterminator="\r\n")

    def amount(value) -> str:
        if value is None:
            return ""
        text = f"{Decimal(value):.2f}"
        return text.replace(".", ",") if french else text

    def day(value) -> str:
        if value is None:
            return ""
        return f"{value:%d/%m/%Y}" if french else value.isoformat()

    yield "\ufeff"
    yield writer.writerow(
        capfirst(column)
        for column in [
            _("Number"),
            _("Kind"),
            _("Issue date"),
            _("Due date"),
            _("Month"),
            _("Customer"),
            _("Legal name"),
            _("VAT number"),
            _("VAT treatment"),
            _("Net (excl. VAT)"),
            _("VAT rate (%)"),
            _("VAT"),
            _("Total (incl. VAT)"),
            _("Status"),
            _("Cancels invoice"),
            _("Paid on"),
            _("Amount paid"),
        ]
    )
    kinds = {InvoiceKind.INVOICE: _("invoice"), InvoiceKind.CREDIT_NOTE: _("credit note")}
    statuses = {
        InvoiceStatus.ISSUED: _("issued"),
        InvoiceStatus.CANCELLED: _("cancelled"),
    }
    treatments = {value: str(label) for value, label in VatTreatment.choices}
    rows = (
        issued_documents(start, end)
        .order_by("issue_date", "issued_at", "pk")
        .annotate(paid=_paid())
        .values(
            "number",
            "kind",
            "issue_date",
            "due_date",
            "month",
            "customer__code",
            "buyer__legal_name",
            "buyer__vat_number",
            "vat_treatment",
            "net_total",
            "vat_rate",
            "vat_amount",
            "total",
            "status",
            "credited_invoice__number",
            "paid_on",
            "paid",
        )
    )
    for row in rows.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                row["number"],
                kinds.get(row["kind"], row["kind"]),
                day(row["issue_date"]),
                day(row["due_date"]),
                f"{row['month']:%Y-%m}",
                spreadsheet_text(row["customer__code"]),
                spreadsheet_text(row["buyer__legal_name"] or ""),
                spreadsheet_text(row["buyer__vat_number"] or ""),
                treatments.get(row["vat_treatment"], row["vat_treatment"]),
                amount(row["net_total"]),
                amount(row["vat_rate"]),
                amount(row["vat_amount"]),
                amount(row["total"]),
                statuses.get(row["status"], row["status"]),
                row["credited_invoice__number"] or "",
                day(row["paid_on"]),
                amount(row["paid"]) if row["kind"] == InvoiceKind.INVOICE else "",
            ]
        )
