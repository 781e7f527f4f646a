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
        "siren": ["A SIREN is only given for a company in France or Monaco."]
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
    from billing.admin.customers import CustomerForm

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


# --- Monaco: inside the French VAT territory ----------------------------------------------------


def test_a_monaco_company_has_a_french_vat_number():
    # Monaco's tax office gives FR, the French key, then 000 and 6 digits (no SIREN).
    monaco = CustomerFactory.build(code="mc-1", country="MC", vat_number="fr 53 000 004 605")
    monaco.full_clean()
    assert monaco.vat_number == "FR53000004605"
    assert monaco.vat_decision().treatment == "standard"
    assert monaco.vat_decision().rate == Decimal("20.00")
    # One established in France for VAT holds a SIREN: its FR number is built on it.
    CustomerFactory.build(
        code="mc-2", country="MC", vat_number="FR44732829320", siren="732829320"
    ).full_clean()
    CustomerFactory.build(code="mc-3", country="MC", vat_number="FR44732829320").full_clean()


def test_a_monaco_vat_number_is_checked_like_a_french_one():
    assert errors_of(country="MC", vat_number="MC53000004605") == {
        "vat_number": ["MC53000004605 is not a VAT number of Monaco: it should start with FR."]
    }
    assert errors_of(country="MC", vat_number="FR54000004605") == {
        "vat_number": ["FR54000004605 has a wrong key: for 000004605 it is 53."]
    }
    assert errors_of(country="MC", vat_number="FR45732829320") == {
        "vat_number": ["FR45732829320 has a wrong key: for SIREN 732829320 it is 44."]
    }
    assert errors_of(country="MC", vat_number="FR44732829321") == {
        "vat_number": [
            "FR44732829321 is not a Monaco VAT number: FR, a 2-character key, then 000 and "
            "6 digits, or a French SIREN."
        ]
    }
    assert errors_of(country="MC", vat_number="FR44732829320", siren="542065479") == {
        "vat_number": ["FR44732829320 does not match the SIREN 542065479."]
    }
    # Monaco's 000 numbers are not SIRENs: a French company's number is built on its SIREN.
    assert errors_of(country="FR", vat_number="FR53000004605") == {
        "vat_number": [
            "FR53000004605 is not a French VAT number: FR, a 2-character key, the SIREN."
        ]
    }


def test_a_siren_is_for_france_and_monaco_only(db):
    from django.db import IntegrityError, transaction

    CustomerFactory(code="mc-siren", country="MC", siren="732829320")  # the database agrees
    assert "siren" in errors_of(country="CH", siren="732829320")
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerFactory(code="ch-siren", country="CH", siren="732829320")


def test_monaco_is_never_reverse_charge_for_a_french_seller():
    assert errors_of(country="MC", vat_number="FR53000004605", vat_treatment="reverse_charge") == {
        "vat_treatment": [
            "Reverse charge is for a business in another EU country than the seller's, with its "
            "VAT number (it is printed on the invoice)."
        ]
    }
