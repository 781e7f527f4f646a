"""The dealer's billing section: a dealer user whom staff allowed to manage billing edits the
billing details (kept in the history) and the payment method and signs a SEPA mandate online
(its PDF downloadable); the others read it; legal details stay read-only; French and English."""

import os
from io import BytesIO
from pathlib import Path

import pytest
from django.urls import reverse
from pypdf import PdfReader

from billing.models import Mandate
from customers.models import BillingChange, CustomerAccess

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(dealers):
    dupont = dealers["dupont"]
    CustomerAccess.objects.filter(user=dupont.user).update(can_manage_billing=True)
    return dupont


@pytest.fixture(autouse=True)
def _english(client):
    client.cookies["django_language"] = "en"


def url(dealer, name="billing"):
    return reverse(f"portal:{name}", kwargs={"customer": dealer.customer.code})


DETAILS = {
    "form": "details",
    "billing_emails": "compta@dupont.example\ndirection@dupont.example",
    "address": "4 avenue de la Gare",
    "postal_code": "21000",
    "city": "Dijon",
    "purchase_order_reference": "BC-2026-118",
}


def test_a_manager_edits_the_details_kept_in_the_history(client, manager):
    client.force_login(manager.user)
    client.cookies["django_language"] = "fr"
    page = client.get(url(manager)).content.decode()
    client.cookies["django_language"] = "en"
    assert "Coordonnées de facturation" in page and "Raison sociale" in page
    response = client.post(url(manager), DETAILS)
    assert response.status_code == 302
    customer = manager.customer
    customer.refresh_from_db()
    assert customer.purchase_order_reference == "BC-2026-118"
    assert customer.billing_email_list == ["compta@dupont.example", "direction@dupont.example"]
    changes = {c.field: (c.old_value, c.new_value, c.user) for c in BillingChange.objects.all()}
    assert changes["purchase_order_reference"] == ("", "BC-2026-118", manager.user)
    assert set(changes) == {
        "billing_emails",
        "address",
        "postal_code",
        "city",
        "purchase_order_reference",
    }
    # a bad e-mail: refused with the field's message, nothing stored
    bad = client.post(url(manager), {**DETAILS, "billing_emails": "not-an-address"})
    assert "not-an-address is not a valid e-mail address." in bad.content.decode()
    assert BillingChange.objects.count() == 5
    # legal details cannot be posted
    client.post(url(manager), {**DETAILS, "legal_name": "Other", "siren": "123"})
    customer.refresh_from_db()
    assert customer.legal_name == "Garage-Dupont SAS"


def test_a_user_without_the_right_reads_only(client, dealers):
    dupont = dealers["dupont"]
    client.force_login(dupont.user)
    page = client.get(url(dupont)).content.decode()
    assert "ask your administrator for the right to manage billing" in page
    assert 'name="billing_emails"' not in page and 'name="payment_method"' not in page
    assert client.post(url(dupont), DETAILS).status_code == 404
    sign = client.get(url(dupont, "billing_mandate_sign"))
    assert 'name="iban"' not in sign.content.decode()
    assert client.post(url(dupont, "billing_mandate_sign"), {}).status_code == 404
    assert not BillingChange.objects.exists()


def test_signing_a_mandate_online_and_downloading_it(client, manager):
    client.force_login(manager.user)
    sign = url(manager, "billing_mandate_sign")
    form = {
        "debtor_name": "Garage Dupont SAS",
        "iban": "FR76 3000 6000 0112 3456 7890 188",
        "bic": "",
        "signed_place": "Dijon",
        "accepted": "on",
    }
    page = client.post(sign, form).content.decode()
    assert "is not a valid IBAN: wrong check digits." in page
    page = client.post(sign, {**form, "accepted": ""})
    assert not Mandate.objects.exists()
    response = client.post(sign, {**form, "iban": "FR76 3000 6000 0112 3456 7890 189"})
    assert response.status_code == 302
    mandate = Mandate.objects.get()
    assert (mandate.signer, mandate.signer_name, mandate.signed_on.isoformat()) == (
        manager.user,
        manager.user.get_username(),
        "2026-11-20",
    )
    assert "FR72ZZZ123456" in mandate.mandate_text
    manager.customer.refresh_from_db()
    assert manager.customer.payment_method == "sepa_debit"
    assert BillingChange.objects.filter(field="mandate").exists()
    pdf = client.get(url(manager, "billing_mandate_pdf"))
    assert pdf["Content-Type"] == "application/pdf"
    if os.environ.get("SCREENSHOTS_DIR"):  # to be looked at
        Path(os.environ["SCREENSHOTS_DIR"], "mandate.pdf").write_bytes(pdf.content)
    text = "".join(p.extract_text() for p in PdfReader(BytesIO(pdf.content)).pages)
    assert mandate.reference in text and "FR7630006000011234567890189" in text
    assert "Dijon" in text and "FR72ZZZ123456" in text
    # back to transfer
    client.post(url(manager), {"form": "method", "payment_method": "transfer"})
    manager.customer.refresh_from_db()
    assert manager.customer.payment_method == "transfer"


def test_direct_debit_needs_a_mandate(client, manager):
    client.force_login(manager.user)
    page = client.post(url(manager), {"form": "method", "payment_method": "sepa_debit"})
    assert "Direct debit needs a signed SEPA mandate" in page.content.decode()
