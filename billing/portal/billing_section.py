"""The dealer's billing section: billing details, payment method, the SEPA mandate signed online
and its PDF. Dealer users whom staff allowed to manage billing change them; the others, and
staff who may only view, read them. Another dealer's section is a 404 like every portal page."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_safe

from billing.errors import BillingError
from billing.models import Mandate
from billing.months import today as billing_today
from billing.payments.details import (
    OnlineSignature,
    billing_details_update,
    billing_mandate_sign,
    billing_may_manage,
    billing_payment_method_set,
    mandate_pdf,
    mandate_text,
)
from billing.payments.methods import PaymentError
from billing.portal.views import _customer, _portal_context
from customers.models import PaymentMethod, validate_billing_emails


class DetailsForm(forms.Form):
    billing_emails = forms.CharField(
        label=gettext_lazy("Billing e-mails"),
        widget=forms.Textarea(attrs={"rows": 2}),
        validators=[validate_billing_emails],
        help_text=gettext_lazy("Where invoices are sent: one address per line."),
    )
    address = forms.CharField(
        label=gettext_lazy("Street address"), widget=forms.Textarea(attrs={"rows": 2})
    )
    postal_code = forms.CharField(label=gettext_lazy("Postal code"), max_length=16)
    city = forms.CharField(label=gettext_lazy("City"), max_length=100)
    purchase_order_reference = forms.CharField(
        label=gettext_lazy("Purchase order reference"),
        max_length=64,
        required=False,
        help_text=gettext_lazy("Printed on your next invoices."),
    )


class MethodForm(forms.Form):
    payment_method = forms.ChoiceField(
        label=gettext_lazy("Payment method"),
        choices=PaymentMethod.choices,
        widget=forms.RadioSelect,
    )


class MandateForm(forms.Form):
    debtor_name = forms.CharField(label=gettext_lazy("Account holder"), max_length=70)
    iban = forms.CharField(label=gettext_lazy("IBAN"), max_length=42)
    bic = forms.CharField(
        label=gettext_lazy("BIC"),
        max_length=11,
        required=False,
        help_text=gettext_lazy("Only if your bank is not recognised from the IBAN."),
    )
    signed_place = forms.CharField(label=gettext_lazy("Signed at (town)"), max_length=100)
    accepted = forms.BooleanField(
        label=gettext_lazy("I accept the mandate's text above and sign it."), required=True
    )


def _mandates(customer):
    return list(Mandate.objects.filter(customer=customer).order_by("-signed_on", "-id"))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def section(request, customer: str):
    customer = _customer(request, customer)
    may_manage = billing_may_manage(user=request.user, customer=customer)
    details = DetailsForm(
        initial={
            "billing_emails": "\n".join(customer.billing_email_list),
            "address": customer.address,
            "postal_code": customer.postal_code,
            "city": customer.city,
            "purchase_order_reference": customer.purchase_order_reference,
        }
    )
    method = MethodForm(initial={"payment_method": customer.payment_method})
    if request.method == "POST":
        if not may_manage:
            raise Http404
        if request.POST.get("form") == "method":
            method = MethodForm(request.POST)
            if method.is_valid():
                try:
                    billing_payment_method_set(
                        customer=customer,
                        user=request.user,
                        method=method.cleaned_data["payment_method"],
                    )
                except BillingError as error:
                    method.add_error("payment_method", str(error))
                else:
                    messages.success(request, _("Payment method saved."))
                    return redirect("portal:billing", customer.code)
        else:
            details = DetailsForm(request.POST)
            if details.is_valid():
                try:
                    billing_details_update(
                        customer=customer, user=request.user, values=details.cleaned_data
                    )
                except ValidationError as error:
                    for name, problems in error.message_dict.items():
                        details.add_error(name if name in details.fields else None, problems)
                else:
                    messages.success(request, _("Billing details saved."))
                    return redirect("portal:billing", customer.code)
    mandates = _mandates(customer)
    context = {
        **_portal_context(request, customer, "billing"),
        "may_manage": may_manage,
        "details": details,
        "method": method,
        "mandate": next((m for m in mandates if m.revoked_on is None), None),
        "mandates": mandates,
    }
    return render(request, "billing/portal/billing.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def mandate_sign(request, customer: str):
    customer = _customer(request, customer)
    may_manage = billing_may_manage(user=request.user, customer=customer)
    if request.method == "POST" and not may_manage:
        raise Http404
    text = mandate_text(customer=customer)
    form = MandateForm(request.POST or None, initial={"debtor_name": customer.legal_name})
    if request.method == "POST" and form.is_valid():
        try:
            data = form.cleaned_data
            billing_mandate_sign(
                customer=customer,
                user=request.user,
                signature=OnlineSignature(
                    debtor_name=data["debtor_name"],
                    iban=data["iban"],
                    bic=data["bic"],
                    signed_place=data["signed_place"],
                    accepted=data["accepted"],
                ),
                mandate_text=text,
                today=billing_today(),
            )
        except PaymentError as error:
            form.add_error(error.field if error.field in form.fields else None, str(error))
        else:
            messages.success(request, _("Mandate signed: you now pay by SEPA direct debit."))
            return redirect("portal:billing", customer.code)
    context = {
        **_portal_context(request, customer, "billing"),
        "form": form,
        "mandate_text": text,
        "today": billing_today(),
        "may_manage": may_manage,
    }
    return render(request, "billing/portal/mandate_sign.html", context)


@login_required
@require_safe
def mandate_download(request, customer: str):
    """The signed mandate in force (else the last one signed) as a PDF."""
    customer = _customer(request, customer)
    mandate = (
        Mandate.objects.filter(customer=customer)
        .select_related("customer", "signer")
        .order_by(F("revoked_on").asc(nulls_first=True), "-signed_on", "-id")
        .first()
    )
    if mandate is None:
        raise Http404
    response = HttpResponse(mandate_pdf(mandate=mandate), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="mandate-{mandate.reference}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response
