"""SEPA identifiers, pure: IBAN and BIC (checked by schwifty), the creditor identifier (ICS) and
the mandate reference (RUM). No model, no service; errors are ValueError with a message for
people (translated), naming the value and the reason."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

# The two direct-debit schemes: B2B (business to business, no refund after debit) and CORE.
B2B = "B2B"
CORE = "CORE"
# Sequence types of a collection: the first one under a mandate, then recurrent ones.
FIRST = "FRST"
RECURRENT = "RCUR"

_RUM_RE = re.compile(r"^[A-Za-z0-9+?/:().,' -]{1,35}$")
_ICS_RE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{3}[A-Z0-9]{1,28}$")


@dataclass(frozen=True)
class BankAccount:
    iban: str  # compact, upper case
    bic: str  # 8 or 11 characters


def compact(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value or "").upper()


def bank_account(iban: str, bic: str = "") -> BankAccount:
    """A checked SEPA bank account: the IBAN's country, length and checksum, the zone, and the
    BIC (given, or known for the IBAN's bank) of the same country. ValueError otherwise."""
    value = compact(iban)
    if not value:
        raise ValueError(_("An IBAN is required."))
    try:
        parsed = IBAN(value)
    except SchwiftyException as error:
        raise ValueError(
            _("%(value)s is not a valid IBAN: %(reason)s.")
            % {"value": value, "reason": _iban_reason(error)}
        ) from None
    if not parsed.in_sepa_zone:
        raise ValueError(
            _("%(value)s is an IBAN of %(country)s, outside the SEPA zone.")
            % {"value": value, "country": parsed.country_code}
        )
    bic_value = compact(bic)
    if bic_value:
        try:
            parsed_bic = BIC(bic_value)
        except SchwiftyException:
            raise ValueError(
                _("%(value)s is not a valid BIC: 8 or 11 letters and digits.")
                % {"value": bic_value}
            ) from None
        if parsed_bic.country_code != parsed.country_code and not (
            # Monaco's banks use French BICs' structure but their own country code, and French
            # overseas banks use FR: accept the French territory as one.
            {parsed_bic.country_code, parsed.country_code} <= {"FR", "MC"}
        ):
            raise ValueError(
                _("The BIC %(bic)s is of %(bic_country)s, the IBAN of %(iban_country)s.")
                % {
                    "bic": bic_value,
                    "bic_country": parsed_bic.country_code,
                    "iban_country": parsed.country_code,
                }
            )
        return BankAccount(iban=str(parsed.compact), bic=str(parsed_bic.compact))
    known = parsed.bic
    if known is None:
        raise ValueError(_("The bank of %(value)s is not known: give its BIC.") % {"value": value})
    return BankAccount(iban=str(parsed.compact), bic=str(known.compact))


def _iban_reason(error: SchwiftyException) -> str:
    name = type(error).__name__
    reasons = {
        "InvalidChecksumDigits": _("wrong check digits"),
        "InvalidCountryCode": _("unknown country code"),
        "InvalidLength": _("wrong length for its country"),
        "InvalidStructure": _("wrong format for its country"),
        "InvalidBBANChecksum": _("wrong national check digits"),
    }
    return str(reasons.get(name, _("not an IBAN")))


def _mod97(text: str) -> int:
    return int("".join(str(int(char, 36)) for char in text)) % 97


def creditor_id_check_digits(country: str, national_id: str) -> str:
    """The 2 check digits of a SEPA creditor identifier (the business code is not counted)."""
    return f"{98 - _mod97(national_id + country + '00'):02d}"


def creditor_id_is_valid(value: str) -> bool:
    """A SEPA creditor identifier (ICS in France): country, check digits, business code,
    national identifier (ISO 7064 mod 97-10 over the national identifier and the country)."""
    value = compact(value)
    if not _ICS_RE.match(value):
        return False
    return value[2:4] == creditor_id_check_digits(value[:2], value[7:])


def check_mandate_reference(value: str) -> str:
    """A mandate's unique reference (RUM): 1 to 35 of the characters SEPA allows."""
    value = (value or "").strip()
    if not _RUM_RE.match(value):
        raise ValueError(
            _(
                "%(value)s is not a mandate reference: 1 to 35 letters, digits, spaces or "
                "+ ? / - : ( ) . , '"
            )
            % {"value": value}
        )
    return value
