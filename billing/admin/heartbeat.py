"""Admin for the ingestion heartbeat's silences (billing.usage.heartbeat): each time a source of
chat events went silent, when staff were e-mailed and when it sent again. Read only: the
heartbeat check opens and ends them."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.admin.payments import ReadOnlyAdmin
from billing.models import HeartbeatSilence


class SourceFilter(admin.SimpleListFilter):
    title = _("source")
    parameter_name = "source"

    def lookups(self, request, model_admin):
        sources = HeartbeatSilence.objects.order_by("source").values_list("source", flat=True)
        return [(source, source) for source in sources.distinct()]

    def queryset(self, request, queryset):
        return queryset.filter(source=self.value()) if self.value() else queryset


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", _("silent now")), ("ended", _("ended")))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(ended_at__isnull=True)
        if self.value() == "ended":
            return queryset.filter(ended_at__isnull=False)
        return queryset


@admin.register(HeartbeatSilence)
class HeartbeatSilenceAdmin(ReadOnlyAdmin):
    list_display = (
        "source",
        "state",
        "last_event_at",
        "noticed_at",
        "alerted_at",
        "ended_at",
        "chats",
    )
    list_filter = (
        StateFilter,
        SourceFilter,
        ("alerted_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("source",)
    date_hierarchy = "noticed_at"
    fields = ("source", "last_event_at", "noticed_at", "alerted_at", "ended_at")

    @admin.display(description=_("state"), ordering="ended_at")
    def state(self, silence):
        if silence.ended_at is None:
            return format_html('<strong class="silent">{}</strong>', gettext("silent now"))
        return gettext("ended")

    @admin.display(description=_("the source's chats"))
    def chats(self, silence):
        url = reverse("admin:billing_chatevent_changelist")
        return format_html(
            '<a href="{}?{}">{}</a>',
            url,
            urlencode({"source": silence.source}),
            gettext("chats"),
        )
