from django import forms
from django.contrib import admin
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import get_language, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from billing.admin.plans import LOCALIZED_DECIMALS, SubscriptionInline, render_statement
from billing.models import ChatEvent, Subscription
from billing.months import current_month
from billing.usage.selectors import customer_attention
from customers.models import (
    SIREN_REQUIRED_COUNTRIES,
    Customer,
    CustomerAccess,
    VatTreatment,
    normalize_siren,
    normalize_vat_number,
)


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
    list_filter = ("country", "language", SirenMissingFilter)
    search_fields = ("code", "legal_name", "vat_number", "siren", "billing_emails")
    search_help_text = _("Code, name, VAT number, SIREN or billing e-mail: all or part of it.")
    inlines = [SubscriptionInline, CustomerAccessInline]
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
            {"fields": ("vat_number", "siren", "vat_rate", "vat_treatment", "billing_emails")},
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
        # The database refuses overlapping subscriptions row by row: save them in the order the
        # formset found in which no row ever overlaps another.
        rank = {id(form.instance): index for index, form in enumerate(formset.save_order)}
        instances = formset.save(commit=False)
        for instance in sorted(instances, key=lambda i: rank.get(id(i), len(rank))):
            instance.save()
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
