"""Factur-X: every issued invoice and credit note is a PDF/A-3b carrying its CII XML (EN 16931),
valid against the XSD, EN 16931's rules and the French reform's (BR-FR), with the invoice's
amounts; the checks are seen to refuse a broken total and a missing SIREN."""

import io
import re
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree
from pypdf import PdfReader

from billing.invoicing.facturx import (
    facturx_xml,
    facturx_xml_from_pdf,
    invoice_facturx_xml,
)
from billing.invoicing.facturx_checks import facturx_check
from billing.invoicing.issue import invoice_cancel
from billing.models import Invoice
from billing.usage.store import events_ingest
from tests.billing.test_invoicing import ISSUE_DAY, RECEIVED, chats, grow_3234, issue, pdf_text
from tests.factories import CustomerFactory, subscribe

pytestmark = pytest.mark.django_db

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}


def read(xml: bytes, path: str) -> list[str]:
    nodes = etree.fromstring(xml).xpath(path, namespaces=NS)
    return [node if isinstance(node, str) else node.text for node in nodes]


def one(xml: bytes, path: str) -> str:
    values = read(xml, path)
    assert len(values) == 1, (path, values)
    return values[0]


@pytest.fixture
def today(clock):
    clock.now = ISSUE_DAY
    return clock


SETTLEMENT = "//ram:ApplicableHeaderTradeSettlement"
TOTALS = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"


def within_quota(code="garage-calme"):
    dealer = CustomerFactory(code=code)
    subscribe(dealer, "GROW", first_month=date(2026, 1, 1))
    assert (
        events_ingest(
            source="platform", events=chats(code, "test_drive", "agent", 10), now=RECEIVED
        ).accepted
        == 10
    )
    return dealer


def enterprise(code="groupe-auto"):
    dealer = CustomerFactory(code=code)
    subscribe(
        dealer,
        "ENTERPRISE",
        first_month=date(2026, 1, 1),
        custom_monthly_fee=Decimal("2500.00"),
        custom_included_points=20000,
        custom_price_per_extra_point=Decimal("0.1125"),
    )
    events = chats(code, "test_drive", "agent", 320)  # 20,800 points: 800 extra
    assert events_ingest(source="platform", events=events, now=RECEIVED).accepted == 320
    return dealer


CASES = {
    "domestic": lambda: grow_3234(),
    "within quota": within_quota,
    "enterprise": enterprise,
    "reverse charge (Belgium)": lambda: grow_3234(
        "garage-bruxelles",
        country="BE",
        vat_number="BE0403170701",
        postal_code="1000",
        city="Bruxelles",
        language="fr",
    ),
    "outside the EU (Switzerland)": lambda: grow_3234(
        "garage-geneve", country="CH", postal_code="1201", city="Genève", language="fr"
    ),
    "Monaco": lambda: grow_3234(
        "garage-monaco",
        country="MC",
        vat_number="FR42000012345",
        postal_code="98000",
        city="Monaco",
    ),
}
CATEGORIES = {
    "domestic": ("S", "20.00"),
    "within quota": ("S", "20.00"),
    "enterprise": ("S", "20.00"),
    "reverse charge (Belgium)": ("AE", "0.00"),
    "outside the EU (Switzerland)": ("O", None),
    "Monaco": ("S", "20.00"),
}


