"""Payment methods and SEPA mandates: IBANs of several countries checked by schwifty, the BIC,
the creditor identifier, the mandate reference; one mandate in force; revocation."""

from datetime import date

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from billing import sepa
from billing.models import Mandate
from billing.payments.methods import (
    MandateInput,
    PaymentError,
    mandate_create,
    mandate_revoke,
    payment_method_set,
)
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 20)


def signed(**overrides) -> MandateInput:
    values = {
        "debtor_name": "Garage Dupont SARL",
        "iban": "FR76 3000 6000 0112 3456 7890 189",
        "signed_on": date(2026, 11, 2),
        "signed_place": "Lyon",
        "signer_name": "Marie Dupont",
    }
    values.update(overrides)
    return MandateInput(**values)


@pytest.mark.parametrize(
    ("iban", "bic", "expected_bic"),
    [
        ("FR76 3000 6000 0112 3456 7890 189", "", "AGRIFRPPXXX"),
        ("fr1420041010050500013m02606", "", "PSSTFRPP"),
        ("DE89 3704 0044 0532 0130 00", "", "COBADEFFXXX"),
        ("NL91ABNA0417164300", "", "ABNANL2A"),
        ("ES91 2100 0418 4502 0005 1332", "", "CAIXESBB"),
        ("IT60X0542811101000000123456", "", "BLOPIT22"),
        ("BE68539007547034", "GKCCBEBB", "GKCCBEBB"),
        ("CH9300762011623852957", "UBSWCHZH80A", "UBSWCHZH80A"),
    ],
)
def test_valid_ibans_of_several_countries(iban, bic, expected_bic):
    account = sepa.bank_account(iban, bic)
    assert account.iban == iban.replace(" ", "").upper()
    assert account.bic == expected_bic


@pytest.mark.parametrize(
    ("iban", "bic", "reason"),
    [
        ("FR7630006000011234567890188", "", "is not a valid IBAN: wrong check digits."),
        ("DE89370400440532013001", "", "is not a valid IBAN: wrong check digits."),
        ("XX89370400440532013000", "", "is not a valid IBAN: unknown country code."),
        ("NL91ABNA041716430", "", "is not a valid IBAN: wrong length for its country."),
        ("BR1800360305000010009795493C1", "", "is an IBAN of BR, outside the SEPA zone"),
        ("BE68539007547034", "", "The bank of BE68539007547034 is not known: give its BIC."),
        ("FR7630006000011234567890189", "DEUTDEFF", "The BIC DEUTDEFF is of DE, the IBAN of FR."),
        ("FR7630006000011234567890189", "AGRI", "AGRI is not a valid BIC"),
        ("", "", "An IBAN is required."),
    ],
)
def test_invalid_ibans_and_bics_say_which_value_and_why(iban, bic, reason):
    with pytest.raises(ValueError, match=None) as error:
        sepa.bank_account(iban, bic)
    assert reason in str(error.value)
    if iban:
        assert iban in str(error.value) or bic in str(error.value)


def test_creditor_identifier_check_digits():
    assert sepa.creditor_id_is_valid("FR72ZZZ123456")
    assert sepa.creditor_id_is_valid("DE98ZZZ09999999999")  # the Bundesbank's test identifier
    assert not sepa.creditor_id_is_valid("FR73ZZZ123456")
    assert not sepa.creditor_id_is_valid("FR72ZZZ")


def test_mandate_reference_characters():
    assert sepa.check_mandate_reference("CP-GARAGE-1") == "CP-GARAGE-1"
    for bad in ("", "a" * 36, "CP_GARAGE", "CP#1"):
        with pytest.raises(ValueError):
            sepa.check_mandate_reference(bad)


def test_mandate_create_checks_normalises_and_switches_to_direct_debit():
    customer = CustomerFactory(code="garage_dupont")
    signer = UserFactory()
    mandate = mandate_create(customer=customer, data=signed(), signer=signer, today=TODAY)
    assert mandate.reference == "CP-GARAGE-DUPONT-1"
    assert mandate.iban == "FR7630006000011234567890189"
    assert mandate.bic == "AGRIFRPPXXX"
    assert mandate.scheme == "B2B"  # the default
    assert mandate.creditor_id == "FR72ZZZ123456"
    assert mandate.next_sequence == "FRST"
    assert mandate.signer == signer
    customer.refresh_from_db()
    assert customer.payment_method == "sepa_debit"


