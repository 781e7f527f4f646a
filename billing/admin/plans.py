import unicodedata

from axes import admin as axes_admin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, F, OuterRef, Subquery, Value, When, Window
from django.db.models.functions import Lag, RowNumber
from django.template.loader import render_to_string
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.catalog.tariffs import check_tariff_change, tariff_change, tariff_create
from billing.errors import BillingError
from billing.models import Actor, Plan, Subscription, Tariff, TariffRate
from billing.months import Month
from billing.months import today as billing_today
from billing.usage.selectors import month_statement
from customers.models import VatTreatment

POINT_FIELDS = ("points_agent", "points_bot", "points_team")

# No navigation column beside every page: the lists (chats, customers, tariffs) need the width
# at 1440 px; the home page lists every section and the breadcrumbs lead back to it.
admin.site.enable_nav_sidebar = False

# Amounts and rates typed as the page's language writes them ("20,00" in French, as the lists
# show them), not in the HTML number input's dotted form.
LOCALIZED_DECIMALS = {models.DecimalField: {"localize": True}}


# --- Plans -------------------------------------------------------------------------------------


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name_fr",
        "name_en",
        "monthly_fee",
        "included_points",
        "price_per_extra_point",
        "custom_terms",
    )
    ordering = ("is_custom", "monthly_fee")
    formfield_overrides = LOCALIZED_DECIMALS

    @admin.display(description=_("custom terms"), ordering="is_custom")
    def custom_terms(self, plan):
        # Words, not Django's green and red icons: a plan with fixed terms is not a fault.
        return gettext("set on each subscription") if plan.is_custom else gettext("no")

    def get_fields(self, request, obj=None):
        if obj is None:
            return super().get_fields(request, obj)
        return ("code", "name_fr", "name_en", *self.get_readonly_fields(request, obj)[1:])

    def get_readonly_fields(self, request, obj=None):
        # A plan's terms price every month billed on it: changing them would change past
        # statements. A new price is a new plan, subscribed to from a month on.
        if obj is not None:
            return (
                "code",
                "custom_terms",
                "monthly_fee",
                "included_points",
                "price_per_extra_point",
            )
        return ()

    def has_delete_permission(self, request, obj=None):
        return False


# --- Subscriptions (inline on the customer) ---------------------------------------------------


def _overlap(a, b) -> bool:
    """Two (first_month, last_month) periods share a month; None ends "until further notice"."""
    return (b[1] is None or a[0] <= b[1]) and (a[1] is None or b[0] <= a[1])


class SubscriptionFormSet(forms.models.BaseInlineFormSet):
    """All of a customer's subscriptions, checked together: no overlap once saved, and an order
    of saving in which no row ever overlaps another (the database checks each row as it is
    written), found in `clean()` and kept in `save_order`."""

    def clean(self):
        super().clean()
        rows = []  # (form, period now stored or None, period once saved)
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("first_month"):
                continue
            stored = None
            if form.instance.pk is not None:
                stored = (form.initial["first_month"], form.initial.get("last_month"))
            rows.append((form, stored, (data["first_month"], data.get("last_month"))))
        for index, (_form, _stored, period) in enumerate(rows):
            for _other, _other_stored, other in rows[index + 1 :]:
                if _overlap(period, other):
                    raise ValidationError(
                        _(
                            "Two subscriptions overlap (from %(a)s and from %(b)s): one customer "
                            "has one plan in force in a month."
                        )
                        % {"a": Month.of(period[0]), "b": Month.of(other[0])}
                    )
        self.save_order = self._save_order(rows)

    def _save_order(self, rows):
        """Greedy: save next a row whose new period overlaps no other row as it stands."""
        current = {id(form): stored for form, stored, _period in rows}
        pending = [(form, period) for form, stored, period in rows if stored != period]
        order = []
        while pending:
            for index, (form, period) in enumerate(pending):
                others = (p for key, p in current.items() if key != id(form) and p is not None)
                if not any(_overlap(period, other) for other in others):
                    order.append(form)
                    current[id(form)] = period
                    del pending[index]
                    break
            else:
                raise ValidationError(
                    _(
                        "These changes exchange months between subscriptions: save them in two "
                        "steps (first shorten, then extend)."
                    )
                )
        return order


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


# --- Tariffs -----------------------------------------------------------------------------------


class TariffChangeForm(forms.ModelForm):
    """Points and their effective date, validated by the same rule the service applies."""

    class Meta:
        model = Tariff
        fields = (
            "code",
            "category",
            "unit",
            "description_fr",
            "description_en",
            *POINT_FIELDS,
            "effective_from",
        )

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and {*POINT_FIELDS, "effective_from"} & set(self.changed_data):
            effective_from = cleaned.get("effective_from")
            if effective_from is not None:
                try:
                    check_tariff_change(tariff=self.instance, effective_from=effective_from)
                except BillingError as error:
                    self.add_error("effective_from", str(error))
        return cleaned


