from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from customers.models import Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def errors_of(**values):
    customer = CustomerFactory.build(**values)
    with pytest.raises(ValidationError) as raised:
        customer.full_clean()
    return raised.value.message_dict


def test_a_new_customer_gets_the_seller_country_standard_vat_rate(settings):
    assert CustomerFactory().vat_rate == Decimal("20.00")
    settings.SELLER = {**settings.SELLER, "country": "DE"}
    assert Customer(code="x").vat_rate == Decimal("19.00")


def test_valid_french_customer():
    customer = CustomerFactory.build(
        code="garage.dupont_21",
        siren="732829320",
        vat_number="fr 44 732829320",
        billing_emails="a@garage.example, b@garage.example\nc@garage.example",
    )
    customer.full_clean()
    assert customer.siren == "732829320"
    assert customer.vat_number == "FR44732829320"
    assert customer.billing_email_list == [
        "a@garage.example",
        "b@garage.example",
        "c@garage.example",
    ]


def test_errors_name_the_field_and_the_value():
    assert errors_of(siren="732829321") == {
        "siren": ["732829321 is not a valid SIREN: 9 digits with a valid check digit."]
    }
    assert errors_of(country="DE", siren="732829320") == {
        "siren": ["A SIREN is only given for a French company."]
    }
    assert errors_of(vat_number="FR45732829320") == {
        "vat_number": ["FR45732829320 has a wrong key: for SIREN 732829320 it is 44."]
    }
    assert errors_of(vat_number="FR44732829320", siren="542065479") == {
        "vat_number": ["FR44732829320 does not match the SIREN 542065479."]
    }
    assert "vat_number" in errors_of(vat_number="12345")
    assert errors_of(billing_emails="ok@x.example, not-an-address")["billing_emails"] == [
        "not-an-address is not a valid e-mail address."
    ]
    assert "code" in errors_of(code="has space")
    assert "vat_rate" in errors_of(vat_rate=Decimal("101"))


def test_foreign_vat_numbers_are_accepted_in_their_format():
    CustomerFactory.build(country="DE", vat_number="DE129273398").full_clean()
    CustomerFactory.build(country="IE", vat_number="IE6388047V").full_clean()


def test_the_vat_number_belongs_to_the_customer_country():
    assert errors_of(country="DE", vat_number="FR44732829320") == {
        "vat_number": ["FR44732829320 is not a VAT number of Germany: it should start with DE."]
    }
    assert "vat_number" in errors_of(country="FR", vat_number="DE129273398")
    CustomerFactory.build(country="GR", vat_number="EL094259216").full_clean()


def test_codes_are_lower_case_so_two_codes_never_differ_by_case():
    assert errors_of(code="GARAGE-DUPONT") == {
        "code": ["Use lower-case letters, digits, dots, dashes and underscores only."]
    }


def test_the_admin_form_accepts_siren_and_vat_number_as_people_type_them():
    from customers.admin import CustomerForm

    customer = CustomerFactory.build(code="garage-typed")
    data = {
        field: getattr(customer, field)
        for field in (
            "code",
            "legal_name",
            "address",
            "postal_code",
            "city",
            "country",
            "language",
            "vat_rate",
            "billing_emails",
        )
    }
    form = CustomerForm(data={**data, "siren": "732 829 320", "vat_number": "fr 44 732.829.320"})
    assert form.is_valid(), form.errors
    saved = form.save()
    assert (saved.siren, saved.vat_number) == ("732829320", "FR44732829320")


@pytest.mark.django_db
def test_reverse_charge_is_for_a_business_in_another_eu_country():
    from django.core.exceptions import ValidationError

    from tests.factories import CustomerFactory

    french = CustomerFactory.build(code="fr-rc", country="FR", vat_treatment="reverse_charge")
    with pytest.raises(ValidationError) as refused:
        french.full_clean()
    assert "vat_treatment" in refused.value.message_dict
    german = CustomerFactory.build(
        code="de-rc", country="DE", vat_number="DE123456789", vat_treatment="reverse_charge"
    )
    german.full_clean()
    no_number = CustomerFactory.build(code="de-none", country="DE", vat_treatment="reverse_charge")
    with pytest.raises(ValidationError):
        no_number.full_clean()
