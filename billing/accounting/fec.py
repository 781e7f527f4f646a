"""The FEC (Fichier des Écritures Comptables, article A47 A-1 of the Livre des procédures
fiscales) of a period: the sales journal (an entry per invoice and credit note issued in it) and
the bank journal (an entry per payment recorded in it), every entry balanced, from the amounts
issuing froze (nothing recomputed: money is computed by billing.pricing only) and the payments
recorded (billing.models.Payment, a direct debit returned being a negative one).

The file: a header line, then the 18 columns in their legal order, separated by tabs, lines
ended by CRLF, UTF-8 without BOM; dates YYYYMMDD; amounts with a decimal comma, two decimals, no
thousands separator, each line on its debit or its credit side (the other 0,00); no currency
columns (everything is in euros). Its labels are French: it is read by French accountants and
the French tax administration, whatever the language of whoever exports it.

An invoice's 411 line (the customer's auxiliary account: its code) is lettered with its
payments once they pay it exactly (its balance is zero), or with its credit note when it is
cancelled and nothing was paid on it: the letter is the invoice's number, the lettering date
the day of the last of them. Lettering reflects the day of the export.

Reads: three queries whatever the number of documents and payments (the documents, the
payments, the lettering state of the invoices they touch); the lines are streamed.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import Max, Q, Sum
from django.utils.translation import gettext as _

from billing import vat
from billing.errors import BillingError
from billing.models import Invoice, InvoiceKind, InvoiceStatus, Payment, PaymentKind

COLUMNS = (
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
)
SEPARATOR = "\t"
END_OF_LINE = "\r\n"
ENCODING = "utf-8"
HEADER = SEPARATOR.join(COLUMNS)
ZERO = Decimal("0.00")

# The file's labels (French, see above).
SALES = "Ventes"
BANK = "Banque"
CUSTOMERS = "Clients"
VAT_COLLECTED = "TVA collectée"
REVENUE = {
    vat.STANDARD: "Prestations de services",
    vat.REVERSE_CHARGE: "Prestations de services UE (autoliquidation)",
    vat.OUTSIDE_EU: "Prestations de services hors UE",
}


class AccountingError(BillingError):
    """A refused export: `field` names the input it is about (or None)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


def period_check(start: date, end: date) -> None:
    if start > end:
        raise AccountingError(
            _("The start of the period (%(start)s) is after its end (%(end)s).")
            % {"start": start.isoformat(), "end": end.isoformat()},
            field="start",
        )


def fec_filename(end: date) -> str:
    """SIRENFECYYYYMMDD.txt: the seller's SIREN, then the period's closing date."""
    siren = re.sub(r"\D", "", settings.SELLER["siren"])
    return f"{siren}FEC{end:%Y%m%d}.txt"


@dataclass(frozen=True)
class Line:
    account: str
    account_label: str
    amount: Decimal  # debit positive, credit negative
    aux: str = ""
    aux_label: str = ""
    letter: str = ""
    lettered_on: date | None = None


@dataclass(frozen=True)
class Entry:
    journal: str
    journal_label: str
    day: date  # EcritureDate and ValidDate: the issue date, or the day the payment was booked
    piece: str
    piece_date: date
    label: str
    lines: tuple[Line, ...]


def _revenue_account(treatment: str) -> tuple[str, str]:
    if treatment == vat.REVERSE_CHARGE:
        return settings.FEC_ACCOUNT_REVENUE_EU, REVENUE[vat.REVERSE_CHARGE]
    if treatment == vat.OUTSIDE_EU:
        return settings.FEC_ACCOUNT_REVENUE_EXPORT, REVENUE[vat.OUTSIDE_EU]
    return settings.FEC_ACCOUNT_REVENUE, REVENUE[vat.STANDARD]


def issued_documents(start: date, end: date):
    return Invoice.objects.filter(issue_date__gte=start, issue_date__lte=end).exclude(
        status=InvoiceStatus.DRAFT
    )


def payments_recorded(start: date, end: date):
    return Payment.objects.filter(paid_on__gte=start, paid_on__lte=end)


def _letters(start: date, end: date) -> dict[int, tuple[str, date]]:
    """Per invoice whose lines this file holds (its own, its credit note's, its payments'): the
    letter and lettering date of its 411 lines, when they are settled. One query."""
    documents, payments = issued_documents(start, end), payments_recorded(start, end)
    touched = (
        Q(pk__in=documents.values("pk"))
        | Q(pk__in=documents.filter(credited_invoice__isnull=False).values("credited_invoice"))
        | Q(pk__in=payments.values("invoice"))
    )
    rows = (
        Invoice.objects.filter(touched, kind=InvoiceKind.INVOICE)
        .order_by()
        .values("pk", "number", "status", "total")
        .annotate(
            paid=Sum("payments__amount"),
            last_paid=Max("payments__paid_on"),
            cancelled_on=Max(
                "credit_note__issue_date", filter=Q(credit_note__status=InvoiceStatus.ISSUED)
            ),
        )
    )
    letters = {}
    for row in rows:
        paid = Decimal(row["paid"] or 0)
        if row["status"] == InvoiceStatus.ISSUED and row["total"] and paid == row["total"]:
            letters[row["pk"]] = (row["number"], row["last_paid"])
        elif row["status"] == InvoiceStatus.CANCELLED and not paid and row["cancelled_on"]:
            days = [day for day in (row["cancelled_on"], row["last_paid"]) if day]
            letters[row["pk"]] = (row["number"], max(days))
    return letters


