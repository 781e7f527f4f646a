"""The dealer's billing section: billing details the dealer edits (billing e-mails, postal
address, purchase order reference), its payment method and the SEPA mandate it signs online.
Every change is kept (customers.BillingChange) for staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from billing.models import Mandate
from billing.payments.methods import MandateInput, PaymentError, mandate_create
from billing.payments.methods import payment_method_set as _payment_method_set
from customers.models import BillingChange, Customer, CustomerAccess

# What a dealer may change; legal name, VAT number and SIREN stay with staff.
DEALER_FIELDS = ("billing_emails", "address", "postal_code", "city", "purchase_order_reference")


def billing_may_manage(*, user, customer: Customer) -> bool:
    """Dealer users whom staff allowed to manage billing, and staff who may change customers."""
    if not user.is_authenticated:
        return False
    if user.is_staff and user.has_perm("customers.change_customer"):
        return True
    return CustomerAccess.objects.filter(
        user=user, customer=customer, can_manage_billing=True
    ).exists()


def _require(user, customer):
    if not billing_may_manage(user=user, customer=customer):
        raise PaymentError(_("You may not change the billing details of this dealer."))


def billing_details_update(*, customer: Customer, user, values: dict) -> list[BillingChange]:
    """Change the dealer's billing details; refused (nothing stored) with the field's error."""
    _require(user, customer)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        before = {name: getattr(customer, name) for name in DEALER_FIELDS}
        for name in DEALER_FIELDS:
            if name in values:
                setattr(customer, name, (values[name] or "").strip())
        try:
            customer.full_clean()
        except ValidationError as error:
            transaction.set_rollback(True)
            raise error
        changes = [
            BillingChange(
                customer=customer,
                user=user,
                field=name,
                old_value=before[name],
                new_value=getattr(customer, name),
            )
            for name in DEALER_FIELDS
            if getattr(customer, name) != before[name]
        ]
        if changes:
            customer.save(update_fields=[change.field for change in changes])
            BillingChange.objects.bulk_create(changes)
    return changes


def billing_payment_method_set(*, customer: Customer, user, method: str) -> Customer:
    _require(user, customer)
    with transaction.atomic():
        old = customer.payment_method
        customer = _payment_method_set(customer=customer, method=method)
        if old != customer.payment_method:
            BillingChange.objects.create(
                customer=customer,
                user=user,
                field="payment_method",
                old_value=old,
                new_value=customer.payment_method,
            )
    return customer


@dataclass(frozen=True)
class OnlineSignature:
    debtor_name: str
    iban: str
    bic: str
    signed_place: str
    accepted: bool


def billing_mandate_sign(
    *, customer: Customer, user, signature: OnlineSignature, mandate_text: str, today: date
) -> Mandate:
    """Sign a SEPA mandate online: the text the signer accepted, the day and the signer are kept;
    direct debit becomes the payment method."""
    _require(user, customer)
    if not signature.accepted:
        raise PaymentError(_("Accept the mandate's text to sign it."), field="accepted")
    signer = (user.get_full_name() or user.get_username()).strip()
    with transaction.atomic():
        old = customer.payment_method
        mandate = mandate_create(
            customer=customer,
            data=MandateInput(
                debtor_name=signature.debtor_name,
                iban=signature.iban,
                bic=signature.bic,
                signed_on=today,
                signed_place=signature.signed_place,
                signer_name=signer,
            ),
            signer=user,
            mandate_text=mandate_text,
            today=today,
        )
        BillingChange.objects.create(
            customer=customer,
            user=user,
            field="mandate",
            old_value=old,
            new_value=f"{mandate.reference} {mandate.iban}",
        )
    return mandate


def mandate_text(*, customer: Customer) -> str:
    """The mandate's text the signer accepts (in the active language)."""
    from django.conf import settings

    return _(
        "By signing this mandate form, you authorise %(creditor)s (creditor identifier "
        "%(ics)s) to send instructions to your bank to debit your account, and your bank to "
        "debit your account in accordance with the instructions from %(creditor)s. This "
        "mandate is only intended for business-to-business transactions: you are not "
        "entitled to a refund from your bank after your account has been debited, but you "
        "are entitled to request your bank not to debit your account up until the day on "
        "which the payment is due. You will be notified of each debit %(days)d days before "
        "it."
    ) % {
        "creditor": settings.SELLER["legal_name"],
        "ics": settings.SEPA_CREDITOR_ID,
        "days": settings.DIRECT_DEBIT_NOTICE_DAYS,
    }


def mandate_pdf(*, mandate: Mandate) -> bytes:
    """The signed mandate as a PDF (WeasyPrint), in the customer's language."""
    from django.conf import settings
    from django.template.loader import render_to_string
    from django.utils import translation

    from billing.invoicing.pdf import pdf_from_html

    with translation.override(mandate.customer.language):
        html = render_to_string(
            "billing/mandate_pdf.html",
            {"mandate": mandate, "customer": mandate.customer, "seller": settings.SELLER},
        )
    return pdf_from_html(html)
