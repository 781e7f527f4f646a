"""Admin for getting paid: SEPA mandates (recorded from a signed paper mandate, revoked, never
deleted)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from billing.models import Mandate, MandateScheme
from billing.months import today as billing_today
from billing.payments.methods import (
    MandateInput,
    PaymentError,
    mandate_check,
    mandate_create,
    mandate_revoke,
)


class MandateForm(forms.ModelForm):
    reference = forms.CharField(
        label=_("Mandate reference (RUM)"),
        max_length=35,
        required=False,
        help_text=_("Empty: one is given (CP-<customer code>-<n>)."),
    )
    bic = forms.CharField(
        label=_("BIC"),
        max_length=11,
        required=False,
        help_text=_("Empty: the BIC of the IBAN's bank, when it is known."),
    )
    scheme = forms.ChoiceField(
        label=_("Scheme"), choices=MandateScheme.choices, initial=MandateScheme.B2B
    )

    class Meta:
        model = Mandate
        fields = (
            "customer",
            "reference",
            "scheme",
            "debtor_name",
            "iban",
            "bic",
            "signed_on",
            "signed_place",
            "signer_name",
        )
        widgets = {"signed_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        data = MandateInput(
            debtor_name=cleaned.get("debtor_name", ""),
            iban=cleaned.get("iban", ""),
            bic=cleaned.get("bic", ""),
            signed_on=cleaned.get("signed_on"),
            signed_place=cleaned.get("signed_place", ""),
            signer_name=cleaned.get("signer_name", ""),
            scheme=cleaned.get("scheme", ""),
            reference=cleaned.get("reference", ""),
        )
        try:
            mandate_check(data=data)
        except PaymentError as error:
            self.add_error(error.field if error.field in self.fields else None, str(error))
        self.mandate_input = data
        return cleaned

    def _post_clean(self):
        # The service checks and builds the mandate (reference given, ICS from the settings).
        pass


@admin.register(Mandate)
class MandateAdmin(admin.ModelAdmin):
    form = MandateForm
    list_display = (
        "reference",
        "customer",
        "scheme",
        "debtor_name",
        "iban",
        "signed_on",
        "next_sequence",
        "revoked_on",
    )
    list_filter = ("scheme", ("revoked_on", admin.EmptyFieldListFilter))
    search_fields = ("reference", "customer__code", "customer__legal_name", "debtor_name", "iban")
    list_select_related = ("customer",)
    autocomplete_fields = ("customer",)
    actions = ("revoke_selected",)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [field.name for field in Mandate._meta.fields]

    def get_fields(self, request, obj=None):
        if obj is None:
            return MandateForm.Meta.fields
        return [field.name for field in Mandate._meta.fields if field.name != "id"]

    def save_model(self, request, obj, form, change):
        if change:
            return
        mandate = mandate_create(customer=form.cleaned_data["customer"], data=form.mandate_input)
        obj.pk = mandate.pk
        obj.reference = mandate.reference

    @admin.action(description=_("Revoke the selected mandates"), permissions=["change"])
    def revoke_selected(self, request, queryset):
        count = 0
        for mandate in queryset.filter(revoked_on__isnull=True):
            try:
                mandate_revoke(mandate=mandate, on=billing_today())
            except PaymentError as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d mandate revoked.", "%(count)d mandates revoked.", count)
            % {"count": count}
            if count
            else gettext("No mandate in force was selected."),
            messages.SUCCESS if count else messages.WARNING,
        )