class TariffRateInline(admin.TabularInline):
    model = TariffRate
    extra = 0
    can_delete = False
    fields = (
        "effective_from",
        "points_agent",
        "points_bot",
        "points_team",
        "what_changed",
        "changed_by",
        "changed_at",
    )
    readonly_fields = fields
    ordering = ("-effective_from", "-id")
    verbose_name_plural = _("history (every version, newest first)")

    def get_queryset(self, request):
        # The previous version's points, set-based: no query per row. Cancelled versions were
        # never in force: the others are compared among themselves.
        in_force = Case(When(cancelled_at__isnull=True, then=Value(1)), default=Value(0))
        window = {
            "partition_by": [F("tariff_id"), in_force],
            "order_by": [F("effective_from"), F("id")],
        }
        previous = {f"previous_{name}": Window(Lag(name), **window) for name in POINT_FIELDS}
        version = Window(RowNumber(), **window)
        return (
            super()
            .get_queryset(request)
            .select_related("changed_by", "tariff")
            .annotate(version=version, **previous)
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("what changed"))
    def what_changed(self, rate):
        if rate.cancelled_at is not None:
            return gettext("cancelled on %(date)s: replaced before it took effect") % {
                "date": date_format(localtime(rate.cancelled_at), "SHORT_DATE_FORMAT")
            }
        if rate.version == 1:
            return gettext("first version")
        changes = []
        for name, label in zip(POINT_FIELDS, Actor.labels, strict=True):
            old, new = getattr(rate, f"previous_{name}", None), getattr(rate, name)
            if old != new:
                changes.append(f"{label}: {_points(old)} → {_points(new)}")
        return "; ".join(changes) or "—"


def _points(value):
    return gettext("not offered") if value is None else str(value)


def _points_short(value):
    return "—" if value is None else str(value)


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    form = TariffChangeForm
    list_display = (
        "code",
        "label",
        "in_force_today",
        "points_agent",
        "points_bot",
        "points_team",
        "effective_from",
    )
    list_editable = ("points_agent", "points_bot", "points_team", "effective_from")
    search_fields = ("code", "description_fr", "description_en")
    list_display_links = ("code",)
    inlines = [TariffRateInline]
    fieldsets = (
        (None, {"fields": ("code", "category", "unit", "description_fr", "description_en")}),
        (
            _("Points per chat (empty: not offered; 0: included)"),
            {
                "fields": ("points_agent", "points_bot", "points_team", "effective_from"),
                "description": _(
                    "A change takes effect from the date you give, after today: chats already "
                    "charged keep their points. Every version is kept below."
                ),
            },
        ),
    )

    def get_queryset(self, request):
        # The points in force today beside the newest version (which may not be in force yet).
        current = TariffRate.objects.filter(
            tariff=OuterRef("pk"), effective_from__lte=billing_today(), cancelled_at=None
        ).order_by("-effective_from", "-id")
        today = {f"today_{name}": Subquery(current.values(name)[:1]) for name in POINT_FIELDS}
        return super().get_queryset(request).annotate(**today)

    @admin.display(description=_("description"))
    def label(self, tariff):
        return tariff.description  # in the page's language

    @admin.display(description=_("in force today"))
    def in_force_today(self, tariff):
        return " · ".join(
            f"{label} {_points_short(getattr(tariff, f'today_{name}', None))}"
            for name, label in zip(POINT_FIELDS, Actor.labels, strict=True)
        )

    def get_readonly_fields(self, request, obj=None):
        # The unit decides how past months are counted: fixed once the tariff exists.
        return ("code", "unit") if obj is not None else ()

    def get_changelist_form(self, request, **kwargs):
        kwargs.setdefault("form", TariffChangeForm)
        return super().get_changelist_form(request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            tariff_create(tariff=obj, user=request.user)
            return
        points_changed = {*POINT_FIELDS, "effective_from"} & set(form.changed_data)
        other_fields = [name for name in form.changed_data if name not in points_changed]
        if other_fields:
            obj.save(update_fields=other_fields)
        if points_changed:
            tariff_change(
                tariff=obj,
                points_agent=obj.points_agent,
                points_bot=obj.points_bot,
                points_team=obj.points_team,
                effective_from=obj.effective_from,
                user=request.user,
            )


class TariffFilter(admin.RelatedFieldListFilter):
    """Tariffs by their label in the page's language, with their code."""

    def field_choices(self, field, request, model_admin):
        choices = [(t.pk, tariff_label_text(t)) for t in Tariff.objects.all()]
        return sorted(choices, key=lambda choice: _sort_key(choice[1]))


def _sort_key(text: str) -> str:
    """Alphabetical order as people expect it: É with E, in any case."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()


def tariff_label_text(tariff) -> str:
    return f"{tariff.description} ({tariff.code})"


def tariff_label_html(tariff) -> str:
    return format_html('{} <code class="code">{}</code>', tariff.description, tariff.code)


@admin.register(TariffRate)
class TariffRateAdmin(admin.ModelAdmin):
    list_display = (
        "tariff_label",
        "effective_from",
        "points_agent",
        "points_bot",
        "points_team",
        "changed_by",
        "changed_at",
        "cancelled_at",
    )
    list_filter = (("tariff", TariffFilter), ("cancelled_at", admin.EmptyFieldListFilter))
    list_select_related = ("tariff", "changed_by")
    date_hierarchy = "effective_from"

    @admin.display(description=_("tariff"), ordering="tariff__code")
    def tariff_label(self, rate):
        return tariff_label_html(rate.tariff)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Login lock-outs (django-axes' own admin) --------------------------------------------------


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """django-axes' admin, whose clean-up action deletes attempts without asking for any
    permission: here it needs the permission to delete them, like every action of the admin."""

    @admin.action(
        description=axes_admin.AccessAttemptAdmin.cleanup_expired_attempts.short_description,
        permissions=["delete"],
    )
    def cleanup_expired_attempts(self, request, queryset):
        # Axes reads the time of the login attempt being handled, which an admin request is
        # not: without it the action fails. "Now" is the moment expiry is measured from.
        if getattr(request, "axes_attempt_time", None) is None:
            request.axes_attempt_time = None
        return super().cleanup_expired_attempts(request, queryset)


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, AccessAttemptAdmin)
