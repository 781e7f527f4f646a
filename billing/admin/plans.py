"""Admin for plans: their terms are fixed once created (a new price is a new plan)."""

from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.admin.shared import LOCALIZED_DECIMALS
from billing.models import Plan


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
