"""The report shows money, not only points: what the month costs (HT, VAT, TTC) from the same
Statement as the invoice and, for an issued month, the invoice's number, totals and PDF."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.usage.selectors import month_statement
from billing.usage.store import events_ingest
from tests.factories import CustomerFactory, UserFactory, subscribe

from .conftest import NOVEMBER, NOW, OCTOBER

pytestmark = pytest.mark.django_db

NBSP = "\N{NO-BREAK SPACE}"


def report_page(client, user, month, customer, language="fr"):
    client.force_login(user)
    client.cookies["django_language"] = language
    url = reverse("portal:report", kwargs={"customer": customer, "month": str(month)})
    response = client.get(url)
    assert response.status_code == 200
    return response


def shown(response, testid):
    """The text of the element marked data-testid (its first text node)."""
    html = response.content.decode()
    marker = f'data-testid="{testid}"'
    start = html.index(">", html.index(marker)) + 1
    return html[start : html.index("<", start)].strip()


def test_an_issued_month_shows_what_its_invoice_costs(client, dealers):
    dupont = dealers["dupont"]
    invoice = dupont.invoice
    # BASE, 1,315 extra points × €0.18: 99.00 + 236.70, French VAT 20 %.
    assert (invoice.net_total, invoice.vat_amount, invoice.total) == (
        Decimal("335.70"),
        Decimal("67.14"),
        Decimal("402.84"),
    )
    response = report_page(client, dupont.user, OCTOBER, "garage-dupont")
    assert shown(response, "cost-net") == f"335,70{NBSP}€"
    assert shown(response, "cost-vat-rate") == f"TVA 20,00{NBSP}%"
    assert shown(response, "cost-vat") == f"67,14{NBSP}€"
    assert shown(response, "cost-total") == f"402,84{NBSP}€"
    assert shown(response, "invoice-total") == f"402,84{NBSP}€"
    html = response.content.decode()
    assert "Ce que coûte le mois" in html
    assert f"Facture {invoice.number}" in html
    assert f"Chatpoints supplémentaires{NBSP}: 1{NBSP}315 × 0,18{NBSP}€" in html
    pdf = reverse("portal:invoice_pdf", args=["garage-dupont", invoice.number])
    assert f'href="{pdf}" data-testid="invoice-pdf"' in html
    assert 'data-testid="vat-mention"' not in html  # French VAT: no mention
    # The link is the dealer's own invoice, the very bytes stored when it was issued.
    assert client.get(pdf).content == bytes(invoice.pdf)


def test_the_month_in_progress_shows_its_cost_so_far_in_english(client, dealers):
    lyon = dealers["lyon"]
    statement = month_statement(customer=lyon.customer, month=NOVEMBER)
    assert (statement.net_total, statement.vat_amount, statement.total) == (
        Decimal("499.00"),
        Decimal("99.80"),
        Decimal("598.80"),
    )
    response = report_page(client, lyon.user, NOVEMBER, "lyon-auto", language="en")
    assert shown(response, "cost-net") == "€499.00"
    assert shown(response, "cost-vat-rate") == "VAT 20.00 %"
    assert shown(response, "cost-vat") == "€99.80"
    assert shown(response, "cost-total") == "€598.80"
    html = response.content.decode()
    assert "What the month costs so far" in html and "Total incl. VAT so far" in html
    assert 'data-testid="invoice-total"' not in html  # not invoiced yet
    assert "The invoice is issued once the month is over." in html


def test_a_reverse_charge_dealer_sees_no_vat_and_the_mention(client, clock):
    clock.now = NOW
    dealer = CustomerFactory(code="bruxelles-auto", country="BE", vat_number="BE0123456789")
    subscribe(dealer, "GROW", first_month=date(2026, 1, 1))
    events = [
        {
            "id": f"td-{n}",
            "customer": "bruxelles-auto",
            "tariff": "test_drive",
            "actor": "agent",
            "occurred_at": "2026-11-10T10:00:00+01:00",
        }
        for n in range(50)
    ]  # 3,250 points: 250 extra × €0.14 = €35.00
    assert events_ingest(source="platform", events=events, now=NOW).accepted == 50
    user = UserFactory(username="bruxelles")
    dealer.accesses.create(user=user)
    response = report_page(client, user, NOVEMBER, "bruxelles-auto")
    assert shown(response, "cost-net") == f"534,00{NBSP}€"
    assert shown(response, "cost-vat-rate") == f"TVA 0,00{NBSP}%"
    assert shown(response, "cost-vat") == f"0,00{NBSP}€"
    assert shown(response, "cost-total") == f"534,00{NBSP}€"
    assert shown(response, "vat-mention").startswith("Autoliquidation")
    # The plan comparison is priced with the same VAT.
    report = response.context["report"]
    assert {option.statement.vat_amount for option in report.plans} == {Decimal("0.00")}


def test_a_month_without_a_plan_shows_no_cost(client, clock):
    clock.now = NOW
    dealer = CustomerFactory(code="sans-forfait")
    user = UserFactory(username="sans-forfait")
    dealer.accesses.create(user=user)
    response = report_page(client, user, NOVEMBER, "sans-forfait")
    assert 'id="cost"' not in response.content.decode()
