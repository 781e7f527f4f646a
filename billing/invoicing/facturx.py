"""E-invoices: the Factur-X of an issued invoice or credit note (EN 16931 profile).

The Cross Industry Invoice XML is built by the factur-x library (Akretion) from a dictionary of
EN 16931 terms (BT-1, BG-25…) filled from what the invoice froze at issue: its number and dates,
both parties' details, its lines and totals, its VAT decision. Nothing is recomputed: every amount
is copied from the invoice, so the XML says what the PDF says. The library checks the XML against
the XSD, then embeds it in the PDF/A-3b as `factur-x.xml` (AFRelationship Data, Factur-X XMP).

A credit note is type 381, references the invoice it cancels (BG-3) and states its amounts as
positive numbers (EN 16931: the type says it is a credit); its rows store them negated.

VAT categories (billing.vat's treatments, DOMAIN.md rule 11):
- STANDARD: S at the invoice's rate (France and Monaco, which is in the French VAT territory);
- REVERSE_CHARGE: AE (an EU business with its VAT number), exemption VATEX-EU-AE;
- OUTSIDE_EU: O, services outside the scope of French VAT (place of supply in the buyer's
  country, art. 259-1 CGI), exemption VATEX-EU-O. EN 16931 (BR-O-02) then forbids the VAT
  identifiers in the XML; the PDF still prints the seller's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.formats import date_format, number_format
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from facturx import generate_cii_xml, generate_from_binary, get_xml_from_pdf
from facturx.facturx import FACTURX_LEVEL2xsd
from lxml import etree
from pypdf.errors import PyPdfError

from billing import vat
from billing.formats import format_money
from billing.invoicing.content import InvoiceError
from billing.models import Invoice, InvoiceKind, InvoiceLine
from billing.months import Month

FACTURX_FILENAME = "factur-x.xml"
PDF_A_3B = "pdf/a-3b"
TYPE_INVOICE = "380"  # commercial invoice (UNTDID 1001)
TYPE_CREDIT_NOTE = "381"  # credit note
PAYMENT_CREDIT_TRANSFER = "58"  # SEPA credit transfer (UNTDID 4461)
PAYMENT_SEPA_DIRECT_DEBIT = "59"  # SEPA direct debit (UNTDID 4461)
# The French e-invoicing framework's "cadre de facturation" (BT-23): S1, an invoice for services
# only. It is the category of operation the reform asks for ("Prestations de services").
BUSINESS_PROCESS_SERVICES = "S1"
SCHEME_SIREN = "0002"  # ICD scheme of a SIREN (legal registration identifier)
SCHEME_FR_DIRECTORY = "0225"  # electronic address in the French e-invoicing directory
SCHEME_EMAIL = "EM"  # electronic address: an e-mail address
UNIT_ONE = "C62"  # unit of measure "one" (UN/ECE rec. 20)

VAT_CATEGORIES = {
    vat.STANDARD: ("S", ""),
    vat.REVERSE_CHARGE: ("AE", "VATEX-EU-AE"),
    vat.OUTSIDE_EU: ("O", "VATEX-EU-O"),
}


class FacturXError(InvoiceError):
    """An invoice that cannot be made into a Factur-X (the library's message says why): its
    issue is refused, like any invoicing error (nothing stored, the number given back)."""


def _money(value: Decimal, *, negate: bool = False) -> str:
    value = -value if negate else value
    return f"{value:.2f}"


def _price(value: Decimal) -> str:
    """A unit price: its stored decimals, at least two (a price per point may have four)."""
    text = f"{value.normalize():f}"
    whole, _dot, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def _address(street: str, postcode: str, city: str, country: str) -> dict:
    lines = [line.strip() for line in (street or "").splitlines() if line.strip()]
    if len(lines) > 3:  # EN 16931 has three address lines: the rest joins the third
        lines = [*lines[:2], ", ".join(lines[2:])]
    address = {f"addr_l{number}": line for number, line in enumerate(lines, start=1)}
    address.update(postcode=postcode, city=city, country_code=country)
    return {key: value for key, value in address.items() if value}


def _seller(invoice: Invoice) -> dict:
    seller = invoice.seller
    party = {
        "name": seller["legal_name"],
        "legal_identifier": seller["siren"],
        "legal_identifier_schemeid": SCHEME_SIREN,
        "legal_info": " · ".join(
            part
            for part in (
                seller.get("legal_form"),
                _("share capital %(capital)s") % {"capital": seller.get("capital")},
                seller.get("rcs"),
            )
            if part
        ),
        "einvoicing_addr": seller["siren"],
        "einvoicing_addr_schemeid": SCHEME_FR_DIRECTORY,
        "contacts": [{"email": seller["email"]}] if seller.get("email") else [],
        **_address(seller["street"], seller["postcode"], seller["city"], seller["country"]),
    }
    if invoice.vat_treatment != vat.OUTSIDE_EU:
        party["vat_identifier"] = seller["vat_number"]
    return party


def _buyer(invoice: Invoice) -> dict:
    buyer = invoice.buyer
    party = {
        "name": buyer["legal_name"],
        **_address(buyer["address"], buyer["postal_code"], buyer["city"], buyer["country"]),
    }
    if buyer.get("siren"):
        party["legal_identifier"] = buyer["siren"]
        party["legal_identifier_schemeid"] = SCHEME_SIREN
        party["einvoicing_addr"] = buyer["siren"]
        party["einvoicing_addr_schemeid"] = SCHEME_FR_DIRECTORY
    elif buyer.get("billing_emails"):
        party["einvoicing_addr"] = buyer["billing_emails"][0]
        party["einvoicing_addr_schemeid"] = SCHEME_EMAIL
    if buyer.get("vat_number") and invoice.vat_treatment != vat.OUTSIDE_EU:
        party["vat_identifier"] = buyer["vat_number"]
    return party


def exemption_reason(invoice: Invoice) -> str:
    """The legal VAT mention of the invoice's treatment, the PDF's words ("" for VAT charged)."""
    if invoice.vat_treatment in ("", vat.STANDARD):
        return ""
    html = render_to_string("billing/vat_mention.html", {"mention": invoice.vat_treatment})
    return " ".join(html.split())


def _notes(invoice: Invoice) -> list[dict]:
    """The notes (BG-1) of the French reform: the kind of exchange (BAR: B2B for a business in
    France, whose SIREN is then required; B2BINT for one abroad, Monaco included, outside the
    French e-invoicing directory), and the legal mentions: the recovery indemnity (PMT), the
    late-payment penalties (PMD), no discount for early payment (AAB)."""
    seller = invoice.seller
    indemnity = Decimal(seller.get("recovery_indemnity") or "0")
    rate = Decimal(seller.get("late_payment_rate") or "0")
    return [
        {"BT-21": "BAR", "BT-22": "B2B" if invoice.buyer["country"] == "FR" else "B2BINT"},
        {
            "BT-21": "PMT",
            "BT-22": _("Fixed indemnity for recovery costs in case of late payment: %(amount)s.")
            % {"amount": format_money(indemnity)},
        },
        {
            "BT-21": "PMD",
            "BT-22": _(
                "Late payment: penalties at the annual rate of %(rate)s %%, from the due date "
                "(French Commercial Code, article L441-10)."
            )
            % {"rate": number_format(rate, decimal_pos=2, use_l10n=True)},
        },
        {"BT-21": "AAB", "BT-22": _("No discount for early payment.")},
    ]


def facturx_data(invoice: Invoice, lines: list[InvoiceLine]) -> dict:
    """The EN 16931 terms of an issued invoice or credit note, from its frozen data, in the
    invoice's language (descriptions and mentions as its PDF prints them)."""
    with translation.override(invoice.language):
        return _data(invoice, lines)


def _data(invoice: Invoice, lines: list[InvoiceLine]) -> dict:
    credit = invoice.kind == InvoiceKind.CREDIT_NOTE
    month = Month.of(invoice.month)
    last_day = month.next().first_day - timedelta(days=1)
    category, exemption_code = VAT_CATEGORIES[invoice.vat_treatment or vat.STANDARD]
    # "Not subject to VAT" (O) states no rate at all (BR-O-05, BR-O-10).
    rate = {} if category == "O" else {"BT-119": _money(invoice.vat_rate)}
    tax = {
        "BT-116": _money(invoice.net_total, negate=credit),
        "BT-117": _money(invoice.vat_amount, negate=credit),
        "BT-118": category,
        **rate,
    }
    if exemption_code:
        tax["BT-120"] = exemption_reason(invoice)
        tax["BT-121"] = exemption_code
    data = {
        "BT-1": invoice.number,
        "BT-2": invoice.issue_date,
        "BT-3": TYPE_CREDIT_NOTE if credit else TYPE_INVOICE,
        "BT-5": "EUR",
        # VAT on services is due on payment, unless the seller opted for debits: then on the
        # invoice date (UNTDID 2005 code 5 for "invoice", 72 for "payment").
        "BT-8": "invoice" if invoice.seller.get("vat_on_debits") else "payment",
        "BT-23": BUSINESS_PROCESS_SERVICES,
        "BT-24": "urn:cen.eu:en16931:2017",
        "BG-4": _seller(invoice),
        "BG-7": _buyer(invoice),
        "BT-10": invoice.buyer["code"],
        # The service is the month: its period, and its last day as the date of supply.
        "BT-72": last_day,
        "BT-73": month.first_day,
        "BT-74": last_day,
        "BG-1": _notes(invoice),
        "BG-23": [tax],
        "BT-106": _money(invoice.net_total, negate=credit),
        "BT-109": _money(invoice.net_total, negate=credit),
        "BT-110": _money(invoice.vat_amount, negate=credit),
        "BT-112": _money(invoice.total, negate=credit),
        "BT-115": _money(invoice.total, negate=credit),
        "BG-25": [
            {
                "BT-126": str(line.position),
                "BT-153": line.description,
                "BT-129": str(-line.quantity if credit else line.quantity),
                "BT-130": UNIT_ONE,
                "BT-146": _price(line.unit_price),
                "BT-151": category,
                **({"BT-152": rate["BT-119"]} if rate else {}),
                "BT-131": _money(line.amount, negate=credit),
            }
            for line in lines
        ],
    }
    if credit:
        original = invoice.credited_invoice
        data["BG-3"] = [{"BT-25": original.number, "BT-26": original.issue_date}]
        data["BT-20"] = _(
            "Credit note cancelling invoice %(number)s in full: refunded or deducted from a "
            "later payment."
        ) % {"number": original.number}
    else:
        due = date_format(invoice.due_date, "DATE_FORMAT")
        data["BT-9"] = invoice.due_date
        data["BT-83"] = invoice.number
        debit = invoice.buyer.get("direct_debit")
        if debit:  # SEPA direct debit under the mandate the invoice froze
            data["BT-20"] = _(
                "Payment due by %(due)s, collected by SEPA direct debit under mandate "
                "%(mandate)s. No discount for early payment."
            ) % {"due": due, "mandate": debit["mandate"]}
            data["BT-81"] = PAYMENT_SEPA_DIRECT_DEBIT
            data["BT-82"] = pgettext("payment means", "SEPA direct debit")
            data["BT-89"] = debit["mandate"]
            data["BT-90"] = debit["creditor_id"]
            data["BT-91"] = debit["iban"]
        else:
            data["BT-20"] = _(
                "Payment due by %(due)s by credit transfer, quoting %(number)s. No discount for "
                "early payment."
            ) % {"due": due, "number": invoice.number}
            data["BT-81"] = PAYMENT_CREDIT_TRANSFER
            data["BT-82"] = _("Credit transfer")
            data["BT-84"] = invoice.seller["iban"]
            data["BT-86"] = invoice.seller["bic"]
    return data


@functools.cache
def _schema() -> etree.XMLSchema:
    """The Factur-X EN 16931 XSD, parsed once per process (the library parses it at each check:
    a few milliseconds per invoice)."""
    xsd = resources.files("facturx") / "xsd_and_schematron" / FACTURX_LEVEL2xsd["en16931"]
    return etree.XMLSchema(file=str(xsd))


def facturx_xml(invoice: Invoice, lines: list[InvoiceLine] | None = None) -> bytes:
    """The CII XML (EN 16931) of an issued invoice or credit note, checked against its XSD."""
    if lines is None:
        lines = list(invoice.lines.all())
    try:
        xml = generate_cii_xml(
            facturx_data(invoice, lines),
            level="en16931",
            check_xsd=False,  # checked below against the schema kept per process
            check_schematron=False,  # the library's check needs a Saxon server: see checks
        )
    except Exception as error:  # the library raises bare Exceptions
        raise FacturXError(str(error)) from error
    schema = _schema()
    if not schema.validate(etree.fromstring(xml)):
        raise FacturXError(
            _(
                "The e-invoice's XML is refused by the Factur-X XML Schema Definition "
                "(EN 16931): %(error)s"
            )
            % {"error": schema.error_log.last_error}
        )
    return xml


def facturx_pdf(*, invoice: Invoice, pdf: bytes, xml: bytes) -> bytes:
    """The invoice's PDF/A-3b with its XML embedded as factur-x.xml (AFRelationship Data)."""
    with translation.override(invoice.language):
        kind = _("Credit note") if invoice.kind == InvoiceKind.CREDIT_NOTE else _("Invoice")
        metadata = {
            "author": invoice.seller["legal_name"],
            "keywords": "Factur-X",
            "title": f"{kind} {invoice.number}",
            "subject": f"{kind} {invoice.number} — {invoice.buyer['legal_name']}",
        }
    return generate_from_binary(
        pdf,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=False,  # facturx_xml checked it
        pdf_metadata=metadata,
        lang="en-GB" if invoice.language == "en" else "fr-FR",
        afrelationship="data",
    )


def invoice_facturx_pdf(
    invoice: Invoice, lines: list[InvoiceLine], *, xml: bytes | None = None
) -> bytes:
    """What issuing stores: the PDF/A-3b of the invoice carrying its Factur-X XML (`xml`: the
    one issuing built and checked, else built now)."""
    from billing.invoicing.pdf import invoice_pdf

    if xml is None:
        xml = facturx_xml(invoice, lines)
    return facturx_pdf(invoice=invoice, pdf=invoice_pdf(invoice, lines, variant=PDF_A_3B), xml=xml)


def einvoice_issued(*, invoice_id: int) -> None:
    """Hand an issued document to the platform connector (settings.EINVOICE_ISSUED_HOOK, a
    dotted path), if one is set; called after the issuing transaction commits."""
    if not settings.EINVOICE_ISSUED_HOOK:
        return
    hook = import_string(settings.EINVOICE_ISSUED_HOOK)
    hook(Invoice.objects.select_related("customer").get(pk=invoice_id))


def facturx_xml_from_pdf(pdf: bytes) -> bytes | None:
    """The factur-x.xml a stored PDF carries (None for a PDF issued before e-invoices)."""
    try:
        filename, xml = get_xml_from_pdf(bytes(pdf), check_xsd=False, filenames=[FACTURX_FILENAME])
    except (PyPdfError, ValueError):  # not a PDF pypdf reads: no e-invoice in it
        return None
    return xml if filename else None


def invoice_facturx_xml(invoice: Invoice) -> bytes | None:
    """The XML an issued document carries: read from its stored PDF, never rebuilt."""
    if not invoice.pdf:
        return None
    return facturx_xml_from_pdf(invoice.pdf)


@dataclass
class ExportReport:
    written: list[Path] = field(default_factory=list)
    without_einvoice: list[str] = field(default_factory=list)  # issued before e-invoices
    problems: dict[str, list] = field(default_factory=dict)  # number -> checks' problems


def facturx_export(*, start: date, end: date, folder: Path, check: bool = False) -> ExportReport:
    """Write the Factur-X PDFs (the stored bytes) of the invoices and credit notes issued from
    `start` to `end` included into `folder`, as <number>.pdf; with `check`, run the XSD and
    Schematron checks on each one's XML (billing.invoicing.facturx_checks). One query."""
    from billing.invoicing.facturx_checks import facturx_check

    folder.mkdir(parents=True, exist_ok=True)
    report = ExportReport()
    documents = (
        Invoice.objects.filter(issue_date__gte=start, issue_date__lte=end, number__isnull=False)
        .order_by("issue_date", "series", "sequence")
        .values_list("number", "pdf")
    )
    for number, pdf in documents.iterator(chunk_size=100):
        xml = facturx_xml_from_pdf(pdf) if pdf else None
        if xml is None:
            report.without_einvoice.append(number)
            continue
        path = folder / f"{number}.pdf"
        path.write_bytes(bytes(pdf))
        report.written.append(path)
        if check:
            problems = facturx_check(xml)
            if problems:
                report.problems[number] = problems
    return report
