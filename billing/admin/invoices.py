"""Admin for invoices: read-only invoices and credit notes with their PDF, and the actions on
them: issue drafts, cancel with a credit note, send the e-mail again, record a payment. The
month close page is billing.admin.month_close."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from billing.admin.accounting import accounting_urls
from billing.admin.month_close import issue_invoices, month_close_urls
from billing.admin.payments import DirectDebitInline, PaymentInline, ReminderInline
from billing.errors import BillingError
from billing.formats import format_money
from billing.invoicing.dashboard import PAYMENT_STATES, receivables_filter
from billing.invoicing.emails import invoices_send_again
from billing.invoicing.facturx import invoice_facturx_xml
from billing.invoicing.issue import invoice_cancel
from billing.models import Actor, EmailStatus, Invoice, InvoiceKind, InvoiceLine, InvoiceStatus
from billing.months import Month
from billing.months import today as billing_today
from billing.payments.statements import payment_record_balance


def _party(details: dict, keys) -> str:
    if not details:
        return "—"
    return format_html_join(
        "",
        "<div>{}</div>",
        ((line,) for key in keys for line in str(details.get(key) or "").splitlines() if line),
    )


class PaymentForm(forms.Form):
    paid_on = forms.DateField(
        label=_("Paid on"),
        initial=billing_today,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),  # HTML: ISO, always
        help_text=_("The day the payment reached the bank account."),
    )

    def clean_paid_on(self):
        paid_on = self.cleaned_data["paid_on"]
        if paid_on > billing_today():
            raise forms.ValidationError(_("A payment is recorded once it is received."))
        return paid_on


class InvoiceMonthFilter(admin.SimpleListFilter):
    title = _("month")
    parameter_name = "month"

    def lookups(self, request, model_admin):
        months = Invoice.objects.order_by("-month").values_list("month", flat=True).distinct()
        return [(f"{month:%Y-%m}", f"{month:%Y-%m}") for month in months[:24]]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(month=Month.parse(self.value()).first_day)
        except BillingError:
            return queryset.none()


class PaymentFilter(admin.SimpleListFilter):
    """Issued invoices by payment: paid, due, overdue and overdue by age (the dashboard's)."""

    title = _("payment")
    parameter_name = "payment"

    def lookups(self, request, model_admin):
        return (
            ("paid", _("paid")),
            ("due", _("due, not yet late")),
            ("overdue", _("overdue")),
            ("overdue_1_30", _("overdue by 0–30 days")),
            ("overdue_31_60", _("overdue by 31–60 days")),
            ("overdue_61", _("overdue by over 60 days")),
        )

    def queryset(self, request, queryset):
        if self.value() not in PAYMENT_STATES:
            return queryset
        return queryset.filter(
            receivables_filter(self.value(), billing_today()),
            kind=InvoiceKind.INVOICE,
            status=InvoiceStatus.ISSUED,
        )


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    verbose_name_plural = _("lines")  # of an invoice or of a credit note
    fields = ("position", "description", "quantity", "unit_price", "amount")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    change_list_template = "admin/billing/invoice/change_list.html"
    list_display = (
        "document",
        "customer_code",
        "service_month",
        "state",
        "total_incl_vat",
        "issue_date",
        "paid_on",
        "email_status",
        "pdf_link",
    )
    list_filter = ("status", "kind", PaymentFilter, "email_status", InvoiceMonthFilter, "customer")
    search_fields = ("number", "customer__code", "customer__legal_name")
    search_help_text = _("A number, or a customer's code or name: all or part of it.")
    list_select_related = ("customer",)
    inlines = [InvoiceLineInline, DirectDebitInline, PaymentInline, ReminderInline]
    actions = ["issue_drafts", "cancel_with_credit_note", "send_again", "record_payment"]
    exclude = ("pdf",)

    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("document", "kind", "status"),
                    ("customer", "service_month"),
                    ("issue_date", "due_date"),
                    "credited_invoice",
                    "pdf_link",
                )
            },
        ),
        (
            _("Amounts"),
            {
                "fields": (
                    "plan_name",
                    ("points_used", "included_points", "overage_points", "engaged_contacts"),
                    ("net_total", "vat_rate", "vat_amount", "total"),
                    "vat_treatment",
                )
            },
        ),
        (_("Parties, as on the day of issue"), {"fields": (("seller_block", "buyer_block"),)}),
        (capfirst(_("Chatpoints detail")), {"fields": ("usage_table",)}),
        (
            _("Payment and e-mail"),
            {"fields": ("paid_on", ("email_status", "email_sent_at"), "email_error")},
        ),
        (
            _("Record"),
            {
                "classes": ("collapse",),
                "fields": ("series", "year", "sequence", "issued_at", "computed_at", "language"),
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Invoice._meta.fields if f.name != "pdf"] + [
            "pdf_link",
            "document",
            "service_month",
            "seller_block",
            "buyer_block",
            "usage_table",
        ]

    @admin.display(description=_("seller"))
    def seller_block(self, invoice):
        return _party(
            invoice.seller,
            (
                "legal_name",
                "legal_form",
                "capital",
                "address",  # an invoice issued before the address was structured
                "street",
                "postcode",
                "city",
                "siren",
                "rcs",
                "vat_number",
                "email",
            ),
        )

    @admin.display(description=_("buyer"))
    def buyer_block(self, invoice):
        return _party(
            invoice.buyer,
            ("legal_name", "address", "postal_code", "city", "country_name", "vat_number", "siren"),
        )

    @admin.display(description=_("Chatpoints detail"))
    def usage_table(self, invoice):
        if not invoice.usage:
            return (
                gettext("Copied when the invoice is issued.") if invoice.status == "draft" else "—"
            )
        actors = dict(Actor.choices)  # each actor's name in the page's language
        lines = [
            {**line, "actor": actors.get(line["actor"], line["actor"])} for line in invoice.usage
        ]
        return render_to_string("admin/billing/invoice/usage.html", {"usage": lines})

    @admin.display(description=_("number"), ordering="number")
    def document(self, invoice):
        return invoice.number or gettext("draft")

    @admin.display(description=_("customer"), ordering="customer__code")
    def customer_code(self, invoice):
        return invoice.customer.code

    @admin.display(description=_("month"), ordering="month")
    def service_month(self, invoice):
        return f"{invoice.month:%Y-%m}"

    @admin.display(description=_("status"), ordering="status")
    def state(self, invoice):
        if invoice.kind == InvoiceKind.CREDIT_NOTE:
            return gettext("credit note")
        return invoice.get_status_display()

    @admin.display(description=_("total"), ordering="total")
    def total_incl_vat(self, invoice):
        return format_money(invoice.total)

    @admin.display(description=_("PDF"))
    def pdf_link(self, invoice):
        if invoice.status == InvoiceStatus.DRAFT:
            return ""
        return format_html(
            '<a href="{}" title="{}.pdf">PDF</a> · <a href="{}" title="{}.xml">XML</a>',
            reverse("admin:billing_invoice_pdf", args=[invoice.pk]),
            invoice.number,
            reverse("admin:billing_invoice_xml", args=[invoice.pk]),
            invoice.number,
        )

    def has_add_permission(self, request):
        return False  # drafts come from the month close

    def has_change_permission(self, request, obj=None):
        return False  # issued invoices are final; drafts follow the usage

    def has_delete_permission(self, request, obj=None):
        return False  # nothing is ever deleted: an invoice is cancelled by a credit note

    def has_issue_permission(self, request):
        return request.user.has_perm("billing.issue_invoice")

    def has_cancel_permission(self, request):
        return request.user.has_perm("billing.cancel_invoice")

    def has_send_permission(self, request):
        # E-mailing a customer is part of issuing: viewing invoices is not enough.
        return request.user.has_perm("billing.issue_invoice")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        invoice = self.get_object(request, unquote(object_id))
        if invoice is not None and invoice.kind == InvoiceKind.CREDIT_NOTE:
            extra_context = {**(extra_context or {}), "title": gettext("View credit note")}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            *month_close_urls(self),
            *accounting_urls(self),
            path(
                "<int:pk>/pdf/",
                self.admin_site.admin_view(require_safe(self.pdf_view)),
                name="billing_invoice_pdf",
            ),
            path(
                "<int:pk>/xml/",
                self.admin_site.admin_view(require_safe(self.xml_view)),
                name="billing_invoice_xml",
            ),
            *super().get_urls(),
        ]

    def pdf_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice, pk=pk)
        if invoice.pdf is None:
            raise Http404
        response = HttpResponse(bytes(invoice.pdf), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
        return response

    def xml_view(self, request, pk):
        """The e-invoice alone: the Factur-X XML the stored PDF carries."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice, pk=pk)
        xml = invoice_facturx_xml(invoice)
        if xml is None:
            raise Http404
        response = HttpResponse(xml, content_type="application/xml")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number}.xml"'
        return response

    # --- actions -----------------------------------------------------------------------------

    @admin.action(description=_("Issue the selected drafts"), permissions=["issue"])
    def issue_drafts(self, request, queryset):
        issue_invoices(request, queryset)

    @admin.action(description=_("Cancel with a credit note…"), permissions=["cancel"])
    def cancel_with_credit_note(self, request, queryset):
        invoices = queryset.issued()
        if "confirm" not in request.POST:
            context = {
                **self.admin_site.each_context(request),
                "title": gettext("Cancel invoices with credit notes"),
                "opts": self.model._meta,
                "invoices": invoices.select_related("customer"),
                "ignored": queryset.count() - invoices.count(),
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/billing/invoice/cancel.html", context)
        notes = []
        for invoice in invoices:
            try:
                notes.append(f"{invoice.number} → {invoice_cancel(invoice=invoice).number}")
            except BillingError as error:
                self.message_user(request, str(error), messages.ERROR)
        if notes:
            self.message_user(
                request,
                gettext("Credit notes issued: %(notes)s. The month can be invoiced again.")
                % {"notes": ", ".join(notes)},
                messages.SUCCESS,
            )
        return None

    @admin.action(description=_("Send the e-mail again"), permissions=["send"])
    def send_again(self, request, queryset):
        # Through the e-mail task (retries and backoff); without a broker it runs here and now.
        ids = list(queryset.exclude(status=InvoiceStatus.DRAFT).values_list("pk", flat=True))
        invoices_send_again(invoice_ids=ids)
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            self.message_user(
                request,
                ngettext(
                    "%(count)d e-mail handed to the workers: its status follows on the invoice.",
                    "%(count)d e-mails handed to the workers: their status follows on the "
                    "invoices.",
                    len(ids),
                )
                % {"count": len(ids)},
                messages.SUCCESS,
            )
            return
        statuses = list(Invoice.objects.filter(pk__in=ids).values_list("email_status", flat=True))
        sent, failed = statuses.count(EmailStatus.SENT), statuses.count(EmailStatus.FAILED)
        self.message_user(
            request,
            gettext("E-mails sent: %(sent)d; failed: %(failed)d.")
            % {"sent": sent, "failed": failed},
            messages.SUCCESS if not failed else messages.WARNING,
        )

    @admin.action(description=_("Record the payment…"), permissions=["issue"])
    def record_payment(self, request, queryset):
        invoices = queryset.issued().filter(paid_on__isnull=True)
        form = PaymentForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            count = 0
            for invoice in invoices:
                paid_on = form.cleaned_data["paid_on"]
                if payment_record_balance(invoice=invoice, paid_on=paid_on, user=request.user):
                    count += 1
            self.message_user(
                request,
                gettext("%(count)d invoices marked paid.") % {"count": count},
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Record the payment"),
            "opts": self.model._meta,
            "form": form,
            "invoices": invoices.select_related("customer"),
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/billing/invoice/paid.html", context)
