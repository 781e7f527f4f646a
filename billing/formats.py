"""Formatting of money and points for the active language: `1 499,00 €` in French, `€1,499.00`
in English; text cells a spreadsheet keeps as text. Display only: amounts arrive computed by
billing.pricing. Pure: no model, no service (the template filters of billing.templatetags.money
and the services both call it)."""

import unicodedata
from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import get_language


def format_money(value: Decimal, decimals: int = 2) -> str:
    number = number_format(value, decimal_pos=decimals, use_l10n=True, force_grouping=True)
    if (get_language() or "fr").startswith("en"):
        return f"-€{number[1:]}" if number.startswith("-") else f"€{number}"
    return f"{number}\N{NO-BREAK SPACE}€"


def money(value, decimals=2) -> str:
    if value is None or value == "":
        return ""
    return format_money(Decimal(value), int(decimals))


def points(value) -> str:
    if value is None or value == "":
        return ""
    return number_format(value, decimal_pos=0, use_l10n=True, force_grouping=True)


def unit_price(value) -> str:
    """A price per point: to the cent when it is a whole number of cents (€0.14), else with
    the four decimals an ENTERPRISE price may have (€0.1234)."""
    if value is None or value == "":
        return ""
    value = Decimal(value)
    return format_money(value, 2 if value == value.quantize(Decimal("0.01")) else 4)


_FORMULA_SIGNS = frozenset("=+-@")


def spreadsheet_text(value: str) -> str:
    """A text cell a spreadsheet keeps as text: a value it would read as a formula (or a phone
    number it would turn into a number: +336…) gets a leading apostrophe (OWASP's advice
    against CSV injection). Chat ids, contacts and names come from outside.

    A formula is a value starting with = + - @ or a tab, carriage return or line feed; also
    when white space comes first (spaces, line breaks, the ideographic space U+3000: spreadsheets
    skip it), and in the signs' full-width and small forms (＝ ＋ － ＠, ﹦ ﹢ ﹣ ﹫: Asian
    keyboards type them, spreadsheets read them as the ASCII signs), which NFKC folds to ASCII.
    """
    if not value:
        return value
    if value[0] in "\t\r\n":
        return f"'{value}"
    first = value.lstrip()[:1]
    if first and unicodedata.normalize("NFKC", first)[:1] in _FORMULA_SIGNS:
        return f"'{value}"
    return value
