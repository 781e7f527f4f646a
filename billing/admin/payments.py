"""Admin for getting paid: SEPA mandates (recorded from a signed paper mandate, revoked, never
deleted), direct-debit pre-notifications, pain.008 files (built from the admin, downloaded) and
the invoices in collection."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from billing.errors import BillingError
from billing.models import (
    BankEntry,
    BankStatement,
    DirectDebit,
    DirectDebitBatch,
    DirectDebitNotice,
    EntryStatus,
    Mandate,
    MandateScheme,
    Payment,
    PaymentReminder,
    ReminderPause,
)
from billing.months import today as billing_today
from billing.payments.debits import direct_debits_export
from billing.payments.methods import (
    MandateInput,
    PaymentError,
    mandate_check,
    mandate_create,
    mandate_revoke,
)
from billing.payments.statements import bank_entry_match, bank_statement_import, invoice_by_number
from customers.models import BillingChange


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
        for mandate in queryset.in_force():
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


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DirectDebitNotice)
class DirectDebitNoticeAdmin(ReadOnlyAdmin):
    list_display = ("invoice", "customer", "collection_date", "amount", "created_at", "email_error")
    list_select_related = ("invoice__customer",)
    search_fields = ("invoice__number", "invoice__customer__code", "invoice__customer__legal_name")
    date_hierarchy = "collection_date"

    @admin.display(description=_("customer"), ordering="invoice__customer__code")
    def customer(self, notice):
        return notice.invoice.customer


@admin.register(DirectDebit)
class DirectDebitAdmin(ReadOnlyAdmin):
    list_display = (
        "invoice",
        "customer",
        "collection_date",
        "amount",
        "sequence_type",
        "status",
        "returned_on",
        "return_reason",
    )
    list_filter = ("status", "sequence_type")
    list_select_related = ("invoice__customer", "batch")
    search_fields = (
        "invoice__number",
        "end_to_end_id",
        "invoice__customer__code",
        "invoice__customer__legal_name",
    )

    @admin.display(description=_("customer"), ordering="invoice__customer__code")
    def customer(self, debit):
        return debit.invoice.customer

    @admin.display(description=_("collection date"), ordering="batch__collection_date")
    def collection_date(self, debit):
        return debit.batch.collection_date


class ExportForm(forms.Form):
    collection_date = forms.DateField(
        label=_("Collection date"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("The invoices pre-notified for this date (or before) are collected."),
    )


@admin.register(DirectDebitBatch)
class DirectDebitBatchAdmin(ReadOnlyAdmin):
    list_display = ("collection_date", "scheme", "count", "total", "created_at", "download")
    list_filter = ("scheme",)
    date_hierarchy = "collection_date"
    exclude = ("xml",)

    @admin.display(description=_("file"))
    def download(self, batch):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:billing_directdebitbatch_xml", args=[batch.pk]),
            batch.filename,
        )

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="billing_directdebitbatch_export",
            ),
            path(
                "<int:pk>/xml/",
                self.admin_site.admin_view(require_safe(self.xml_view)),
                name="billing_directdebitbatch_xml",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "export_url": reverse("admin:billing_directdebitbatch_export"),
        }
        return super().changelist_view(request, extra_context)

    def xml_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        batch = get_object_or_404(DirectDebitBatch, pk=pk)
        response = HttpResponse(bytes(batch.xml), content_type="application/xml")
        response["Content-Disposition"] = f'attachment; filename="{batch.filename}"'
        return response

    def export_view(self, request):
        if not request.user.has_perm("billing.add_directdebitbatch"):
            raise PermissionDenied
        form = ExportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                export = direct_debits_export(
                    collection_date=form.cleaned_data["collection_date"], user=request.user
                )
            except BillingError as error:
                form.add_error("collection_date", str(error))
            else:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d direct debit put in collection.",
                        "%(count)d direct debits put in collection.",
                        export.count,
                    )
                    % {"count": export.count},
                    messages.SUCCESS,
                )
                return redirect("admin:billing_directdebitbatch_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Export direct debits"),
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/directdebitbatch/export.html", context)


class StatementUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Statement file"),
        help_text=_(
            "camt.053 (XML) or CSV with the columns booking_date, amount, bank_reference, "
            "counterparty_name, counterparty_iban, remittance."
        ),
    )


@admin.register(BankStatement)
class BankStatementAdmin(ReadOnlyAdmin):
    list_display = ("filename", "format", "account_iban", "imported_at", "imported_by")

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="billing_bankstatement_import",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "import_url": reverse("admin:billing_bankstatement_import"),
        }
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        if not request.user.has_perm("billing.add_bankstatement"):
            raise PermissionDenied
        form = StatementUploadForm(request.POST or None, request.FILES or None)
        result = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = bank_statement_import(
                    filename=upload.name, content=upload.read(), user=request.user
                )
            except BillingError as error:
                form.add_error("file", str(error))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import a bank statement"),
            "form": form,
            "result": result,
        }
        return TemplateResponse(request, "admin/billing/bankstatement/import.html", context)


class MatchForm(forms.Form):
    invoice = forms.CharField(label=_("Invoice number"), max_length=32)


@admin.register(BankEntry)
class BankEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "booked_on",
        "amount",
        "counterparty_name",
        "remittance",
        "status",
        "invoice",
        "bank_reference",
    )
    list_filter = ("status",)
    list_select_related = ("invoice",)
    search_fields = ("bank_reference", "counterparty_name", "remittance", "invoice__number")
    date_hierarchy = "booked_on"
    actions = ("match_to_invoice",)

    @admin.action(description=_("Match to an invoice…"), permissions=["add_payment"])
    def match_to_invoice(self, request, queryset):
        entries = list(queryset.filter(status=EntryStatus.UNMATCHED, amount__gt=0))
        if len(entries) != 1:
            self.message_user(
                request, gettext("Select one credit waiting to be matched."), messages.WARNING
            )
            return None
        entry = entries[0]
        form = MatchForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                invoice = invoice_by_number(number=form.cleaned_data["invoice"])
                bank_entry_match(entry=entry, invoice=invoice, user=request.user)
            except BillingError as error:
                form.add_error("invoice", str(error))
            else:
                self.message_user(
                    request,
                    gettext("%(amount)s recorded on %(invoice)s.")
                    % {"amount": entry.amount, "invoice": invoice.number},
                    messages.SUCCESS,
                )
                return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Match to an invoice"),
            "entry": entry,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/billing/bankentry/match.html", context)

    def has_add_payment_permission(self, request):
        return request.user.has_perm("billing.add_payment")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("paid_on", "invoice", "customer", "amount", "kind", "entry")
    list_filter = ("kind",)
    list_select_related = ("invoice__customer", "entry")
    search_fields = ("invoice__number", "invoice__customer__code", "invoice__customer__legal_name")
    date_hierarchy = "paid_on"

    @admin.display(description=_("customer"), ordering="invoice__customer__code")
    def customer(self, payment):
        return payment.invoice.customer


@admin.register(ReminderPause)
class ReminderPauseAdmin(admin.ModelAdmin):
    list_display = ("customer", "reason", "paused_at", "paused_by")
    search_fields = ("customer__code", "customer__legal_name", "reason")
    list_select_related = ("customer", "paused_by")
    autocomplete_fields = ("customer",)
    fields = ("customer", "reason")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.paused_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(PaymentReminder)
class PaymentReminderAdmin(ReadOnlyAdmin):
    list_display = ("sent_on", "invoice", "customer", "step", "amount_due", "email_error")
    list_select_related = ("invoice__customer",)
    search_fields = ("invoice__number", "invoice__customer__code", "invoice__customer__legal_name")
    date_hierarchy = "sent_on"

    @admin.display(description=_("customer"), ordering="invoice__customer__code")
    def customer(self, reminder):
        return reminder.invoice.customer


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PaymentInline(_ReadOnlyInline):
    """The payments of an invoice, on its page."""

    model = Payment
    fk_name = "invoice"
    fields = ("paid_on", "amount", "kind", "entry")
    readonly_fields = fields


class ReminderInline(_ReadOnlyInline):
    """The reminders sent for an invoice, on its page."""

    model = PaymentReminder
    fields = ("sent_on", "step", "amount_due", "email_error")
    readonly_fields = fields


class DirectDebitInline(_ReadOnlyInline):
    """The direct debits of an invoice (in collection, returned), on its page."""

    model = DirectDebit
    fields = ("batch", "amount", "sequence_type", "status", "returned_on", "return_reason")
    readonly_fields = fields


@admin.register(BillingChange)
class BillingChangeAdmin(ReadOnlyAdmin):
    """What dealers changed in their billing section, for staff to read."""

    list_display = ("changed_at", "customer", "user", "field", "old_value", "new_value")
    list_filter = ("field",)
    list_select_related = ("customer", "user")
    search_fields = ("customer__code", "customer__legal_name", "user__username")
    date_hierarchy = "changed_at"
