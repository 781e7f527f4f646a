"""Bank statement files read into plain entries: ISO 20022 camt.053 (any version, with lxml)
and a simple CSV. Nothing is stored here; billing.payments.statements matches and records."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _
from lxml import etree

from billing.models import (
    StatementFormat,
)
from billing.payments.methods import PaymentError

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
