"""Admin for what comes in: chat events (filters, search, void) and their CSV import."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from billing.admin.tariffs import TariffFilter, tariff_label_html
from billing.errors import BillingError
from billing.models import ChatEvent
from billing.months import Month, billing_tz, current_month
from billing.usage.csv_import import InvalidCsv, events_import_csv, utf8_lines
from billing.usage.selectors import events_unbilled
from billing.usage.store import events_ingest, events_void
from billing.usage.validate import events_prepare, source_problem
from customers.models import Customer

REFUSED_SHOWN = 500  # refused rows listed on the import page (all are counted)

# The distinct sources of the stored chats, skipping through the (source, id) unique index from
# one source to the next: a few index probes, however many chats there are.
_SOURCES_SQL = """
WITH RECURSIVE sources (source) AS (
    SELECT min(source) FROM billing_chatevent
    UNION ALL
    SELECT (SELECT min(e.source) FROM billing_chatevent e WHERE e.source > sources.source)
    FROM sources WHERE sources.source IS NOT NULL
)
SELECT source FROM sources WHERE source IS NOT NULL
"""


def event_sources() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(_SOURCES_SQL)
        return [row[0] for row in cursor.fetchall()]


class BillingMonthFilter(admin.SimpleListFilter):
    title = _("billing month")
    parameter_name = "month"

    def lookups(self, request, model_admin):
        month = current_month()
        choices = []
        for _index in range(13):
            choices.append((str(month), str(month)))
            month = month.previous()
        return choices

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            start, end = Month.parse(self.value()).bounds(billing_tz())
        except BillingError:
            return queryset.none()
        return queryset.filter(occurred_at__gte=start, occurred_at__lt=end)


class CountedFilter(admin.SimpleListFilter):
    title = _("counted")
    parameter_name = "counted"

    def lookups(self, request, model_admin):
        return (("yes", _("counted")), ("voided", _("voided")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(voided_at__isnull=True)
        if self.value() == "voided":
            return queryset.filter(voided_at__isnull=False)
        return queryset


class BillingFilter(admin.SimpleListFilter):
    title = _("billing")
    parameter_name = "billing"

    def lookups(self, request, model_admin):
        return (
            ("unbilled", _("unbilled: no plan in force that month")),
            ("late", _("late: its month was already invoiced")),
        )

    def queryset(self, request, queryset):
        if self.value() == "unbilled":
            return events_unbilled(queryset.filter(voided_at__isnull=True))
        if self.value() == "late":
            return queryset.filter(late=True)
        return queryset


_FORM_FIELD = {"id": "external_id", "meta": "metadata"}


class ChatEventAddForm(forms.ModelForm):
    """One chat typed in by staff: checked and priced by the ingestion service."""

    class Meta:
        model = ChatEvent
        fields = (
            "source",
            "external_id",
            "customer",
            "tariff",
            "actor",
            "contact",
            "occurred_at",
            "metadata",
        )

    def event(self) -> dict:
        data = self.cleaned_data
        return {
            "id": data["external_id"],
            "customer": data["customer"].code,
            "tariff": data["tariff"].code,
            "actor": data["actor"],
            "contact": data.get("contact") or None,
            "occurred_at": data["occurred_at"].isoformat(),
            "meta": data.get("metadata") or None,
        }

    def clean(self):
        cleaned = super().clean()
        needed = ("external_id", "customer", "tariff", "actor", "occurred_at")
        if all(cleaned.get(name) for name in needed):
            _rows, rejected, _duplicates = events_prepare(events=[self.event()])
            for name, message in rejected[0].errors.items() if rejected else ():
                self.add_error(_FORM_FIELD.get(name, name), message)
        return cleaned


class VoidForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=500,
        help_text=_("Kept with each chat: why it should not be billed."),
    )


@admin.register(ChatEvent)
class ChatEventAdmin(admin.ModelAdmin):
    change_list_template = "admin/billing/chatevent/change_list.html"
    list_display = (
        "occurred_at",
        "customer_code",
        "tariff_label",
        "actor",
        "contact",
        "points",
        "external_id",
        "source",
        "state",
    )
    list_filter = (
        BillingMonthFilter,
        BillingFilter,
        CountedFilter,
        "actor",
        ("tariff", TariffFilter),
        "customer",
    )
    # Shows the search box; the search itself is get_search_results below.
    search_fields = ("external_id", "contact", "customer__code", "customer__legal_name")
    search_help_text = _(
        "A customer's code or name, or part of it; a chat's exact id; else a contact, exactly."
    )
    date_hierarchy = "occurred_at"
    list_select_related = ("customer", "tariff")
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = (
        "points",
        "received_at",
        "late_state",
        "voided_at",
        "voided_by",
        "void_reason",
    )
    actions = ["void_events"]

    @admin.display(description=_("customer"), ordering="customer__code")
    def customer_code(self, event):
        return event.customer.code

    @admin.display(description=_("tariff"), ordering="tariff__code")
    def tariff_label(self, event):
        return tariff_label_html(event.tariff)

    @admin.display(description=_("state"))
    def state(self, event):
        if event.voided_at:
            return gettext("voided")
        return gettext("late") if event.late else ""

    def get_search_results(self, request, queryset, search_term):
        """Each word finds the chats of the customers whose code or legal name contains it (in
        any case), or the chat with exactly that id; a word that is neither is a contact, exactly.

        The table holds millions of chats: every part of the search uses an index. The matching
        customers are looked up first, in their own table, and their chats found by the
        customer index; an id is looked up as (source, id), the unique index, among the few
        sources there are. A contact has no index of its own: it is only searched when the word
        is no customer and no chat id (narrowed by the other filters, e.g. a customer)."""
        sources = None
        conditions = []
        for bit in smart_split(search_term):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)
            customers = list(
                Customer.objects.filter(Q(code__icontains=bit) | Q(legal_name__icontains=bit))
                .order_by()
                .values_list("pk", flat=True)
            )
            if sources is None:
                sources = event_sources()
            by_id = Q(source__in=sources, external_id=bit)
            if customers:
                conditions.append(Q(customer_id__in=customers) | by_id)
            elif ChatEvent.objects.filter(by_id).exists():
                conditions.append(by_id)
            else:
                conditions.append(Q(contact=bit))
        if conditions:
            queryset = queryset.filter(*conditions)
        return queryset, False

    @admin.display(description=_("late"))
    def late_state(self, event):
        # Words, not Django's red icon: a chat that is not late is the normal case.
        if event.late:
            return gettext("yes: its month's invoice was issued before it arrived")
        return gettext("no")

    def get_fields(self, request, obj=None):
        fields = [name for name in super().get_fields(request, obj) if name != "late"]
        if obj is not None:  # a stored chat is shown, never edited: its tariff by its label
            fields = [("tariff_label" if name == "tariff" else name) for name in fields]
        return fields

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return (*readonly, "tariff_label") if obj is not None else readonly

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ChatEventAddForm
        return super().get_form(request, obj, **kwargs)

    def has_change_permission(self, request, obj=None):
        return False  # a received chat is a fact: staff view it, never edit it

    def has_delete_permission(self, request, obj=None):
        return False  # nothing is lost: a chat that should not count is voided, with a reason

    def has_void_permission(self, request):
        return request.user.has_perm("billing.void_chatevent")

    def save_model(self, request, obj, form, change):
        result = events_ingest(source=form.cleaned_data["source"], events=[form.event()])
        if result.rejected:  # checked by the form already: a race at most
            raise ValidationError(result.rejected[0].errors)
        saved = ChatEvent.objects.get(source=obj.source, external_id=obj.external_id)
        obj.pk, obj.points, obj.late = saved.pk, saved.points, saved.late

    @admin.action(description=_("Void the selected chats…"), permissions=["void"])
    def void_events(self, request, queryset):
        form = VoidForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            count = events_void(
                events=queryset, reason=form.cleaned_data["reason"], user=request.user
            )
            self.message_user(
                request,
                ngettext(
                    "%(count)d chat voided: it no longer counts in months not yet invoiced.",
                    "%(count)d chats voided: they no longer count in months not yet invoiced.",
                    count,
                )
                % {"count": count},
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Void chats"),
            "opts": self.model._meta,
            "form": form,
            "events": queryset.select_related("customer", "tariff")[:100],
            "count": queryset.count(),
            "already_voided": queryset.filter(voided_at__isnull=False).count(),
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/billing/chatevent/void.html", context)

    # --- CSV import ------------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="billing_chatevent_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CsvImportForm(request.POST or None, request.FILES or None)
        summary, refused = None, []
        if request.method == "POST" and form.is_valid():

            def on_refused(line, event_id, errors):
                if len(refused) < REFUSED_SHOWN:
                    refused.append({"line": line, "id": event_id, "errors": errors})

            upload = form.cleaned_data["file"]
            try:
                summary = events_import_csv(
                    lines=utf8_lines(upload.file),
                    source=form.cleaned_data["source"],
                    on_refused=on_refused,
                )
            except InvalidCsv as error:
                form.add_error("file", str(error))
            except UnicodeDecodeError:
                form.add_error("file", gettext("The file is not UTF-8 text: nothing was imported."))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Import chat events from CSV"),
            "opts": self.model._meta,
            "form": form,
            "summary": summary,
            "refused": refused,
            "refused_hidden": (summary.refused - len(refused)) if summary else 0,
            "changelist_url": reverse("admin:billing_chatevent_changelist"),
        }
        return TemplateResponse(request, "admin/billing/chatevent/import.html", context)


class CsvImportForm(forms.Form):
    source = forms.CharField(
        label=_("Source"),
        max_length=64,
        help_text=_(
            "The system the chats come from: ids are unique per source, so importing the same "
            "file twice stores nothing twice."
        ),
    )
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "UTF-8, comma or semicolon separated, a header line with the columns id, customer, "
            "tariff, actor, occurred_at and optionally contact and meta (a JSON object)."
        ),
    )

    def clean_source(self):
        source = self.cleaned_data["source"]
        if problem := source_problem(source):
            raise ValidationError(problem)
        return source
