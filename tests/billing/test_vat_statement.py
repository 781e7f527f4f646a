"""One VAT decision (DOMAIN.md rule 11): for every treatment, the month's statement (the
`statement --json` command), its draft and its issued invoice agree field by field; the customer's
admin page and the report show the same; an issued month keeps what its invoice froze."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from billing.admin.customers import render_statement
from billing.invoicing.drafts import invoices_draft
from billing.invoicing.issue import invoice_issue
from billing.models import Invoice
from billing.months import Month
from billing.portal.report import month_report
from billing.usage.selectors import month_statement
from billing.usage.store import events_ingest
from tests.factories import CustomerFactory, subscribe

pytestmark = pytest.mark.django_db

OCTOBER = Month(2026, 10)
RECEIVED = datetime(2026, 11, 2, 9, tzinfo=UTC)
ISSUE_DAY = datetime(2026, 11, 3, 10, tzinfo=UTC)

# DOMAIN.md's GROW month of 3,234 points: net 499.00 + 234 × 0.14 = 531.76.
NET = Decimal("531.76")

TREATMENTS = {
    # domestic: a French dealer, French VAT 20 %
    "france": (
        {"country": "FR", "vat_number": "FR44732829320", "siren": "732829320"},
        ("standard", "20.00", "106.35", "638.11"),
    ),
    # reverse charge: a Belgian business with its VAT number (the issue's case)
    "belgium": (
        {"country": "BE", "vat_number": "BE0123456789"},
        ("reverse_charge", "0.00", "0.00", "531.76"),
    ),
    # another EU business: the same for a German one, and for an Irish one in English
    "germany": (
        {"country": "DE", "vat_number": "DE123456789", "language": "en"},
        ("reverse_charge", "0.00", "0.00", "531.76"),
    ),
    # outside the EU: a Swiss dealer, no French VAT
    "switzerland": (
        {"country": "CH"},
        ("outside_eu", "0.00", "0.00", "531.76"),
    ),
    # Monaco: inside the French VAT territory, French VAT 20 %, with its FR number
    "monaco": (
        {"country": "MC", "vat_number": "FR53000004605", "postal_code": "98000"},
        ("standard", "20.00", "106.35", "638.11"),
    ),
    # an EU business without a VAT number: French VAT
    "eu-without-number": (
        {"country": "BE"},
        ("standard", "20.00", "106.35", "638.11"),
    ),
    # the staff's override: a Swiss dealer billed with French VAT
    "staff-override": (
        {"country": "CH", "vat_treatment": "standard"},
        ("standard", "20.00", "106.35", "638.11"),
    ),
}


def chats(code, tariff, actor, count, contact=None):
    return [
        {
            "id": f"{code}-{tariff}-{actor}-{n}",
            "customer": code,
            "tariff": tariff,
            "actor": actor,
            "occurred_at": "2026-10-15T10:00:00+02:00",
            **({"contact": f"{contact}-{n}"} if contact else {}),
        }
        for n in range(count)
    ]


def dealer_of(case):
    details, _expected = TREATMENTS[case]
    dealer = CustomerFactory(code=f"dealer-{case}", **details)
    dealer.full_clean()  # every case is a customer staff can save
    subscribe(dealer, "GROW", first_month=date(2026, 1, 1))
    events = chats(dealer.code, "test_drive", "agent", 48)  # 3,120
    events += chats(dealer.code, "crm_lead", "bot", 9)  # 54
    events += chats(dealer.code, "contact_engaged", "team", 30, contact="+336")  # 60
    assert events_ingest(source="platform", events=events, now=RECEIVED).accepted == 87
    return dealer


def statement_json(dealer) -> dict:
    out = StringIO()
    call_command("statement", dealer.code, str(OCTOBER), "--json", stdout=out)
    return json.loads(out.getvalue())


def _money(value) -> str:
    return f"{value:.2f}"


def invoice_as_statement(invoice: Invoice) -> dict:
    """The invoice's figures under the names `statement --json` gives them."""
    lines = {line.kind: line for line in invoice.lines.all()}
    fee, overage = lines["plan_fee"], lines.get("overage")
    return {
        "monthly_fee": _money(fee.unit_price),
        "included_points": invoice.included_points,
        "points_used": invoice.points_used,
        "overage_points": invoice.overage_points,
        "overage_amount": _money(overage.amount if overage else 0),
        "net_total": _money(invoice.net_total),
        "vat_treatment": invoice.vat_treatment,
        "vat_rate": _money(invoice.vat_rate),
        "vat_amount": _money(invoice.vat_amount),
        "total": _money(invoice.total),
        "engaged_contacts": invoice.engaged_contacts,
        **({"price_per_extra_point": f"{overage.unit_price:.4f}"} if overage else {}),
    }


def compared(statement: dict, invoice: Invoice) -> dict:
    """The statement's figures an invoice has too."""
    return {key: statement[key] for key in invoice_as_statement(invoice)}


