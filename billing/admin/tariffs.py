"""Admin for tariffs: the table staff edit (points and the date a change takes effect), every
version kept and shown, and the tariff filter and labels the chat events' list uses too."""

import unicodedata

from django import forms
from django.contrib import admin
from django.db.models import Case, F, OuterRef, Subquery, Value, When, Window
from django.db.models.functions import Lag, RowNumber
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.catalog.tariffs import check_tariff_change, tariff_change, tariff_create
from billing.errors import BillingError
from billing.models import Actor, Tariff, TariffRate
from billing.months import today as billing_today

POINT_FIELDS = ("points_agent", "points_bot", "points_team")


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
