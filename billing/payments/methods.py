"""Payment methods and SEPA mandates."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from billing import sepa
from billing.errors import BillingError
from billing.models import Mandate, MandateScheme, SequenceType
from billing.months import today as billing_today
from customers.models import Customer, PaymentMethod


class PaymentError(BillingError):
    """A payment rule refused something; `field` names the input it is about, if any."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class MandateInput:
    debtor_name: str
    iban: str
    signed_on: date
    signed_place: str
    signer_name: str
    bic: str = ""
    scheme: str = ""
    reference: str = ""


def mandate_reference_new(*, customer: Customer) -> str:
    """A fresh RUM for a customer: CP-<CODE>-<n> (only characters SEPA allows)."""
    base = "CP-" + re.sub(r"[^A-Z0-9-]", "-", customer.code.upper())[:24]
    taken = set(
        Mandate.objects.filter(reference__startswith=base).values_list("reference", flat=True)
    )
    for n in itertools.count(1):
        candidate = f"{base}-{n}"
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable")


def mandate_check(*, data: MandateInput, today: date | None = None) -> dict:
    """The mandate's fields, checked and normalised; PaymentError names the first bad field."""
    today = today or billing_today()
    name = " ".join((data.debtor_name or "").split())
    if not name:
        raise PaymentError(_("The debtor's name is required."), field="debtor_name")
    if len(name) > 70:
        raise PaymentError(
            _("The debtor's name has %(count)d characters: 70 at most.") % {"count": len(name)},
            field="debtor_name",
        )
    try:
        account = sepa.bank_account(data.iban, data.bic)
    except ValueError as error:
        field = "bic" if data.bic and "BIC" in str(error) and "IBAN:" not in str(error) else "iban"
        raise PaymentError(str(error), field=field) from None
    if data.signed_on is None or data.signed_on > today:
        raise PaymentError(
            _("The signature date %(value)s is in the future.") % {"value": data.signed_on},
            field="signed_on",
        )
    place = (data.signed_place or "").strip()
    if not place:
        raise PaymentError(_("The place of signature is required."), field="signed_place")
    signer = (data.signer_name or "").strip()
    if not signer:
        raise PaymentError(_("The signer's name is required."), field="signer_name")
    scheme = data.scheme or settings.SEPA_DEFAULT_SCHEME
    if scheme not in MandateScheme.values:
        raise PaymentError(
            _("%(value)s is not a direct-debit scheme: B2B or CORE.") % {"value": scheme},
            field="scheme",
        )
    reference = ""
    if data.reference:
        try:
            reference = sepa.check_mandate_reference(data.reference)
        except ValueError as error:
            raise PaymentError(str(error), field="reference") from None
        if Mandate.objects.filter(reference=reference).exists():
            raise PaymentError(
                _("The mandate reference %(value)s is already used.") % {"value": reference},
                field="reference",
            )
    creditor_id = sepa.compact(settings.SEPA_CREDITOR_ID)
    if not sepa.creditor_id_is_valid(creditor_id):
        raise PaymentError(
            _("The creditor identifier (ICS) %(value)s in the settings is not valid.")
            % {"value": creditor_id}
        )
    return {
        "debtor_name": name,
        "iban": account.iban,
        "bic": account.bic,
        "signed_on": data.signed_on,
        "signed_place": place,
        "signer_name": signer,
        "scheme": scheme,
        "reference": reference,
        "creditor_id": creditor_id,
    }


def mandate_create(
    *,
    customer: Customer,
    data: MandateInput,
    signer=None,
    mandate_text: str = "",
    today: date | None = None,
) -> Mandate:
    """Record a signed mandate and make direct debit the customer's payment method. A mandate
    already in force is revoked on the signature day of the new one (one in force at a time)."""
    fields = mandate_check(data=data, today=today)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        Mandate.objects.in_force().filter(customer=customer).update(revoked_on=fields["signed_on"])
        if not fields["reference"]:
            fields["reference"] = mandate_reference_new(customer=customer)
        mandate = Mandate(
            customer=customer,
            signer=signer,
            mandate_text=mandate_text,
            next_sequence=SequenceType.FIRST,
            **fields,
        )
        mandate.full_clean()
        mandate.save()
        customer.payment_method = PaymentMethod.SEPA_DEBIT
        customer.save(update_fields=["payment_method"])
    return mandate


def mandate_revoke(*, mandate: Mandate, on: date | None = None) -> Mandate:
    """Revoke a mandate (kept, never deleted): the customer pays by bank transfer again."""
    on = on or billing_today()
    with transaction.atomic():
        mandate = Mandate.objects.select_for_update().get(pk=mandate.pk)
        if mandate.revoked_on is not None:
            raise PaymentError(
                _("The mandate %(reference)s is already revoked.")
                % {"reference": mandate.reference}
            )
        if on < mandate.signed_on:
            raise PaymentError(
                _("A mandate cannot be revoked before it was signed (%(date)s).")
                % {"date": mandate.signed_on},
                field="revoked_on",
            )
        mandate.revoked_on = on
        mandate.save(update_fields=["revoked_on"])
        Customer.objects.filter(pk=mandate.customer_id).update(
            payment_method=PaymentMethod.TRANSFER
        )
    return mandate


def mandate_in_force(*, customer: Customer) -> Mandate | None:
    return Mandate.objects.in_force().filter(customer=customer).first()


def payment_method_set(*, customer: Customer, method: str) -> Customer:
    """Change how a customer pays: direct debit only under a mandate in force."""
    if method not in PaymentMethod.values:
        raise PaymentError(
            _("%(value)s is not a payment method.") % {"value": method}, field="payment_method"
        )
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        if (
            method == PaymentMethod.SEPA_DEBIT
            and not Mandate.objects.in_force().filter(customer=customer).exists()
        ):
            raise PaymentError(
                _("Direct debit needs a signed SEPA mandate: sign one first."),
                field="payment_method",
            )
        customer.payment_method = method
        customer.save(update_fields=["payment_method"])
    return customer
