"""Dealers see only their own data: every portal URL as the right dealer (200), another dealer
(404), anonymous (the login page). A portal URL added without a case here fails the suite."""

import pytest
from django.urls import reverse

from billing.portal import urls as portal_urls

from .conftest import OCTOBER

pytestmark = pytest.mark.django_db

# URL name -> the kwargs of dupont's own page. Short URLs (no customer in them) lead each user
# to their own dealer: for them "another dealer" means "ends on their own page, never dupont's".
CASES = {
    "report_index": lambda d: {"customer": d.customer.code},
    "report": lambda d: {"customer": d.customer.code, "month": str(OCTOBER)},
    "report_csv": lambda d: {"customer": d.customer.code, "month": str(OCTOBER)},
    "invoices": lambda d: {"customer": d.customer.code},
    "usage_alerts": lambda d: {"customer": d.customer.code},
    "invoice_pdf": lambda d: {"customer": d.customer.code, "number": d.invoice.number},
    "billing": lambda d: {"customer": d.customer.code},
    "billing_mandate_sign": lambda d: {"customer": d.customer.code},
    "billing_mandate_pdf": lambda d: _mandate(d) and {"customer": d.customer.code},
    "invoice_xml": lambda d: {"customer": d.customer.code, "number": d.invoice.number},
}


def _mandate(dealer) -> str:
    """The reference of the dealer's signed mandate (signed here the first time)."""
    from datetime import date

    from billing.models import Mandate
    from billing.payments.methods import MandateInput, mandate_create

    mandate = Mandate.objects.filter(customer=dealer.customer).first()
    if mandate is None:
        mandate = mandate_create(
            customer=dealer.customer,
            data=MandateInput(
                debtor_name=dealer.customer.legal_name,
                iban="FR7630006000011234567890189",
                signed_on=date(2026, 11, 2),
                signed_place="Dijon",
                signer_name="Marie Dupont",
            ),
            today=date(2026, 11, 2),
        )
    return mandate.reference


SHORT = {
    "home": lambda d: {},
    "short_report": lambda d: {},
    "short_report_month": lambda d: {"month": str(OCTOBER)},
    "short_invoices": lambda d: {},
}


def test_every_portal_url_has_an_isolation_case():
    names = {pattern.name for pattern in portal_urls.urlpatterns}
    assert names == set(CASES) | set(SHORT), (
        "a portal URL needs its isolation case in tests/portal/test_isolation.py"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_right_dealer_gets_the_page(client, dealers, name):
    dupont = dealers["dupont"]
    client.force_login(dupont.user)
    response = client.get(reverse(f"portal:{name}", kwargs=CASES[name](dupont)), follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [] or name == "report_index"


@pytest.mark.parametrize("name", sorted(CASES))
def test_another_dealer_gets_404(client, dealers, name):
    client.force_login(dealers["lyon"].user)
    response = client.get(reverse(f"portal:{name}", kwargs=CASES[name](dealers["dupont"])))
    assert response.status_code == 404
    assert b"garage-dupont" not in response.content.lower().replace(b"garage-dupont/", b"")


@pytest.mark.parametrize("name", sorted(CASES) + sorted(SHORT))
def test_anonymous_is_sent_to_the_login_page(client, dealers, name):
    kwargs = (CASES.get(name) or SHORT[name])(dealers["dupont"])
    url = reverse(f"portal:{name}", kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("name", sorted(SHORT))
def test_short_urls_lead_each_dealer_to_their_own_pages(client, dealers, name):
    lyon = dealers["lyon"]
    client.force_login(lyon.user)
    url = reverse(f"portal:{name}", kwargs=SHORT[name](dealers["dupont"]))
    response = client.get(url, follow=True)
    assert response.status_code == 200
    final = response.redirect_chain[-1][0]
    assert final.startswith("/dealers/lyon-auto/")


@pytest.mark.parametrize("name", sorted(CASES))
def test_staff_who_may_view_customers_open_any_report(client, dealers, staff_viewer, name):
    client.force_login(staff_viewer)
    response = client.get(reverse(f"portal:{name}", kwargs=CASES[name](dealers["dupont"])))
    assert response.status_code in (200, 302)


def test_staff_without_the_permission_see_nothing(client, dealers):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="intern", is_staff=True))
    url = reverse("portal:report", kwargs=CASES["report"](dealers["dupont"]))
    assert client.get(url).status_code == 404


def test_an_invoice_of_another_dealer_is_not_found_under_ones_own_code(client, dealers):
    """The number of lyon's invoice under dupont's code, as dupont: 404, not lyon's PDF."""
    client.force_login(dealers["dupont"].user)
    url = reverse(
        "portal:invoice_pdf",
        kwargs={"customer": "garage-dupont", "number": dealers["lyon"].invoice.number},
    )
    assert client.get(url).status_code == 404
