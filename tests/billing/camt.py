"""Writes ISO 20022 camt.053.001.02 bank statements for the tests (lxml, no string templates)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lxml import etree

SELLER_IBAN = "FR7630006000011234567890189"
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


@dataclass
class Tx:
    amount: str
    reference: str  # the bank's reference (AcctSvcrRef)
    credit: bool = True
    name: str = ""
    iban: str = ""
    remittance: str = ""
    end_to_end: str = ""
    return_reason: str = ""
    booked_on: date = date(2026, 12, 2)


def _el(parent, tag, text=None, **attrs):
    node = etree.SubElement(parent, f"{{{NS}}}{tag}", **attrs)
    if text is not None:
        node.text = text
    return node


def camt053(
    transactions: list[Tx], *, statement_id="STMT-1", account="FR7630006000011234567890189"
):
    root = etree.Element(f"{{{NS}}}Document", nsmap={None: NS})
    report = _el(root, "BkToCstmrStmt")
    header = _el(report, "GrpHdr")
    _el(header, "MsgId", f"MSG-{statement_id}")
    _el(header, "CreDtTm", "2026-12-03T06:00:00")
    stmt = _el(report, "Stmt")
    _el(stmt, "Id", statement_id)
    _el(stmt, "CreDtTm", "2026-12-03T06:00:00")
    acct = _el(stmt, "Acct")
    _el(_el(acct, "Id"), "IBAN", account)
    _el(acct, "Ccy", "EUR")
    for tx in transactions:
        entry = _el(stmt, "Ntry")
        _el(entry, "Amt", str(Decimal(tx.amount)), Ccy="EUR")
        _el(entry, "CdtDbtInd", "CRDT" if tx.credit else "DBIT")
        if tx.return_reason:
            _el(entry, "RvslInd", "true")
        _el(entry, "Sts", "BOOK")
        _el(_el(entry, "BookgDt"), "Dt", tx.booked_on.isoformat())
        _el(_el(entry, "ValDt"), "Dt", tx.booked_on.isoformat())
        _el(entry, "AcctSvcrRef", tx.reference)
        family = _el(_el(entry, "BkTxCd"), "Prtry")
        _el(family, "Cd", "RDDT" if tx.return_reason else ("RCDT" if tx.credit else "PMNT"))
        details = _el(_el(entry, "NtryDtls"), "TxDtls")
        refs = _el(details, "Refs")
        _el(refs, "EndToEndId", tx.end_to_end or "NOTPROVIDED")
        parties = _el(details, "RltdPties")
        party = "Dbtr" if tx.credit else "Cdtr"
        if tx.name:
            _el(_el(parties, party), "Nm", tx.name)
        if tx.iban:
            _el(_el(_el(parties, f"{party}Acct"), "Id"), "IBAN", tx.iban)
        if tx.remittance:
            _el(_el(details, "RmtInf"), "Ustrd", tx.remittance)
        if tx.return_reason:
            _el(_el(_el(details, "RtrInf"), "Rsn"), "Cd", tx.return_reason)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
