"""Bank reconciliation: a statement (ISO 20022 camt.053, or a simple CSV) is parsed into entries,
each stored once by its bank reference; credits are matched to invoices (the invoice number in
the remittance information, a direct debit's end-to-end id, else the exact amount of one open
invoice of the payer) and recorded as payments; a returned direct debit puts its invoice back to
due, tells staff and makes the mandate's next collection a first one; the rest waits for a
clerk."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from lxml import etree

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
    StatementFormat,
)
from billing.payments.balances import invoice_balances, with_balance
from billing.payments.methods import PaymentError
from customers.models import Customer

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")


@dataclass
class EntryData:
    bank_reference: str
    booked_on: date
    amount: Decimal  # credit positive, debit negative
    counterparty_name: str = ""
    counterparty_iban: str = ""
    remittance: str = ""
    end_to_end_id: str = ""
    return_reason: str = ""
    is_return: bool = False


@dataclass
class ParsedStatement:
    format: str
    account_iban: str
    entries: list[EntryData]


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


def _text(node, path: str) -> str:
    if node is None:
        return ""
    found = node.find(path)
    return (found.text or "").strip() if found is not None and found.text else ""


def _all_text(node, path: str) -> list[str]:
    return [(n.text or "").strip() for n in node.iterfind(path) if n.text and n.text.strip()]


def _amount(value: str, *, where: str) -> Decimal:
    try:
        amount = Decimal(value.replace(" ", "").replace(",", "."))
    except InvalidOperation:
        raise PaymentError(
            _("%(where)s: %(value)s is not an amount.") % {"where": where, "value": value}
        ) from None
    if amount != amount.quantize(CENT):
        raise PaymentError(
            _("%(where)s: %(value)s has more than 2 decimals.") % {"where": where, "value": value}
        )
    return amount


def statement_parse_camt053(content: bytes) -> ParsedStatement:
    """The booked entries of a camt.053 (BkToCstmrStmt, any version: tags read without their
    namespace). An entry with several transactions (a batch) gives one entry per transaction."""
    try:
        root = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError as error:
        raise PaymentError(_("The file is not XML: %(error)s.") % {"error": error}) from None
    if root.find("{*}BkToCstmrStmt") is None:
        raise PaymentError(_("The file is not a camt.053 statement (no BkToCstmrStmt)."))
    entries: list[EntryData] = []
    account = ""
    for stmt in root.iterfind("{*}BkToCstmrStmt/{*}Stmt"):
        account = account or _text(stmt, "{*}Acct/{*}Id/{*}IBAN")
        stmt_id = _text(stmt, "{*}Id")
        for index, entry in enumerate(stmt.iterfind("{*}Ntry"), start=1):
            status = _text(entry, "{*}Sts") or _text(entry, "{*}Sts/{*}Cd")
            if status and status != "BOOK":
                continue
            where = _("entry %(n)d of statement %(id)s") % {"n": index, "id": stmt_id}
            sign = -1 if _text(entry, "{*}CdtDbtInd") == "DBIT" else 1
            booked = _text(entry, "{*}BookgDt/{*}Dt") or _text(entry, "{*}BookgDt/{*}DtTm")[:10]
            try:
                booked_on = date.fromisoformat(booked)
            except ValueError:
                raise PaymentError(
                    _("%(where)s: %(value)s is not a booking date.")
                    % {"where": where, "value": booked}
                ) from None
            entry_ref = _text(entry, "{*}AcctSvcrRef") or _text(entry, "{*}NtryRef")
            reversal = _text(entry, "{*}RvslInd") == "true"
            details = list(entry.iterfind("{*}NtryDtls/{*}TxDtls")) or [None]
            for number, tx in enumerate(details, start=1):
                amount_text = (
                    _text(tx, "{*}AmtDtls/{*}TxAmt/{*}Amt") or _text(tx, "{*}Amt")
                    if tx is not None and len(details) > 1
                    else _text(entry, "{*}Amt")
                )
                amount = sign * _amount(amount_text, where=where)
                party = "Dbtr" if sign > 0 else "Cdtr"
                name = _text(tx, f"{{*}}RltdPties/{{*}}{party}/{{*}}Nm") or _text(
                    tx, f"{{*}}RltdPties/{{*}}{party}/{{*}}Pty/{{*}}Nm"
                )
                iban = _text(tx, f"{{*}}RltdPties/{{*}}{party}Acct/{{*}}Id/{{*}}IBAN")
                remittance = (
                    " ".join(
                        _all_text(tx, "{*}RmtInf/{*}Ustrd")
                        + _all_text(tx, "{*}RmtInf/{*}Strd/{*}CdtrRefInf/{*}Ref")
                    )
                    if tx is not None
                    else ""
                )
                reason = _text(tx, "{*}RtrInf/{*}Rsn/{*}Cd")
                tx_ref = _text(tx, "{*}Refs/{*}AcctSvcrRef")
                end_to_end = _text(tx, "{*}Refs/{*}EndToEndId")
                if end_to_end == "NOTPROVIDED":
                    end_to_end = ""
                if tx_ref:
                    reference = tx_ref
                elif entry_ref:
                    reference = entry_ref if len(details) == 1 else f"{entry_ref}/{number}"
                else:
                    reference = _fallback_reference(
                        account, booked_on, amount, end_to_end, remittance, f"{index}/{number}"
                    )
                entries.append(
                    EntryData(
                        bank_reference=reference[:100],
                        booked_on=booked_on,
                        amount=amount,
                        counterparty_name=name[:140],
                        counterparty_iban=iban.replace(" ", "").upper()[:34],
                        remittance=remittance,
                        end_to_end_id=end_to_end[:35],
                        return_reason=reason[:100],
                        is_return=sign < 0 and (bool(reason) or reversal),
                    )
                )
    return ParsedStatement(format=StatementFormat.CAMT053, account_iban=account, entries=entries)


def _fallback_reference(*parts) -> str:
    return "H-" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:40]


CSV_COLUMNS = (
    "booking_date",
    "amount",
    "bank_reference",
    "counterparty_name",
    "counterparty_iban",
    "remittance",
)
CSV_OPTIONAL = ("end_to_end_id", "return_reason")


def statement_parse_csv(content: bytes) -> ParsedStatement:
    """A simple CSV (comma or semicolon, UTF-8, a header line): booking_date (YYYY-MM-DD or
    DD/MM/YYYY), amount (credit positive, debit negative; dot or comma), bank_reference,
    counterparty_name, counterparty_iban, remittance; optional end_to_end_id, return_reason."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PaymentError(_("The CSV file is not UTF-8.")) from None
    first = text.splitlines()[0] if text.strip() else ""
    reader = csv.DictReader(io.StringIO(text), delimiter=";" if ";" in first else ",")
    missing = [name for name in CSV_COLUMNS if name not in (reader.fieldnames or [])]
    if missing:
        raise PaymentError(
            _("The CSV file has no column %(columns)s.") % {"columns": ", ".join(missing)}
        )
    entries = []
    for line, row in enumerate(reader, start=2):
        where = _("line %(line)d") % {"line": line}
        value = (row.get("booking_date") or "").strip()
        booked_on = None
        for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                booked_on = datetime.strptime(value, pattern).date()  # noqa: DTZ007 - a date
                break
            except ValueError:
                continue
        if booked_on is None:
            raise PaymentError(
                _("%(where)s, booking_date: %(value)s is not a date (YYYY-MM-DD or DD/MM/YYYY).")
                % {"where": where, "value": value}
            )
        amount = _amount((row.get("amount") or "").strip(), where=f"{where}, amount")
        reference = (row.get("bank_reference") or "").strip()
        if not reference:
            raise PaymentError(
                _("%(where)s, bank_reference: a bank reference is required.") % {"where": where}
            )
        reason = (row.get("return_reason") or "").strip()
        entries.append(
            EntryData(
                bank_reference=reference[:100],
                booked_on=booked_on,
                amount=amount,
                counterparty_name=(row.get("counterparty_name") or "").strip()[:140],
                counterparty_iban=(row.get("counterparty_iban") or "")
                .replace(" ", "")
                .upper()[:34],
                remittance=(row.get("remittance") or "").strip(),
                end_to_end_id=(row.get("end_to_end_id") or "").strip()[:35],
                return_reason=reason[:100],
                is_return=amount < 0 and bool(reason),
            )
        )
    return ParsedStatement(format=StatementFormat.CSV, account_iban="", entries=entries)


def _compact(value: str | None) -> str:
    return (value or "").replace(" ", "").upper()


def statement_parse(*, filename: str, content: bytes) -> ParsedStatement:
    head = content.lstrip()[:200]
    if filename.lower().endswith(".xml") or head.startswith(b"<"):
        return statement_parse_camt053(content)
    return statement_parse_csv(content)


# --- Import and matching ----------------------------------------------------------------------


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


def _find_by_amount(data: EntryData) -> Invoice | None:
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
        customers |= {
            pk
            for pk, legal_name in Customer.objects.values_list("pk", "legal_name")
            if _normalize_name(legal_name) == name
        }
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


def _import_entry(statement: BankStatement, data: EntryData, result: ImportResult) -> None:
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
    invoice = debit.invoice if debit else _find_by_reference(data) or _find_by_amount(data)
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
        seen = set()
        for data in fresh:
            if data.bank_reference in seen:
                continue
            seen.add(data.bank_reference)
            try:
                with transaction.atomic():
                    _import_entry(statement, data, result)
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