def _sales_entries(start: date, end: date, letters: dict) -> Iterator[Entry]:
    rows = (
        issued_documents(start, end)
        .order_by("issue_date", "issued_at", "pk")
        .values(
            "pk",
            "kind",
            "number",
            "issue_date",
            "net_total",
            "vat_amount",
            "total",
            "vat_treatment",
            "credited_invoice_id",
            "credited_invoice__number",
            "customer__code",
            "customer__legal_name",
        )
    )
    for row in rows.iterator(chunk_size=2000):
        credit_note = row["kind"] == InvoiceKind.CREDIT_NOTE
        letter, lettered_on = letters.get(
            row["credited_invoice_id"] if credit_note else row["pk"], ("", None)
        )
        name = row["customer__legal_name"]
        revenue, revenue_label = _revenue_account(row["vat_treatment"])
        lines = [
            Line(
                settings.FEC_ACCOUNT_CUSTOMERS,
                CUSTOMERS,
                row["total"],
                aux=row["customer__code"],
                aux_label=name,
                letter=letter,
                lettered_on=lettered_on,
            ),
            Line(revenue, revenue_label, -row["net_total"]),
        ]
        if row["vat_amount"]:
            lines.append(Line(settings.FEC_ACCOUNT_VAT, VAT_COLLECTED, -row["vat_amount"]))
        label = (
            f"Avoir {row['number']} (annule {row['credited_invoice__number']}) {name}"
            if credit_note
            else f"Facture {row['number']} {name}"
        )
        yield _balanced(
            Entry(
                journal=settings.FEC_SALES_JOURNAL,
                journal_label=SALES,
                day=row["issue_date"],
                piece=row["number"],
                piece_date=row["issue_date"],
                label=label,
                lines=tuple(lines),
            )
        )


def _bank_entries(start: date, end: date, letters: dict) -> Iterator[Entry]:
    rows = (
        payments_recorded(start, end)
        .order_by("paid_on", "pk")
        .values(
            "amount",
            "paid_on",
            "kind",
            "invoice_id",
            "invoice__number",
            "invoice__customer__code",
            "invoice__customer__legal_name",
        )
    )
    for row in rows.iterator(chunk_size=2000):
        letter, lettered_on = letters.get(row["invoice_id"], ("", None))
        name = row["invoice__customer__legal_name"]
        what = "Prélèvement rejeté" if row["kind"] == PaymentKind.RETURN else "Règlement"
        yield _balanced(
            Entry(
                journal=settings.FEC_BANK_JOURNAL,
                journal_label=BANK,
                day=row["paid_on"],
                piece=row["invoice__number"],
                piece_date=row["paid_on"],
                label=f"{what} {row['invoice__number']} {name}",
                lines=(
                    Line(settings.FEC_ACCOUNT_BANK, BANK, row["amount"]),
                    Line(
                        settings.FEC_ACCOUNT_CUSTOMERS,
                        CUSTOMERS,
                        -row["amount"],
                        aux=row["invoice__customer__code"],
                        aux_label=name,
                        letter=letter,
                        lettered_on=lettered_on,
                    ),
                ),
            )
        )


def _balanced(entry: Entry) -> Entry:
    """An entry whose debits do not equal its credits is never written."""
    if sum((line.amount for line in entry.lines), ZERO) != ZERO:
        raise AccountingError(
            _("%(piece)s does not balance: its net and VAT do not add up to its total.")
            % {"piece": entry.piece}
        )
    return entry


def fec_entries(*, start: date, end: date) -> Iterator[Entry]:
    """The period's entries in chronological order (a day's sales, then its bank entries)."""
    period_check(start, end)
    letters = _letters(start, end)
    return heapq.merge(
        _sales_entries(start, end, letters),
        _bank_entries(start, end, letters),
        key=lambda entry: entry.day,
    )


def _text(value) -> str:
    """A text field: no tab nor line break may cut the line."""
    return re.sub(r"[\t\r\n]+", " ", str(value or "")).strip()


def _day(value: date | None) -> str:
    return f"{value:%Y%m%d}" if value else ""


def fec_amount(value: Decimal) -> str:
    """1234,56: the amounts are the cents issuing froze, written with a decimal comma."""
    return f"{value:.2f}".replace(".", ",")


def fec_rows(entries: Iterable[Entry]) -> Iterator[list[str]]:
    """The 18 fields of each line; EcritureNum follows a continuous sequence per journal."""
    numbers: dict[str, int] = {}
    for entry in entries:
        numbers[entry.journal] = numbers.get(entry.journal, 0) + 1
        number = f"{entry.journal}{numbers[entry.journal]:06d}"
        for line in entry.lines:
            yield [
                _text(entry.journal),
                entry.journal_label,
                number,
                _day(entry.day),
                _text(line.account),
                line.account_label,
                _text(line.aux),
                _text(line.aux_label),
                _text(entry.piece),
                _day(entry.piece_date),
                _text(entry.label),
                fec_amount(line.amount) if line.amount > 0 else "0,00",
                fec_amount(-line.amount) if line.amount < 0 else "0,00",
                _text(line.letter),
                _day(line.lettered_on),
                _day(entry.day),
                "",
                "",
            ]


def fec_lines(*, start: date, end: date) -> Iterator[str]:
    """The file's lines, header first, each ended by CRLF (str: encode them as UTF-8)."""
    entries = fec_entries(start=start, end=end)  # the period is checked before the first line
    yield HEADER + END_OF_LINE
    for fields in fec_rows(entries):
        yield SEPARATOR.join(fields) + END_OF_LINE
