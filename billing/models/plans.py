"""Plans and subscriptions: what a customer buys, month after month."""

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing.errors import BillingError
from billing.models.common import _localized
from billing.months import Month
from billing.pricing import PlanTerms
from customers.models import Customer


class Plan(models.Model):
    """BASE, GROW, SCALE and ENTERPRISE (whose terms are set per subscription)."""

    code = models.CharField(
        _("code"),
        max_length=16,
        unique=True,
        validators=[
            RegexValidator(r"^[A-Z][A-Z0-9_]*$", _("Use capital letters, digits and underscores."))
        ],
    )
    name_fr = models.CharField(_("name (French)"), max_length=64)
    name_en = models.CharField(_("name (English)"), max_length=64)
    is_custom = models.BooleanField(
        _("custom terms"),
        default=False,
        help_text=_("Terms are set on each subscription (ENTERPRISE)."),
    )
    monthly_fee = models.DecimalField(
        _("monthly fee (€, excl. VAT)"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    included_points = models.PositiveIntegerField(_("included points"), null=True, blank=True)
    price_per_extra_point = models.DecimalField(
        _("price per extra point (€)"), max_digits=10, decimal_places=4, null=True, blank=True
    )

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ["is_custom", "monthly_fee"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(
                        is_custom=False,
                        monthly_fee__isnull=False,
                        included_points__isnull=False,
                        price_per_extra_point__isnull=False,
                    )
                    | Q(
                        is_custom=True,
                        monthly_fee__isnull=True,
                        included_points__isnull=True,
                        price_per_extra_point__isnull=True,
                    )
                ),
                name="plan_terms_set_unless_custom",
                violation_error_message=_(
                    "Set the monthly fee, the included points and the price per extra point, or "
                    "leave them all empty for a plan with custom terms."
                ),
            ),
            models.CheckConstraint(
                condition=Q(monthly_fee__gte=0) | Q(monthly_fee__isnull=True),
                name="plan_fee_not_negative",
                violation_error_message=_("The monthly fee cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(price_per_extra_point__gte=0) | Q(price_per_extra_point__isnull=True),
                name="plan_price_per_point_not_negative",
                violation_error_message=_("The price per extra point cannot be negative."),
            ),
        ]

    def __str__(self):
        return f"{self.code} — {self.name}"

    @property
    def name(self) -> str:
        return _localized(self, "name")

    def clean(self):
        terms = (self.monthly_fee, self.included_points, self.price_per_extra_point)
        if self.is_custom and any(value is not None for value in terms):
            raise ValidationError(
                _("A plan with custom terms sets them on each subscription, not on the plan.")
            )
        if not self.is_custom and any(value is None for value in terms):
            raise ValidationError(
                _("Set the monthly fee, the included points and the price per extra point.")
            )


class Subscription(models.Model):
    """A customer's plan from a first month to an optional last month, both included."""

    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        related_name="subscriptions",
        verbose_name=_("customer"),
    )
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("plan")
    )
    first_month = models.DateField(
        _("first month"), help_text=_("The first day of the first month billed on this plan.")
    )
    last_month = models.DateField(
        pgettext_lazy("subscription", "last month"),
        null=True,
        blank=True,
        help_text=_(
            "The first day of the last month billed on this plan; empty: until further notice."
        ),
    )
    custom_monthly_fee = models.DecimalField(
        _("monthly fee (€, excl. VAT)"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    custom_included_points = models.PositiveIntegerField(
        _("included points"), null=True, blank=True
    )
    custom_price_per_extra_point = models.DecimalField(
        _("price per extra point (€)"),
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["customer", "first_month"]
        indexes = [models.Index(fields=["customer", "first_month"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(first_month__day=1),
                name="subscription_starts_on_the_first",
                violation_error_message=_("A subscription starts on the first day of a month."),
            ),
            models.CheckConstraint(
                condition=Q(last_month__isnull=True) | Q(last_month__day=1),
                name="subscription_ends_on_a_month",
                violation_error_message=_(
                    "A subscription ends with a whole month: give the first day of its last month."
                ),
            ),
            models.CheckConstraint(
                condition=Q(last_month__isnull=True) | Q(last_month__gte=models.F("first_month")),
                name="subscription_ends_after_it_starts",
                violation_error_message=_("The last month cannot be before the first month."),
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        custom_monthly_fee__isnull=True,
                        custom_included_points__isnull=True,
                        custom_price_per_extra_point__isnull=True,
                    )
                    | Q(
                        custom_monthly_fee__gte=0,
                        custom_included_points__isnull=False,
                        custom_price_per_extra_point__gte=0,
                    )
                ),
                name="subscription_custom_terms_all_or_none",
                violation_error_message=_(
                    "Custom terms are all set (monthly fee, included points, price per extra "
                    "point, none negative) or all empty."
                ),
            ),
            # No two subscriptions of one customer in force in the same month: an exclusion
            # constraint on PostgreSQL and triggers on SQLite, see migration 0002.
        ]

    def __str__(self):
        end = Month.of(self.last_month) if self.last_month else "…"
        return f"{self.customer.code}: {self.plan.code} {Month.of(self.first_month)} → {end}"

    def terms(self) -> PlanTerms:
        plan = self.plan
        if plan.is_custom:
            return PlanTerms(
                plan=plan.code,
                monthly_fee=self.custom_monthly_fee,
                included_points=self.custom_included_points,
                price_per_extra_point=self.custom_price_per_extra_point,
            )
        return PlanTerms(
            plan=plan.code,
            monthly_fee=plan.monthly_fee,
            included_points=plan.included_points,
            price_per_extra_point=plan.price_per_extra_point,
        )

    def clean(self):
        errors = {}
        for name in ("first_month", "last_month"):
            value = getattr(self, name)
            if value is not None and value.day != 1:
                errors[name] = _(
                    "%(value)s is not the first day of a month: a plan starts and ends with "
                    "whole months."
                ) % {"value": value.isoformat()}
            elif value is not None:
                try:
                    Month.of(value)
                except BillingError as error:
                    errors[name] = str(error)
        if self.first_month and self.last_month and self.last_month < self.first_month:
            errors["last_month"] = _("The last month cannot be before the first month.")
        custom = (
            self.custom_monthly_fee,
            self.custom_included_points,
            self.custom_price_per_extra_point,
        )
        if self.plan_id is not None:
            if self.plan.is_custom and any(value is None for value in custom):
                errors["plan"] = _(
                    "Plan %(plan)s needs this customer's monthly fee, included points and price "
                    "per extra point."
                ) % {"plan": self.plan.code}
            if not self.plan.is_custom and any(value is not None for value in custom):
                errors["plan"] = _(
                    "Plan %(plan)s has fixed terms: leave the custom terms empty."
                ) % {"plan": self.plan.code}
        if errors:
            raise ValidationError(errors)
        # The rules of the set (no overlap, months already passed stay billed as they were) are
        # billing.catalog.subscriptions'; the database holds the first (migration 0003).
