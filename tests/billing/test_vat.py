"""The one VAT decision (billing.vat.vat_decision): pure, plain values in, a VatDecision out."""

from decimal import Decimal

import pytest

from billing.vat import (
    OUTSIDE_EU,
    REVERSE_CHARGE,
    STANDARD,
    VatDecision,
    vat_decision,
    vat_territory,
)

TWENTY = Decimal("20.00")
ZERO = Decimal("0.00")


def decide(buyer_country, buyer_vat_number="", override="", seller_country="FR", rate=TWENTY):
    return vat_decision(
        seller_country=seller_country,
        buyer_country=buyer_country,
        buyer_vat_number=buyer_vat_number,
        override=override,
        domestic_rate=rate,
    )


@pytest.mark.parametrize(
    ("country", "vat_number", "treatment", "rate", "mention"),
    [
        # A French dealer: French VAT at its rate, no mention.
        ("FR", "FR44732829320", STANDARD, TWENTY, ""),
        ("FR", "", STANDARD, TWENTY, ""),
        # Monaco is inside the French VAT territory: French VAT, never art. 259-1.
        ("MC", "FR53000004605", STANDARD, TWENTY, ""),
        ("MC", "", STANDARD, TWENTY, ""),
        # A business in another EU country with its VAT number: reverse charge (art. 196).
        ("BE", "BE0123456789", REVERSE_CHARGE, ZERO, REVERSE_CHARGE),
        ("DE", "DE123456789", REVERSE_CHARGE, ZERO, REVERSE_CHARGE),
        ("IE", "IE1234567T", REVERSE_CHARGE, ZERO, REVERSE_CHARGE),
        # In the EU without a VAT number: no reverse charge, the VAT of the seller's country.
        ("BE", "", STANDARD, TWENTY, ""),
        ("DE", "", STANDARD, TWENTY, ""),
        # Outside the EU: no EU VAT (art. 259-1), with or without a number of its own.
        ("CH", "", OUTSIDE_EU, ZERO, OUTSIDE_EU),
        ("CH", "CHE123456789", OUTSIDE_EU, ZERO, OUTSIDE_EU),
        ("GB", "GB123456789", OUTSIDE_EU, ZERO, OUTSIDE_EU),
        ("NO", "", OUTSIDE_EU, ZERO, OUTSIDE_EU),
    ],
)
def test_the_treatment_follows_the_buyer(country, vat_number, treatment, rate, mention):
    decision = decide(country, vat_number)
    assert decision == VatDecision(treatment, rate)
    assert (decision.treatment, decision.rate, decision.mention) == (treatment, rate, mention)


def test_the_standard_treatment_charges_the_customers_own_rate():
    assert decide("FR", rate=Decimal("5.50")).rate == Decimal("5.50")
    assert decide("MC", rate=Decimal("10.00")).rate == Decimal("10.00")
    # The rate configured on the customer never leaks into a treatment without VAT.
    assert decide("CH", rate=Decimal("20.00")).rate == ZERO
    assert decide("BE", "BE0123456789", rate=Decimal("21.00")).rate == ZERO


def test_the_staff_override_wins_over_the_countries():
    # Staff know better (e.g. a Swiss dealer with a French establishment): French VAT.
    assert decide("CH", override=STANDARD) == VatDecision(STANDARD, TWENTY)
    # A German business whose VAT number is not yet checked: French VAT until it is.
    assert decide("DE", "DE123456789", override=STANDARD) == VatDecision(STANDARD, TWENTY)
    assert decide("BE", "BE0123456789", override=OUTSIDE_EU) == VatDecision(OUTSIDE_EU, ZERO)
    assert decide("FR", override=REVERSE_CHARGE) == VatDecision(REVERSE_CHARGE, ZERO)
    # An empty override decides from the countries.
    assert decide("CH", override="") == VatDecision(OUTSIDE_EU, ZERO)
    with pytest.raises(ValueError, match="unknown VAT treatment 'exempt'"):
        decide("FR", override="exempt")


def test_countries_are_read_whatever_their_case_and_the_seller_may_be_elsewhere():
    assert decide("fr", seller_country="FR").treatment == STANDARD
    assert decide("mc", seller_country="fr").treatment == STANDARD
    # A German seller: a French or Monegasque business with its number is reverse charge.
    assert decide("FR", "FR44732829320", seller_country="DE").treatment == REVERSE_CHARGE
    assert decide("MC", "FR53000004605", seller_country="DE").treatment == REVERSE_CHARGE
    assert decide("DE", seller_country="DE").treatment == STANDARD


def test_monaco_is_in_the_french_vat_territory():
    assert vat_territory("MC") == vat_territory("mc") == "FR"
    assert vat_territory("FR") == "FR" and vat_territory("CH") == "CH"


def test_a_decision_is_consistent():
    with pytest.raises(ValueError, match="charges no VAT"):
        VatDecision(REVERSE_CHARGE, TWENTY)
    with pytest.raises(ValueError, match="charges no VAT"):
        VatDecision(OUTSIDE_EU, Decimal("0.01"))
    with pytest.raises(ValueError, match="not a percentage"):
        VatDecision(STANDARD, Decimal("100.01"))
    with pytest.raises(ValueError, match="unknown VAT treatment"):
        VatDecision("", ZERO)
    with pytest.raises(TypeError):
        VatDecision(STANDARD, 20.0)
    decision = VatDecision(STANDARD, TWENTY)
    with pytest.raises(AttributeError):
        decision.rate = ZERO  # frozen
