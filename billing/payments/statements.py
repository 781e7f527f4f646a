"""Bank reconciliation: a statement (parsed by billing.payments.bank_files) gives entries,
each stored once by its bank reference; credits are matched to invoices (the invoice number in
the remittance information, a direct debit's end-to-end id, else the exact amount of one open
invoice of the payer) and recorded as payments; a returned direct debit puts its invoice back to
due, tells staff and makes the mandate's next collection a first one; the rest waits for a
clerk."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from billing.models import (
    BankEntry,
    BankStatement,
    DirectDebit,
    DirectDebitStatus,
    EntryStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Mandate,
    Payment,
    PaymentKind,
    SequenceType,
)
from billing.payments.balances import invoice_balances, with_balance
from billing.payments.bank_files import EntryData, statement_parse
from billing.payments.methods import PaymentError
from customers.models import Customer

logger = logging.getLogger(__name__)


@dataclass
class ImportResult:
    statement: BankStatement | None
    new: int = 0
    already_imported: int = 0
    matched: list[BankEntry] = field(default_factory=list)
    unmatched: list[BankEntry] = field(default_factory=list)
    returned: list[BankEntry] = field(default_factory=list)
    ignored: list[BankEntry] = field(default_factory=list)


# --- Parsing -----------------------------------------------------------------------------------


def _normalize_name(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", (value or "").lower())


def _open_invoices():
    return Invoice.objects.filter(kind=InvoiceKind.INVOICE, status=InvoiceStatus.ISSUED)


def _find_by_reference(data: EntryData) -> Invoice | None:
    tokens = set(re.findall(r"[A-Z]{1,3}\d{4}-\d{3,}", (data.remittance or "").upper()))
    if not tokens:
        return None
    found = list(_open_invoices().filter(number__in=tokens)[:2])
    return found[0] if len(found) == 1 else None


class _Payers:
    """The customers by normalized legal name, read once per statement (not once per entry),
    and only if an entry needs it."""

    def __init__(self):
        self._by_name: dict[str, set[int]] | None = None

    def named(self, name: str) -> set[int]:
        if self._by_name is None:
            self._by_name = {}
            for pk, legal_name in Customer.objects.values_list("pk", "legal_name"):
                self._by_name.setdefault(_normalize_name(legal_name), set()).add(pk)
        return self._by_name.get(name, set())


def _find_by_amount(data: EntryData, payers: _Payers) -> Invoice | None:
    customers = set()
    if data.counterparty_iban:
        customers |= set(
            Mandate.objects.filter(iban=data.counterparty_iban).values_list(
                "customer_id", flat=True
            )
        )
        customers |= set(
            BankEntry.objects.filter(
                counterparty_iban=data.counterparty_iban, invoice__isnull=False
            ).values_list("invoice__customer_id", flat=True)
        )
    name = _normalize_name(data.counterparty_name)
    if name:
        customers |= payers.named(name)
    if not customers:
        return None
    candidates = list(
        with_balance(_open_invoices().filter(customer_id__in=customers, paid_on__isnull=True))
        .filter(balance=data.amount)
        .order_by("due_date")[:2]
    )
    return candidates[0] if len(candidates) == 1 else None


def _settle(invoice: Invoice, on: date) -> None:
    """Set or clear the invoice's payment date from its balance (the day it reached zero)."""
    balance = invoice_balances(invoice_ids=[invoice.pk])[invoice.pk]
    paid_on = on if balance <= 0 else None
    if invoice.paid_on != paid_on and not (balance <= 0 and invoice.paid_on):
        invoice.paid_on = paid_on
        invoice.save(update_fields=["paid_on"])


def payment_record(
    *,
    invoice: Invoice,
    amount: Decimal,
    paid_on: date,
    kind: str,
    entry: BankEntry | None = None,
    direct_debit: DirectDebit | None = None,
    user=None,
) -> Payment:
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.kind != InvoiceKind.INVOICE or invoice.status != InvoiceStatus.ISSUED:
            raise PaymentError(
                _("%(invoice)s is not an issued invoice waiting for its payment.")
                % {"invoice": invoice}
            )
        payment = Payment.objects.create(
            invoice=invoice,
            amount=amount,
            paid_on=paid_on,
            kind=kind,
            entry=entry,
            direct_debit=direct_debit,
            recorded_by=user,
        )
        _settle(invoice, paid_on)
    return payment


