"""What an invoice says, drawn from the month's Statement: its lines, its usage detail, both
parties' details as frozen at issue. The series and the error of invoicing live here too."""

from __future__ import annotations

from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from billing.errors import BillingError
from billing.models import (
    Invoice,
    InvoiceLine,
    Mandate,
    Subscription,
    Tariff,
)
from billing.months import Month
from billing.pricing import LINE_OVERAGE, LINE_PLAN_FEE, Statement
from customers.models import Customer, PaymentMethod

SERIES_INVOICE = "F"
SERIES_CREDIT_NOTE = "AV"


class InvoiceError(BillingError):
    pass


def _plan_name(plan, language: str) -> str:
    return plan.name_en if language == "en" else plan.name_fr


def _line_descriptions(plan_name: str, month: Month, language: str) -> dict[str, str]:
    with translation.override(language):
        return {
            LINE_PLAN_FEE: _("Plan %(plan)s — %(month)s")
            % {"plan": plan_name, "month": date_format(month.first_day, "F Y")},
            LINE_OVERAGE: _("Plan %(plan)s — extra Chatpoints") % {"plan": plan_name},
        }


def _usage_detail(statement: Statement, tariffs: dict[str, Tariff], language: str) -> list[dict]:
    detail = []
    for line in statement.lines:
        tariff = tariffs[line.tariff]
        detail.append(
            {
                "tariff": line.tariff,
                "description": tariff.description_en if language == "en" else tariff.description_fr,
                "category": line.category,
                "actor": line.actor,
                "chats": line.chats,
                "points": line.points,
                "contacts": line.contacts,
            }
        )
    return detail


def _fill(
    invoice: Invoice,
    *,
    subscription: Subscription,
    statement: Statement,
    tariffs,
    month: Month,
    detail: bool = True,
    descriptions_cache: dict | None = None,
):
    """Copy a statement into an invoice (not saved) and return its lines (not saved).

    `detail`: also copy the Chatpoints detail per tariff and actor (issuing does; month-close
    drafts only need the totals)."""
    customer = subscription.customer
    language = customer.language
    plan_name = _plan_name(subscription.plan, language)
    invoice.language = language
    invoice.plan_name = plan_name
    invoice.included_points = statement.included_points
    invoice.points_used = statement.points_used
    invoice.overage_points = statement.overage_points
    invoice.engaged_contacts = statement.engaged_contacts
    invoice.net_total = statement.net_total
    invoice.vat_rate = statement.vat_rate
    invoice.vat_amount = statement.vat_amount
    invoice.total = statement.total
    invoice.vat_treatment = statement.vat_treatment
    invoice.usage = _usage_detail(statement, tariffs, language) if detail else []
    invoice.computed_at = timezone.now()
    if descriptions_cache is None:
        descriptions = _line_descriptions(plan_name, month, language)
    else:
        key = (plan_name, language)
        if key not in descriptions_cache:
            descriptions_cache[key] = _line_descriptions(plan_name, month, language)
        descriptions = descriptions_cache[key]
    return [
        InvoiceLine(
            invoice=invoice,
            position=position,
            kind=line.kind,
            description=descriptions[line.kind],
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
        )
        for position, line in enumerate(statement.invoice_lines, start=1)
    ]


def _country_name(customer: Customer) -> str:
    with translation.override(customer.language):
        return str(customer.get_country_display())


def _direct_debit(customer: Customer) -> dict | None:
    """How a customer under a SEPA mandate pays, frozen at issue: the mandate in force, the
    creditor identifier and the debited account (None: it pays by credit transfer)."""
    if customer.payment_method != PaymentMethod.SEPA_DEBIT:
        return None
    mandate = Mandate.objects.in_force().filter(customer=customer).first()
    if mandate is None:
        return None
    return {
        "mandate": mandate.reference,
        "creditor_id": mandate.creditor_id,
        "iban": mandate.iban,
        "scheme": mandate.scheme,
    }


def _buyer(customer: Customer) -> dict:
    return {
        "direct_debit": _direct_debit(customer),
        "code": customer.code,
        "legal_name": customer.legal_name,
        "address": customer.address,
        "postal_code": customer.postal_code,
        "city": customer.city,
        "country": customer.country,
        "country_name": _country_name(customer),
        "vat_number": customer.vat_number,
        "siren": customer.siren,
        "billing_emails": customer.billing_email_list,
        "purchase_order_reference": customer.purchase_order_reference,
    }


# --- Drafts ---------------------------------------------------------------------------------------


_SUBSCRIPTION_FIELDS = (
    "customer_id",
    "first_month",
    "last_month",
    "custom_monthly_fee",
    "custom_included_points",
    "custom_price_per_extra_point",
    "plan__code",
    "plan__name_fr",
    "plan__name_en",
    "plan__is_custom",
    "plan__monthly_fee",
    "plan__included_points",
    "plan__price_per_extra_point",
    "customer__code",
    "customer__language",
    "customer__country",
    "customer__vat_number",
    "customer__vat_rate",
    "customer__vat_treatment",
    "customer__billing_emails",
)
