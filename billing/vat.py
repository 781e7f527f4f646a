"""VAT: rates, identifiers and the one VAT decision of a customer-month. Pure: no ORM, no I/O.

`vat_decision()` is the only place that decides how a month is taxed (DOMAIN.md rule 11): the
statement, the report, the admin, the month close and the invoice all ask it (through
`Customer.vat_decision()`), or read what an issued invoice froze from it, so they never differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# How a month is taxed. The values are stored on customers (staff's override) and invoices.
STANDARD = "standard"  # VAT at the customer's rate (same VAT territory, or no VAT number)
REVERSE_CHARGE = "reverse_charge"  # a business in another EU country: the buyer accounts for it
OUTSIDE_EU = "outside_eu"  # a customer outside the EU: no EU VAT
TREATMENTS = (STANDARD, REVERSE_CHARGE, OUTSIDE_EU)
ZERO_RATE = Decimal("0.00")

# Standard VAT rates of the EU member states, in percent (2026).
STANDARD_VAT_RATES = {
    "AT": Decimal("20.00"),
    "BE": Decimal("21.00"),
    "BG": Decimal("20.00"),
    "CY": Decimal("19.00"),
    "CZ": Decimal("21.00"),
    "DE": Decimal("19.00"),
    "DK": Decimal("25.00"),
    "EE": Decimal("24.00"),
    "ES": Decimal("21.00"),
    "FI": Decimal("25.50"),
    "FR": Decimal("20.00"),
    "GR": Decimal("24.00"),
    "HR": Decimal("25.00"),
    "HU": Decimal("27.00"),
    "IE": Decimal("23.00"),
    "IT": Decimal("22.00"),
    "LT": Decimal("21.00"),
    "LU": Decimal("17.00"),
    "LV": Decimal("21.00"),
    "MT": Decimal("18.00"),
    "NL": Decimal("21.00"),
    "PL": Decimal("23.00"),
    "PT": Decimal("23.00"),
    "RO": Decimal("21.00"),
    "SE": Decimal("25.00"),
    "SI": Decimal("22.00"),
    "SK": Decimal("23.00"),
}
EU_COUNTRIES = frozenset(STANDARD_VAT_RATES)

# Territories outside a member state that belong to its VAT territory: Monaco is taxed as France
# (Franco-Monegasque tax convention of 18 May 1963; art. 7 of the VAT directive). Its VAT numbers
# are French ones: FR, a key, then 9 digits (000 and 6 digits when not a French SIREN).
VAT_TERRITORY = {"MC": "FR"}


def vat_territory(country: str) -> str:
    """The member state whose VAT applies in `country` (the country itself by default)."""
    country = country.upper()
    return VAT_TERRITORY.get(country, country)


def standard_rate(country: str) -> Decimal:
    """The standard VAT rate of an EU country (KeyError for a country outside the EU)."""
    return STANDARD_VAT_RATES[country.upper()]


def siren_is_valid(siren: str) -> bool:
    """A SIREN is 9 digits passing the Luhn check."""
    if len(siren) != 9 or not siren.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(siren)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def french_vat_key(siren: str) -> str:
    """The two-digit key of a French VAT number: (12 + 3 x (SIREN mod 97)) mod 97."""
    return f"{(12 + 3 * (int(siren) % 97)) % 97:02d}"


def vat_treatment_for(*, seller_country: str, buyer_country: str, buyer_vat_number: str) -> str:
    """How a service to this buyer is taxed, from the countries and the VAT number alone:
    STANDARD (the seller's VAT territory, Monaco included for a French seller, or an EU buyer
    without a VAT number), REVERSE_CHARGE (a business in another EU country: the buyer accounts
    for the VAT) or OUTSIDE_EU (no EU VAT)."""
    buyer = vat_territory(buyer_country)
    if buyer == vat_territory(seller_country):
        return STANDARD
    if buyer in EU_COUNTRIES:
        return REVERSE_CHARGE if buyer_vat_number else STANDARD
    return OUTSIDE_EU


@dataclass(frozen=True)
class VatDecision:
    """How a customer-month is taxed: its treatment and the rate it gives (percent).

    Only STANDARD charges VAT; the others are at 0 % and carry a legal mention on the invoice.
    """

    treatment: str
    rate: Decimal

    def __post_init__(self):
        if isinstance(self.rate, float):
            raise TypeError("the VAT rate must be a Decimal, not a float")
        object.__setattr__(self, "rate", Decimal(self.rate))
        if self.treatment not in TREATMENTS:
            raise ValueError(f"unknown VAT treatment {self.treatment!r}")
        if not Decimal(0) <= self.rate <= Decimal(100):
            raise ValueError(f"VAT rate {self.rate} is not a percentage between 0 and 100")
        if self.treatment != STANDARD and self.rate:
            raise ValueError(f"{self.treatment} charges no VAT, not {self.rate} %")

    @property
    def mention(self) -> str:
        """The key of the legal mention the invoice carries ("" for none): REVERSE_CHARGE
        (art. 196 of the VAT directive) or OUTSIDE_EU (art. 259-1 of the French tax code)."""
        return "" if self.treatment == STANDARD else self.treatment


def vat_decision(
    *,
    seller_country: str,
    buyer_country: str,
    buyer_vat_number: str,
    override: str = "",
    domestic_rate: Decimal,
) -> VatDecision:
    """THE VAT decision of a customer-month (DOMAIN.md rule 11).

    The treatment is the staff's `override` when set (one of TREATMENTS), else the one the
    countries and the VAT number give (vat_treatment_for). STANDARD charges `domestic_rate`, the
    rate configured on the customer (by default the seller's standard rate: 20 % in France and
    Monaco); REVERSE_CHARGE and OUTSIDE_EU charge 0 %.
    """
    treatment = override or vat_treatment_for(
        seller_country=seller_country,
        buyer_country=buyer_country,
        buyer_vat_number=buyer_vat_number,
    )
    if treatment not in TREATMENTS:
        raise ValueError(f"unknown VAT treatment {treatment!r}")
    return VatDecision(treatment, domestic_rate if treatment == STANDARD else ZERO_RATE)
