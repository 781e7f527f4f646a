"""The buyer's SIREN (e-invoicing reform): required on a business in France, taken from its
French VAT number when it has one (key checked); a data migration fills the customers stored
before; the admin lists those still missing."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from customers.models import Customer, siren_from_vat_number
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def errors_of(**values):
    customer = CustomerFactory.build(**values)
    with pytest.raises(ValidationError) as raised:
        customer.full_clean()
    return raised.value.message_dict


def test_a_french_business_without_siren_is_refused_with_a_clear_error():
    assert errors_of(siren="") == {
        "siren": [
            "A company in France has a SIREN: enter its 9 digits (or its French VAT number, "
            "which contains it). E-invoices require it."
        ]
    }
    with translation.override("fr"):
        assert errors_of(siren="")["siren"] == [
            "Une entreprise en France a un SIREN\N{NO-BREAK SPACE}: saisissez ses 9 chiffres "
            "(ou son numéro de TVA français, qui le contient). Les factures électroniques "
            "l'exigent."
        ]


def test_the_siren_is_taken_from_the_french_vat_number():
    customer = CustomerFactory.build(siren="", vat_number="FR44732829320")
    customer.full_clean()
    assert customer.siren == "732829320"
    # A wrong key is refused, and gives no SIREN: both fields say so.
    errors = errors_of(siren="", vat_number="FR45732829320")
    assert errors["vat_number"] == ["FR45732829320 has a wrong key: for SIREN 732829320 it is 44."]
    assert errors["siren"][0].startswith("A company in France has a SIREN")


def test_elsewhere_a_siren_is_not_required():
    for values in (
        {"country": "BE", "vat_number": "BE0403170701"},
        {"country": "CH"},
        {"country": "MC"},  # a Monegasque company may have none
    ):
        CustomerFactory.build(siren="", **values).full_clean()


def test_siren_from_vat_number():
    assert siren_from_vat_number("FR 44 732 829 320") == "732829320"
    assert siren_from_vat_number("FR45732829320") == ""  # wrong key
    assert siren_from_vat_number("FR42000012345") == ""  # a Monegasque number: no SIREN
    assert siren_from_vat_number("BE0403170701") == ""


def test_the_data_migration_fills_the_siren_where_the_vat_number_gives_it():
    given = CustomerFactory(code="given", siren="", vat_number="FR44732829320")
    wrong_key = CustomerFactory(code="wrong-key", siren="", vat_number="FR45732829320")
    without = CustomerFactory(code="without", siren="", vat_number="")
    monaco = CustomerFactory(code="monaco", country="MC", siren="", vat_number="FR42000012345")
    kept = CustomerFactory(code="kept", siren="542065479", vat_number="")
    migration = importlib.import_module("customers.migrations.0006_siren_from_vat_number")
    migration.siren_from_vat_number(django_apps, None)
    sirens = dict(Customer.objects.values_list("code", "siren"))
    assert sirens == {
        given.code: "732829320",
        wrong_key.code: "",
        without.code: "",
        monaco.code: "",
        kept.code: "542065479",
    }


def test_the_admin_lists_the_french_businesses_still_without_siren(client):
    CustomerFactory(code="sans-siren", siren="")
    CustomerFactory(code="avec-siren")
    CustomerFactory(code="geneve", country="CH")
    client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:customers_customer_changelist"), {"siren_missing": "1"})
    assert page.status_code == 200
    codes = [customer.code for customer in page.context["cl"].result_list]
    assert codes == ["sans-siren"]
    listing = client.get(reverse("admin:customers_customer_changelist")).content.decode()
    assert "siren_missing=1" in listing