@pytest.mark.parametrize("case", list(TREATMENTS))
def test_statement_equals_draft_equals_issued_invoice(case, clock):
    clock.now = ISSUE_DAY
    dealer = dealer_of(case)
    treatment, rate, vat, total = TREATMENTS[case][1]
    expected = {
        "plan": "GROW",
        "monthly_fee": "499.00",
        "included_points": 3000,
        "points_used": 3234,
        "overage_points": 234,
        "price_per_extra_point": "0.1400",
        "overage_amount": "32.76",
        "net_total": "531.76",
        "vat_treatment": treatment,
        "vat_rate": rate,
        "vat_amount": vat,
        "total": total,
        "engaged_contacts": 30,
    }

    before = statement_json(dealer)
    assert {key: before[key] for key in expected} == expected

    invoices_draft(month=OCTOBER)
    draft = Invoice.objects.get(customer=dealer, month=OCTOBER.first_day, status="draft")
    assert invoice_as_statement(draft) == compared(before, draft)

    invoice = invoice_issue(invoice=draft)
    assert invoice.status == "issued"
    assert invoice_as_statement(invoice) == compared(before, invoice)
    assert [
        {key: line[key] for key in ("tariff", "actor", "chats", "points")} for line in invoice.usage
    ] == before["lines"]

    # Once issued, the statement is the invoice's (and the same as before).
    assert statement_json(dealer) == before

    # The customer's admin page shows the same VAT (English in tests outside requests).
    html = render_statement(dealer, OCTOBER)
    assert f"VAT {rate} %" in html
    assert f"€{Decimal(vat):,}" in html and f"€{Decimal(total):,}" in html

    # And so does the report, plan comparison included.
    report = month_report(customer=dealer, month=OCTOBER, now=ISSUE_DAY)
    statement = report.statement
    assert (
        statement.net_total,
        statement.vat_treatment,
        statement.vat_rate,
        statement.vat_amount,
        statement.total,
    ) == (
        invoice.net_total,
        invoice.vat_treatment,
        invoice.vat_rate,
        invoice.vat_amount,
        invoice.total,
    )
    grow = next(option for option in report.plans if option.code == "GROW")
    assert (grow.statement.vat_treatment, grow.statement.total) == (treatment, Decimal(total))
    assert {option.statement.vat_treatment for option in report.plans} == {treatment}


def test_the_belgian_business_of_the_issue_pays_no_vat_anywhere(clock):
    """The issue's case: the statement, the admin and the report said VAT 20 %, 615.60 (here
    638.11), while the invoice rightly said 0.00. They all say 0.00 now, before the invoice."""
    clock.now = ISSUE_DAY
    dealer = dealer_of("belgium")
    statement = month_statement(customer=dealer, month=OCTOBER)
    assert (statement.vat_treatment, statement.vat_amount, statement.total) == (
        "reverse_charge",
        Decimal("0.00"),
        NET,
    )
    html = render_statement(dealer, OCTOBER)
    assert "VAT 0.00 %" in html and "€531.76" in html and "638.11" not in html
    assert "reverse charge" in html
    report = month_report(customer=dealer, month=OCTOBER, now=ISSUE_DAY)
    assert (report.statement.vat_amount, report.statement.total) == (Decimal("0.00"), NET)
    assert all(option.statement.vat_amount == 0 for option in report.plans)


def test_an_issued_month_keeps_the_vat_its_invoice_froze(clock):
    """The customer's VAT details change after the invoice (a move abroad, another rate):
    the issued month's statement, admin block and report still show the invoice; the drafts of
    later months take the new decision."""
    clock.now = ISSUE_DAY
    dealer = dealer_of("france")
    invoices_draft(month=OCTOBER)
    invoice = invoice_issue(
        invoice=Invoice.objects.get(customer=dealer, month=OCTOBER.first_day, status="draft")
    )
    dealer.country, dealer.vat_number, dealer.siren = "BE", "BE0123456789", ""
    dealer.vat_rate = Decimal("5.50")
    dealer.full_clean()
    dealer.save()

    after = statement_json(dealer)
    assert invoice_as_statement(invoice) == compared(after, invoice)
    assert (after["vat_treatment"], after["vat_amount"], after["total"]) == (
        "standard",
        "106.35",
        "638.11",
    )
    assert "VAT 20.00 %" in render_statement(dealer, OCTOBER)
    report = month_report(customer=dealer, month=OCTOBER, now=ISSUE_DAY)
    assert (report.statement.vat_treatment, report.statement.total) == ("standard", invoice.total)

    # November is not invoiced: it follows the customer's decision now.
    november = month_statement(customer=dealer, month=OCTOBER.next())
    assert (november.vat_treatment, november.vat_rate) == ("reverse_charge", Decimal("0.00"))