def assert_amounts_are_the_invoice_s(invoice: Invoice, xml: bytes, *, sign=1):
    def amount(path):
        return sign * Decimal(one(xml, path))

    assert amount(f"{TOTALS}/ram:LineTotalAmount") == invoice.net_total
    assert amount(f"{TOTALS}/ram:TaxBasisTotalAmount") == invoice.net_total
    assert amount(f"{TOTALS}/ram:TaxTotalAmount") == invoice.vat_amount
    assert amount(f"{TOTALS}/ram:GrandTotalAmount") == invoice.total
    assert amount(f"{TOTALS}/ram:DuePayableAmount") == invoice.total
    assert amount(f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:BasisAmount") == invoice.net_total
    assert amount(f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:CalculatedAmount") == (
        invoice.vat_amount
    )
    assert [
        Decimal(rate)
        for rate in read(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:RateApplicablePercent")
    ] == ([invoice.vat_rate] if invoice.vat_treatment != "outside_eu" else [])

    def line(n, name):
        return one(xml, f"//ram:IncludedSupplyChainTradeLineItem[{n}]//ram:{name}")

    xml_lines = [
        (
            int(line(n, "LineID")),
            sign * int(line(n, "BilledQuantity")),
            Decimal(line(n, "ChargeAmount")),
            sign * Decimal(line(n, "LineTotalAmount")),
        )
        for n in range(1, len(read(xml, "//ram:IncludedSupplyChainTradeLineItem")) + 1)
    ]
    assert xml_lines == [
        (line.position, line.quantity, line.unit_price, line.amount) for line in invoice.lines.all()
    ]


@pytest.mark.parametrize("case", list(CASES))
def test_every_invoice_is_a_valid_factur_x_with_its_amounts(case, today):
    dealer = CASES[case]()
    invoice = issue(dealer)
    xml = invoice_facturx_xml(invoice)
    assert xml is not None
    assert facturx_check(xml) == []
    assert one(xml, "//rsm:ExchangedDocument/ram:TypeCode") == "380"
    assert one(xml, "//rsm:ExchangedDocument/ram:ID") == invoice.number
    category, rate = CATEGORIES[case]
    assert read(xml, "//ram:ApplicableTradeTax/ram:CategoryCode") == [category] * (
        len(read(xml, "//ram:IncludedSupplyChainTradeLineItem")) + 1
    )
    assert read(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:RateApplicablePercent") == (
        [rate] if rate else []
    )
    assert_amounts_are_the_invoice_s(invoice, xml)
    # How to pay: credit transfer to the seller's IBAN, quoting the invoice number.
    assert one(xml, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "58"
    assert one(xml, "//ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == (
        "FR7630006000011234567890189"
    )
    assert one(xml, f"{SETTLEMENT}/ram:PaymentReference") == invoice.number
    # The category of operation: services (cadre de facturation S1).
    assert one(xml, "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID") == "S1"
    # The XML the PDF carries is the one built from the invoice's frozen data.
    assert xml == facturx_xml(invoice)


def test_the_reasons_of_the_vat_exemptions(today):
    belgian = issue(CASES["reverse charge (Belgium)"]())
    xml = invoice_facturx_xml(belgian)
    assert one(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:ExemptionReasonCode") == (
        "VATEX-EU-AE"
    )
    assert "Autoliquidation" in one(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:ExemptionReason")
    assert one(xml, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == "BE0403170701"
    swiss = issue(CASES["outside the EU (Switzerland)"]())
    xml = invoice_facturx_xml(swiss)
    assert one(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:ExemptionReasonCode") == (
        "VATEX-EU-O"
    )
    assert "259-1" in one(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:ExemptionReason")


def test_a_french_buyer_s_siren_and_the_seller_s_structured_address(today):
    dealer = grow_3234(siren="732829320", vat_number="FR44732829320")
    xml = invoice_facturx_xml(issue(dealer))
    assert one(xml, "//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID") == "732829320"
    assert read(xml, "//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID/@schemeID") == [
        "0002"
    ]
    seller = "//ram:SellerTradeParty/ram:PostalTradeAddress"
    assert [
        one(xml, f"{seller}/ram:{part}")
        for part in ("PostcodeCode", "LineOne", "CityName", "CountryID")
    ] == ["75011", "12 rue de la Messagerie", "Paris", "FR"]


def test_a_credit_note_is_type_381_with_positive_amounts_and_the_invoice_it_cancels(today):
    invoice = issue(grow_3234())
    note = invoice_cancel(invoice=invoice)
    xml = invoice_facturx_xml(note)
    assert facturx_check(xml) == []
    assert one(xml, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert one(xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == invoice.number
    assert one(xml, f"{TOTALS}/ram:GrandTotalAmount") == "638.11"
    assert note.total == Decimal("-638.11")
    assert_amounts_are_the_invoice_s(note, xml, sign=-1)


def test_the_checks_bite_on_a_broken_total_and_a_missing_siren(today):
    invoice = issue(grow_3234())
    xml = invoice_facturx_xml(invoice)
    assert facturx_check(xml) == []
    broken = xml.replace(b"<ram:GrandTotalAmount>638.11<", b"<ram:GrandTotalAmount>638.12<")
    assert broken != xml
    assert "BR-CO-15" in {problem.rule for problem in facturx_check(broken)}
    no_siren = re.sub(
        rb"<ram:BuyerTradeParty>(.*?)<ram:SpecifiedLegalOrganization>.*?"
        rb"</ram:SpecifiedLegalOrganization>",
        rb"<ram:BuyerTradeParty>\1",
        xml,
        flags=re.S,
    )
    assert no_siren != xml
    problems = facturx_check(no_siren)
    assert any(problem.rule.startswith("BR-FR-11") for problem in problems), problems
    not_xml_valid = xml.replace(b"<ram:TypeCode>380</ram:TypeCode>", b"")
    assert [problem.rule for problem in facturx_check(not_xml_valid)] == ["XSD"]


def test_the_pdf_is_pdf_a_3b_with_the_xml_as_associated_data(today):
    invoice = issue(grow_3234())
    reader = PdfReader(io.BytesIO(bytes(invoice.pdf)))
    catalog = reader.trailer["/Root"]
    xmp = catalog["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part(>|=\")3", xmp), xmp
    assert re.search(r"pdfaid:conformance(>|=\")B", xmp), xmp
    assert re.search(r"fx:DocumentFileName(>|=\")factur-x.xml", xmp), xmp
    files = [spec.get_object() for spec in catalog["/AF"]]
    assert [(spec["/F"], spec["/AFRelationship"]) for spec in files] == [("factur-x.xml", "/Data")]
    assert facturx_xml_from_pdf(bytes(invoice.pdf)) == invoice_facturx_xml(invoice)
    assert "Total TTC 638,11 €" in pdf_text(invoice)


# --- The platform hook and the export ------------------------------------------------------------

HANDED = []


def platform_connector(invoice):
    """A stand-in connector (settings.EINVOICE_ISSUED_HOOK): records what it is handed."""
    HANDED.append((invoice.number, facturx_xml_from_pdf(bytes(invoice.pdf)) is not None))


def test_the_hook_is_called_with_each_issued_document_after_commit(
    today, settings, django_capture_on_commit_callbacks
):
    HANDED.clear()
    settings.EINVOICE_ISSUED_HOOK = "tests.billing.test_facturx.platform_connector"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    dealer = grow_3234()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invoice = issue(dealer)
    assert HANDED == []  # nothing before the commit
    for callback in callbacks:
        callback()
    with django_capture_on_commit_callbacks(execute=True):
        note = invoice_cancel(invoice=invoice)
    assert [(invoice.number, True), (note.number, True)] == HANDED


def test_no_hook_by_default(today, settings, django_capture_on_commit_callbacks):
    HANDED.clear()
    assert settings.EINVOICE_ISSUED_HOOK is None
    with django_capture_on_commit_callbacks(execute=True):
        issue(grow_3234())
    assert HANDED == []


def test_export_writes_the_period_s_factur_x_files(today, tmp_path):
    from django.core.management import call_command

    invoice = issue(grow_3234())
    note = invoice_cancel(invoice=invoice)
    out = io.StringIO()
    call_command(
        "export_facturx",
        str(tmp_path / "nov"),
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--check",
        stdout=out,
    )
    assert "2 Factur-X files written" in out.getvalue()
    files = sorted(path.name for path in (tmp_path / "nov").iterdir())
    assert files == [f"{note.number}.pdf", f"{invoice.number}.pdf"]
    assert (tmp_path / "nov" / f"{invoice.number}.pdf").read_bytes() == bytes(invoice.pdf)
    call_command(
        "export_facturx",
        str(tmp_path / "oct"),
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        stdout=out,
    )
    assert list((tmp_path / "oct").iterdir()) == []


def test_export_refuses_bad_dates(tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="2026-13-01 is not a date"):
        call_command("export_facturx", str(tmp_path), "--from", "2026-13-01", "--to", "2026-12-31")
    with pytest.raises(CommandError, match="is after"):
        call_command("export_facturx", str(tmp_path), "--from", "2026-12-01", "--to", "2026-11-30")


# --- The reform's mentions and how to pay, on the PDF ---------------------------------------------


def test_the_pdf_carries_the_new_mentions_in_french(today):
    text = pdf_text(issue(grow_3234(siren="404833048", vat_number="FR83404833048")))
    for expected in (
        "Catégorie de l'opération Prestations de services",
        "SIREN 404833048",
        "Moyen de paiement Virement",
        "IBAN FR76 3000 6000 0112 3456 7890 189",
        "BIC AGRIFRPP",
        "Référence de paiement F2026-00001",
        "12 rue de la Messagerie 75011 Paris",
        "Total TTC 638,11 €",
    ):
        assert expected in text, expected
    assert "débits" not in text  # the option is printed only when chosen
    assert "75011 Paris France" not in text  # a buyer in France: the seller's country goes unsaid


def test_the_pdf_carries_the_new_mentions_in_english_to_a_buyer_abroad(today, settings):
    settings.SELLER = {**settings.SELLER, "vat_on_debits": True}
    dealer = grow_3234(
        "garage-geneve", country="CH", postal_code="1201", city="Genève", language="en"
    )
    invoice = issue(dealer)
    text = pdf_text(invoice)
    for expected in (
        "Category of operation Services",
        "Payment means Credit transfer",
        "Payment reference F2026-00001",
        "12 rue de la Messagerie 75011 Paris France",  # the seller's country, to a buyer abroad
        "Option for paying VAT on debits.",
        "Total incl. VAT €531.76",
    ):
        assert expected in text, expected
    # VAT on debits: the VAT point is the invoice date (code 5), not the payment (72).
    xml = invoice_facturx_xml(invoice)
    assert read(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:DueDateTypeCode") == ["5"]
    assert facturx_check(xml) == []


def test_without_the_option_the_vat_point_is_the_payment(today):
    xml = invoice_facturx_xml(issue(grow_3234()))
    assert read(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:DueDateTypeCode") == ["72"]


def test_a_document_its_xsd_refuses_is_not_issued_and_gives_its_number_back(today, monkeypatch):
    from billing.invoicing import facturx
    from billing.invoicing.content import InvoiceError

    dealer = grow_3234()
    real = facturx.facturx_data
    monkeypatch.setattr(
        facturx, "facturx_data", lambda invoice, lines: {**real(invoice, lines), "BG-25": []}
    )
    with pytest.raises(InvoiceError, match="XML Schema Definition"):
        issue(dealer)
    assert not Invoice.objects.filter(status="issued").exists()
    monkeypatch.undo()
    assert issue(dealer).number == "F2026-00001"


def test_the_admin_shows_the_seller_s_structured_address(today, client):
    from django.urls import reverse

    from tests.factories import UserFactory

    invoice = issue(grow_3234())
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    for part in ("12 rue de la Messagerie", "75011", "Paris"):
        assert f"<div>{part}</div>" in page, part
    assert reverse("admin:billing_invoice_xml", args=[invoice.pk]) in page


def test_a_customer_under_a_sepa_mandate_is_debited_in_the_xml_and_the_pdf(today):
    """Payment means 59 with the mandate (RUM), the creditor identifier (ICS) and the debited
    account, frozen at issue; the PDF says so instead of asking for a transfer."""
    from billing.payments.methods import MandateInput, mandate_create

    dealer = grow_3234(siren="404833048", vat_number="FR83404833048")
    mandate = mandate_create(
        customer=dealer,
        data=MandateInput(
            debtor_name=dealer.legal_name,
            iban="DE89370400440532013000",
            signed_on=date(2026, 10, 1),
            signed_place="Lyon",
            signer_name="Marie Dupont",
        ),
        today=date(2026, 10, 1),
    )
    invoice = issue(dealer)
    xml = invoice_facturx_xml(invoice)

    assert facturx_check(xml) == []
    assert one(xml, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "59"
    assert one(xml, "//ram:DirectDebitMandateID") == mandate.reference
    assert one(xml, f"{SETTLEMENT}/ram:CreditorReferenceID") == mandate.creditor_id
    assert one(xml, "//ram:PayerPartyDebtorFinancialAccount/ram:IBANID") == (
        "DE89370400440532013000"
    )
    assert read(xml, "//ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == []
    assert_amounts_are_the_invoice_s(invoice, xml)
    text = pdf_text(invoice)
    for expected in (
        "Moyen de paiement Prélèvement SEPA",
        f"Référence unique du mandat (RUM) {mandate.reference}",
        f"Identifiant créancier SEPA (ICS) {mandate.creditor_id}",
        "Compte débité DE89 •••• •••• •••• ••30 00",
    ):
        assert expected in text, expected
    assert "Moyen de paiement Virement" not in text
