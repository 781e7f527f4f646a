"""Formatting of money and points for the active language: `1 499,00 €` in French, `€1,499.00`
in English. Display only: amounts arrive computed by billing.pricing. Pure: no model, no service
(the template filters of billing.templatetags.money and the services both call it)."""

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
