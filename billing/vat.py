"""VAT rates and identifiers: plain data and pure checks (no ORM)."""

from decimal import Decimal

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
    """How a service to this buyer is taxed: "standard" (VAT at the buyer's rate: same country,
    or an EU buyer without a VAT number), "reverse_charge" (a business in another EU country: the
    buyer accounts for the VAT) or "outside_eu" (no EU VAT)."""
    if buyer_country.upper() == seller_country.upper():
        return "standard"
    if buyer_country.upper() in EU_COUNTRIES:
        return "reverse_charge" if buyer_vat_number else "standard"
    return "outside_eu"
