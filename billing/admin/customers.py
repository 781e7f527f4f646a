"""Admin for customers, composed here with their billing parts: the subscriptions inline (the
rules of the set are billing.catalog.subscriptions'), late and unbilled chats, and this month's
and last month's statements. `customers` itself imports nothing of billing's admin."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import get_language, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from billing.admin.shared import LOCALIZED_DECIMALS
from billing.catalog.subscriptions import subscriptions_check, subscriptions_save
from billing.errors import BillingError, SubscriptionsRefused
from billing.invoicing.dashboard import QUOTA_NEAR, QUOTA_OVER, customers_in_quota_state
from billing.models import Actor, ChatEvent, Plan, Subscription, Tariff, UsageAlert
from billing.months import Month, current_month
from billing.usage.selectors import customer_attention, month_statement
from customers.models import (
    SIREN_REQUIRED_COUNTRIES,
    Customer,
    CustomerAccess,
    VatTreatment,
    normalize_siren,
    normalize_vat_number,
)

# --- Subscriptions (inline on the customer) ---------------------------------------------------


class SubscriptionFormSet(forms.models.BaseInlineFormSet):
    """All of a customer's subscriptions, checked together by billing.catalog.subscriptions:
    each refusal shown on its row and field, or above the rows for the set."""

    def clean(self):
        super().clean()
        rows = [
            form
            for form in self.forms
            if getattr(form, "cleaned_data", None)
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("first_month")
        ]
        forms_by_row = {id(form.instance): form for form in rows}
        try:
            subscriptions_check(
                customer=self.instance,
                subscriptions=[form.instance for form in rows],
                # a row already refused on its own is not checked against the past months
                past_months=[form.instance for form in rows if not form.errors],
            )
        except SubscriptionsRefused as refused:
            for_the_set = []
            for error in refused.errors:
                form = forms_by_row.get(id(error.subscription))
                if form is None:
                    for_the_set.append(str(error))
                else:
                    form.add_error(error.field, str(error))
            if for_the_set:
                raise ValidationError(for_the_set) from None


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    formset = SubscriptionFormSet
    extra = 0
    formfield_overrides = LOCALIZED_DECIMALS
    fields = (
        "plan",
        "first_month",
        "last_month",
        "custom_monthly_fee",
        "custom_included_points",
        "custom_price_per_extra_point",
    )
    ordering = ("first_month",)

    def has_delete_permission(self, request, obj=None):
        return False


# --- Statements on the customer page --------------------------------------------------------


def render_statement(customer, month: Month) -> str:
    """The statement of one month as a read-only table, or why there is none."""
    try:
        statement = month_statement(customer=customer, month=month)
    except BillingError as error:
        return render_to_string("admin/billing/statement_summary.html", {"error": error})
    descriptions = {
        t.code: t.description
        for t in Tariff.objects.only("code", "description_fr", "description_en")
    }
    lines = [
        {
            "tariff": line.tariff,
            "description": descriptions.get(line.tariff, line.tariff),
            "actor": Actor(line.actor).label,
            "chats": line.chats,
            "points": line.points,
        }
        for line in statement.lines
    ]
    plan = Plan.objects.get(code=statement.plan)
    return render_to_string(
        "admin/billing/statement_summary.html",
        {
            "statement": statement,
            "lines": lines,
            "plan_name": plan.name,
            "vat_treatment": VatTreatment(statement.vat_treatment).label,
        },
    )


# --- Customers ----------------------------------------------------------------------------------


class CustomerAccessInline(admin.TabularInline):
    model = CustomerAccess
    extra = 0
    autocomplete_fields = ("user",)
    verbose_name_plural = _("dealer users who can see this customer")


class CustomerForm(forms.ModelForm):
    """Accepts a SIREN or VAT number typed with spaces or dots, as people write them."""

    # Declared here (to accept spaces and dots): the label is capitalised as Django does for
    # the model's own fields.
    siren = forms.CharField(
        label=capfirst(_("SIREN")),
        required=False,
        max_length=20,
        help_text=_(
            "Required for a company in France: 9 digits (taken from its French VAT number when "
            "left empty)."
        ),
    )
    vat_number = forms.CharField(
        label=capfirst(_("VAT number")),
        required=False,
        max_length=30,
        help_text=_("Intra-EU VAT number, if any."),
    )

    class Meta:
        model = Customer
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose the fields)

    def clean_siren(self):
        return normalize_siren(self.cleaned_data["siren"])

    def clean_vat_number(self):
        return normalize_vat_number(self.cleaned_data["vat_number"])


class UsageAlertInline(admin.TabularInline):
    """The usage alerts sent to the customer (billing.usage.alerts): read only."""

    model = UsageAlert
    extra = 0
    can_delete = False
    fields = (
        "month_label",
        "threshold",
        "points_used",
        "included_points",
        "created_at",
        "email_status",
    )
    readonly_fields = fields
    verbose_name_plural = _("usage alerts sent")

    @admin.display(description=_("month"))
    def month_label(self, alert: UsageAlert) -> str:
        """The month as people say it ("novembre 2026"), not its first day."""
        return date_format(alert.month, "YEAR_MONTH_FORMAT")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class SirenMissingFilter(admin.SimpleListFilter):
    """The French businesses still without the SIREN their e-invoices require."""

    title = _("SIREN")
    parameter_name = "siren_missing"

    def lookups(self, request, model_admin):
        return [("1", _("missing (company in France)"))]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(siren="", country__in=SIREN_REQUIRED_COUNTRIES)
        return queryset


class QuotaFilter(admin.SimpleListFilter):
    """Dealers over or near their quota in the month in progress (the dashboard's figures)."""

    title = _("quota this month")
    parameter_name = "quota"

    def lookups(self, request, model_admin):
        return ((QUOTA_OVER, _("over the quota")), (QUOTA_NEAR, _("near the quota (80 %)")))

    def queryset(self, request, queryset):
        if self.value() not in (QUOTA_OVER, QUOTA_NEAR):
            return queryset
        return queryset.filter(pk__in=customers_in_quota_state(state=self.value()))


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerForm
    formfield_overrides = LOCALIZED_DECIMALS
    list_display = (
        "code",
        "legal_name",
        "city",
        "country",
        "plan_in_force",
        "vat",
        "language",
        "late_chats",
        "report_link",
    )
    list_filter = (QuotaFilter, "country", "language", SirenMissingFilter)
    search_fields = ("code", "legal_name", "vat_number", "siren", "billing_emails")
    search_help_text = _("Code, name, VAT number, SIREN or billing e-mail: all or part of it.")
    inlines = [SubscriptionInline, CustomerAccessInline, UsageAlertInline]
    readonly_fields = (
        "current_month_statement",
        "last_month_statement",
        "created_at",
        "chats_needing_attention",
        "dealer_report",
    )
    fieldsets = (
        (None, {"fields": ("code", "legal_name", "language", "dealer_report")}),
        (_("Address"), {"fields": ("address", "postal_code", "city", "country")}),
        (
            _("Tax and invoicing"),
            {
                "fields": (
                    "vat_number",
                    "siren",
                    "vat_rate",
                    "vat_treatment",
                    "billing_emails",
                    "usage_alerts",
                    "purchase_order_reference",
                )
            },
        ),
        (
            _("Statements"),
            {
                "fields": (
                    "chats_needing_attention",
                    "current_month_statement",
                    "last_month_statement",
                )
            },
        ),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if obj is not None else fieldsets[:-1]

    def get_queryset(self, request):
        first_day = current_month().first_day
        in_force = Subscription.objects.filter(
            Q(last_month__isnull=True) | Q(last_month__gte=first_day),
            customer=OuterRef("pk"),
            first_month__lte=first_day,
        )
        name = "plan__name_en" if (get_language() or "fr").startswith("en") else "plan__name_fr"
        late = (
            ChatEvent.objects.filter(customer=OuterRef("pk"), late=True, voided_at__isnull=True)
            .order_by()
            .values("customer")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                plan_code=Subquery(in_force.values("plan__code")[:1]),
                plan_label=Subquery(in_force.values(name)[:1]),  # in the page's language
                late_count=Coalesce(Subquery(late), 0),
            )
        )

    @admin.display(description=_("VAT"))
    def vat(self, customer):
        """The VAT its months get now (billing.vat's decision), not the stored domestic rate."""
        decision = customer.vat_decision()
        rate = f"{number_format(decision.rate, 2)} %"
        if decision.treatment == VatTreatment.STANDARD:
            return rate
        return f"{rate}, {VatTreatment(decision.treatment).label}"

    @admin.display(description=_("late chats"), ordering="late_count")
    def late_chats(self, customer):
        if not customer.late_count:
            return ""
        url = reverse("admin:billing_chatevent_changelist")
        return format_html(
            '<a href="{}?customer__id__exact={}&amp;billing=late">{}</a>',
            url,
            customer.pk,
            number_format(customer.late_count, force_grouping=True),
        )

    @admin.display(description=_("chats needing attention"))
    def chats_needing_attention(self, customer):
        counts = customer_attention(customer=customer)
        url = reverse("admin:billing_chatevent_changelist")
        return format_html(
            '<a href="{}?customer__id__exact={}&amp;billing=late">{}</a> · '
            '<a href="{}?customer__id__exact={}&amp;billing=unbilled">{}</a>',
            url,
            customer.pk,
            ngettext(
                "%(count)s late chat (its month was already invoiced)",
                "%(count)s late chats (their month was already invoiced)",
                counts["late"],
            )
            % {"count": number_format(counts["late"], force_grouping=True)},
            url,
            customer.pk,
            ngettext(
                "%(count)s unbilled chat (no plan in force that month)",
                "%(count)s unbilled chats (no plan in force that month)",
                counts["unbilled"],
            )
            % {"count": number_format(counts["unbilled"], force_grouping=True)},
        )

    @admin.display(description=_("dealer report"))
    def dealer_report(self, customer):
        """The report exactly as the dealer sees it (staff may open any customer's)."""
        if customer.pk is None:
            return "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            reverse("portal:report_index", kwargs={"customer": customer.code}),
            _("Open the dealer report"),
        )

    @admin.display(description=_("plan this month"), ordering="plan_code")
    def plan_in_force(self, customer):
        return customer.plan_label or "—"

    @admin.display(description=_("dealer report"))
    def report_link(self, customer):
        """The dealer's report, as a short link for the list."""
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            reverse("portal:report_index", kwargs={"customer": customer.code}),
            pgettext("link to the dealer report", "Report"),
        )

    def has_delete_permission(self, request, obj=None):
        return False  # a customer's chats and statements are kept for ever

    def save_formset(self, request, form, formset, change):
        if formset.model is not Subscription:
            return super().save_formset(request, form, formset, change)
        # In an order the database accepts row by row (checked by the formset already).
        subscriptions_save(customer=form.instance, subscriptions=formset.save(commit=False))
        formset.save_m2m()

    @admin.display(description=_("statement of this month so far"))
    def current_month_statement(self, customer):
        return self._statement(customer, current_month())

    @admin.display(description=_("statement of last month"))
    def last_month_statement(self, customer):
        return self._statement(customer, current_month().previous())

    def _statement(self, customer, month):
        title = date_format(month.first_day, "F Y")
        return format_html("<h4>{}</h4>{}", title, render_statement(customer, month))