def test_core_scheme_and_given_reference():
    mandate = mandate_create(
        customer=CustomerFactory(),
        data=signed(scheme="CORE", reference="RUM-2026-0001"),
        today=TODAY,
    )
    assert (mandate.scheme, mandate.reference) == ("CORE", "RUM-2026-0001")
    with pytest.raises(PaymentError, match="RUM-2026-0001 is already used") as error:
        mandate_create(customer=CustomerFactory(), data=signed(reference="RUM-2026-0001"))
    assert error.value.field == "reference"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"iban": "FR7630006000011234567890188"}, "iban", "wrong check digits"),
        ({"debtor_name": "  "}, "debtor_name", "The debtor's name is required."),
        ({"signed_on": date(2026, 12, 1)}, "signed_on", "is in the future"),
        ({"signed_place": ""}, "signed_place", "The place of signature is required."),
        ({"signer_name": ""}, "signer_name", "The signer's name is required."),
        ({"scheme": "COR1"}, "scheme", "COR1 is not a direct-debit scheme"),
        ({"reference": "RUM_1"}, "reference", "RUM_1 is not a mandate reference"),
    ],
)
def test_bad_mandates_are_refused_naming_the_field_and_nothing_is_stored(overrides, field, message):
    customer = CustomerFactory()
    with pytest.raises(PaymentError) as error:
        mandate_create(customer=customer, data=signed(**overrides), today=TODAY)
    assert error.value.field == field
    assert message in str(error.value)
    assert not Mandate.objects.exists()
    customer.refresh_from_db()
    assert customer.payment_method == "transfer"


def test_bad_creditor_identifier_setting_is_refused(settings):
    settings.SEPA_CREDITOR_ID = "FR00ZZZ123456"
    with pytest.raises(PaymentError, match="FR00ZZZ123456 in the settings is not valid"):
        mandate_create(customer=CustomerFactory(), data=signed(), today=TODAY)


def test_one_mandate_in_force_a_new_one_revokes_the_old():
    customer = CustomerFactory()
    first = mandate_create(customer=customer, data=signed(), today=TODAY)
    second = mandate_create(
        customer=customer,
        data=signed(iban="DE89370400440532013000", signed_on=date(2026, 11, 10)),
        today=TODAY,
    )
    first.refresh_from_db()
    assert first.revoked_on == date(2026, 11, 10)
    assert second.reference == "CP-" + customer.code.upper() + "-2"
    with pytest.raises(IntegrityError), transaction.atomic():
        Mandate.objects.filter(pk=first.pk).update(revoked_on=None)


def test_revoke_goes_back_to_transfer_and_direct_debit_needs_a_mandate():
    customer = CustomerFactory()
    with pytest.raises(PaymentError, match="needs a signed SEPA mandate"):
        payment_method_set(customer=customer, method="sepa_debit")
    mandate = mandate_create(customer=customer, data=signed(), today=TODAY)
    with pytest.raises(PaymentError, match="before it was signed"):
        mandate_revoke(mandate=mandate, on=date(2026, 11, 1))
    mandate_revoke(mandate=mandate, on=date(2026, 11, 15))
    customer.refresh_from_db()
    assert customer.payment_method == "transfer"
    with pytest.raises(PaymentError, match="already revoked"):
        mandate_revoke(mandate=mandate, on=date(2026, 11, 16))
    with pytest.raises(PaymentError, match="card is not a payment method"):
        payment_method_set(customer=customer, method="card")


def test_admin_records_a_paper_mandate_and_refuses_a_bad_iban(client, clock):
    from datetime import UTC, datetime

    clock.now = datetime(2026, 11, 20, 10, tzinfo=UTC)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    customer = CustomerFactory()
    url = reverse("admin:billing_mandate_add")
    form = {
        "customer": customer.pk,
        "reference": "",
        "scheme": "B2B",
        "debtor_name": "Garage Dupont",
        "iban": "DE89370400440532013001",
        "bic": "",
        "signed_on": "2026-11-02",
        "signed_place": "Lyon",
        "signer_name": "Marie Dupont",
    }
    page = client.post(url, form, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    html = page.content.decode()
    assert "DE89370400440532013001 is not a valid IBAN: wrong check digits." in html
    assert not Mandate.objects.exists()
    form["iban"] = "DE89370400440532013000"
    assert client.post(url, form).status_code == 302
    mandate = Mandate.objects.get()
    assert (mandate.iban, mandate.bic) == ("DE89370400440532013000", "COBADEFFXXX")
    listing = client.post(
        reverse("admin:billing_mandate_changelist"),
        {"action": "revoke_selected", "_selected_action": [mandate.pk]},
    )
    assert listing.status_code == 302
    mandate.refresh_from_db()
    assert mandate.revoked_on == date(2026, 11, 20)