def payment_record_balance(*, invoice: Invoice, paid_on: date, user=None) -> Payment | None:
    """A clerk records that an invoice was paid in full outside the bank files (a cheque, a
    transfer seen on the bank's site): a payment by hand of the balance still due, so the
    accounting export books it like any other. None when nothing is due any more."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        balance = invoice_balances(invoice_ids=[invoice.pk])[invoice.pk]
        if balance <= 0:
            return None
        return payment_record(
            invoice=invoice, amount=balance, paid_on=paid_on, kind=PaymentKind.MANUAL, user=user
        )


def _handle_return(entry: BankEntry, data: EntryData) -> bool:
    debit = (
        DirectDebit.objects.select_for_update()
        .select_related("invoice", "mandate")
        .filter(end_to_end_id=data.end_to_end_id)
        .first()
        if data.end_to_end_id
        else None
    )
    if debit is None or debit.status == DirectDebitStatus.RETURNED:
        return False
    debit.status = DirectDebitStatus.RETURNED
    debit.returned_on = data.booked_on
    debit.return_reason = data.return_reason
    debit.save(update_fields=["status", "returned_on", "return_reason"])
    collected = sum(p.amount for p in Payment.objects.filter(direct_debit=debit))
    if collected:
        payment_record(
            invoice=debit.invoice,
            amount=-collected,
            paid_on=data.booked_on,
            kind=PaymentKind.RETURN,
            entry=entry,
            direct_debit=debit,
        )
    else:
        _settle(debit.invoice, data.booked_on)
    Mandate.objects.filter(pk=debit.mandate_id).update(next_sequence=SequenceType.FIRST)
    entry.invoice = debit.invoice
    entry.status = EntryStatus.RETURNED
    entry.save(update_fields=["invoice", "status"])
    transaction.on_commit(lambda: _tell_staff_of_return(debit))
    return True


def _tell_staff_of_return(debit: DirectDebit) -> None:
    if not settings.PAYMENTS_STAFF_EMAILS:
        return
    try:
        send_mail(
            _("Direct debit returned: invoice %(number)s") % {"number": debit.invoice.number},
            _(
                "The direct debit of invoice %(number)s (%(customer)s, %(amount)s EUR, mandate "
                "%(mandate)s) was rejected or returned on %(date)s, reason %(reason)s.\n"
                "The invoice is due again; the next collection of the mandate is a first one."
            )
            % {
                "number": debit.invoice.number,
                "customer": debit.invoice.customer.legal_name,
                "amount": debit.amount,
                "mandate": debit.mandate.reference,
                "date": debit.returned_on,
                "reason": debit.return_reason or "—",
            },
            settings.DEFAULT_FROM_EMAIL,
            settings.PAYMENTS_STAFF_EMAILS,
        )
    except Exception as error:  # noqa: BLE001 - logged; the return is recorded anyway
        logger.warning("staff not told of the returned debit %s: %s", debit, error)


def _import_entry(
    statement: BankStatement, data: EntryData, result: ImportResult, payers: _Payers
) -> None:
    entry = BankEntry.objects.create(
        statement=statement,
        bank_reference=data.bank_reference,
        booked_on=data.booked_on,
        amount=data.amount,
        counterparty_name=data.counterparty_name,
        counterparty_iban=data.counterparty_iban,
        remittance=data.remittance,
        end_to_end_id=data.end_to_end_id,
        return_reason=data.return_reason,
        status=EntryStatus.UNMATCHED,
    )
    if data.amount < 0:
        if _handle_return(entry, data):
            result.returned.append(entry)
        elif data.is_return:
            result.unmatched.append(entry)  # a return we cannot place: for a clerk
        else:
            entry.status = EntryStatus.IGNORED
            entry.save(update_fields=["status"])
            result.ignored.append(entry)
        return
    debit = None
    if data.end_to_end_id:
        debit = (
            DirectDebit.objects.select_related("invoice")
            .filter(end_to_end_id=data.end_to_end_id, status=DirectDebitStatus.IN_COLLECTION)
            .first()
        )
    invoice = debit.invoice if debit else _find_by_reference(data) or _find_by_amount(data, payers)
    if invoice is None:
        result.unmatched.append(entry)
        return
    payment_record(
        invoice=invoice,
        amount=data.amount,
        paid_on=data.booked_on,
        kind=PaymentKind.BANK,
        entry=entry,
        direct_debit=debit,
    )
    entry.invoice = invoice
    entry.status = EntryStatus.MATCHED
    entry.save(update_fields=["invoice", "status"])
    result.matched.append(entry)


def bank_statement_import(*, filename: str, content: bytes, user=None) -> ImportResult:
    """Import a statement: entries already stored (same bank reference) are skipped, so importing
    it again changes nothing; a statement row is kept only when something new came in."""
    parsed = statement_parse(filename=filename, content=content)
    result = ImportResult(statement=None)
    with transaction.atomic():
        known = set(
            BankEntry.objects.filter(
                bank_reference__in=[e.bank_reference for e in parsed.entries]
            ).values_list("bank_reference", flat=True)
        )
        fresh = [e for e in parsed.entries if e.bank_reference not in known]
        result.already_imported = len(parsed.entries) - len(fresh)
        if not fresh:
            return result
        statement = BankStatement.objects.create(
            filename=filename[:255],
            format=parsed.format,
            account_iban=parsed.account_iban,
            imported_by=user,
        )
        result.statement = statement
        seen, payers = set(), _Payers()
        for data in fresh:
            if data.bank_reference in seen:
                continue
            seen.add(data.bank_reference)
            try:
                with transaction.atomic():
                    _import_entry(statement, data, result, payers)
            except IntegrityError:
                result.already_imported += 1  # stored meanwhile by another import
                continue
            result.new += 1
    return result


def bank_entry_match(*, entry: BankEntry, invoice: Invoice, user=None) -> Payment:
    """A clerk matches an entry left unmatched to an invoice: the payment is recorded."""
    with transaction.atomic():
        entry = BankEntry.objects.select_for_update().get(pk=entry.pk)
        if entry.status != EntryStatus.UNMATCHED or entry.amount <= 0:
            raise PaymentError(
                _("The entry %(reference)s is not a credit waiting to be matched.")
                % {"reference": entry.bank_reference}
            )
        payment = payment_record(
            invoice=invoice,
            amount=entry.amount,
            paid_on=entry.booked_on,
            kind=PaymentKind.MANUAL,
            entry=entry,
            user=user,
        )
        entry.invoice = invoice
        entry.status = EntryStatus.MATCHED
        entry.save(update_fields=["invoice", "status"])
    return payment


def invoice_by_number(*, number: str) -> Invoice:
    invoice = _open_invoices().filter(Q(number__iexact=(number or "").strip())).first()
    if invoice is None:
        raise PaymentError(
            _("%(value)s is not the number of an issued invoice.") % {"value": number},
            field="invoice",
        )
    return invoice
