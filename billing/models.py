from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, VatTreatment

from .errors import BillingError
from .months import Month
from .pricing import PlanTerms


def _localized(obj, field: str) -> str:
    """The French or English variant of a field, for the active language."""
    lang = (get_language() or "fr")[:2]
    return getattr(obj, f"{field}_{'en' if lang == 'en' else 'fr'}")


def points_not_negative(name: str) -> models.CheckConstraint:
    """Points per actor are empty (not offered) or zero or more (0: included)."""
    return models.CheckConstraint(
        condition=(
            (Q(points_agent__gte=0) | Q(points_agent__isnull=True))
            & (Q(points_bot__gte=0) | Q(points_bot__isnull=True))
            & (Q(points_team__gte=0) | Q(points_team__isnull=True))
        ),
        name=name,
        violation_error_message=_("Points cannot be negative."),
    )


class Actor(models.TextChoices):
    AGENT = "agent", _("agent")
    BOT = "bot", _("bot")
    TEAM = "team", _("team")


class Category(models.TextChoices):
    MESSAGING = "messaging", _("Messaging")
    SALES_LEADS = "sales_leads", _("Sales leads")
    AFTER_SALES = "after_sales", _("After-sales")
    SUPPORT = "support", _("Support")
    OTHER = "other", _("Other")


class Unit(models.TextChoices):
    CHAT = "chat", _("per completed chat")
    CONTACT_MONTH = "contact_month", _("per engaged contact per month")


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
        if not errors and self.pk is not None:
            errors.update(self._changes_to_past_months())
        if errors:
            raise ValidationError(errors)
        # Overlap with the customer's other subscriptions is checked over the whole set being
        # saved (the admin's inline formset) and held by the database (migration 0003).

    def _changes_to_past_months(self) -> dict:
        """A past month stays billed as it was: a subscription in force before this month keeps
        its plan, first month and terms, and its last month moves only within this month and
        later. A change of plan ends it and starts a new subscription."""
        from .months import current_month

        stored = Subscription.objects.filter(pk=self.pk).first()
        if stored is None:
            return {}
        this_month = current_month().first_day
        errors = {}
        fixed = (
            "plan_id",
            "first_month",
            *(
                f"custom_{name}"
                for name in ("monthly_fee", "included_points", "price_per_extra_point")
            ),
        )
        if stored.first_month < this_month and any(
            getattr(stored, name) != getattr(self, name) for name in fixed
        ):
            errors["plan"] = _(
                "This subscription is in force since %(month)s: its plan, first month and terms "
                "are fixed for the months already passed. End it and add a new subscription."
            ) % {"month": Month.of(stored.first_month)}
        if stored.last_month != self.last_month:
            for value in (stored.last_month, self.last_month):
                if value is not None and value < this_month:
                    errors["last_month"] = _(
                        "%(value)s is a past month: a subscription's end moves only within this "
                        "month and later."
                    ) % {"value": Month.of(value)}
        return errors


class Tariff(models.Model):
    """A kind of completed chat and the points it costs for each actor.

    The points here are the newest version of the tariff (`effective_from` is its date); what a
    chat costs is the version in force on the day it happened, kept in TariffRate. Points: empty
    means "not offered" for that actor, 0 means "included" (listed, free).
    """

    code = models.SlugField(
        _("code"),
        max_length=64,
        unique=True,
        validators=[
            RegexValidator(
                r"^[a-z0-9_]+$", _("Use lower-case letters, digits and underscores only.")
            )
        ],
    )
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    unit = models.CharField(_("charged"), max_length=16, choices=Unit.choices, default=Unit.CHAT)
    description_fr = models.CharField(_("description (French)"), max_length=200)
    description_en = models.CharField(_("description (English)"), max_length=200)
    points_agent = models.PositiveIntegerField(_("agent points"), null=True, blank=True)
    points_bot = models.PositiveIntegerField(_("bot points"), null=True, blank=True)
    points_team = models.PositiveIntegerField(_("team points"), null=True, blank=True)
    effective_from = models.DateField(_("effective from"))

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["category", "code"]
        constraints = [
            points_not_negative("tariff_points_not_negative"),
        ]

    def __str__(self):
        return self.code

    @property
    def description(self) -> str:
        return _localized(self, "description")


class TariffRate(models.Model):
    """One version of a tariff's points, in force from `effective_from` until the next version.

    Append-only: a change adds a row, nothing is deleted, so the history (who, when, from which
    date, old and new points) is the table itself. A tariff has at most one change not yet in
    force: a new change replaces it, and the replaced version stays here marked cancelled.
    """

    tariff = models.ForeignKey(
        Tariff, on_delete=models.PROTECT, related_name="rates", verbose_name=_("tariff")
    )
    effective_from = models.DateField(_("effective from"))
    points_agent = models.PositiveIntegerField(_("agent points"), null=True, blank=True)
    points_bot = models.PositiveIntegerField(_("bot points"), null=True, blank=True)
    points_team = models.PositiveIntegerField(_("team points"), null=True, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    cancelled_at = models.DateTimeField(
        _("cancelled at"),
        null=True,
        blank=True,
        help_text=_("Replaced by a later change before it took effect: never in force."),
    )

    class Meta:
        verbose_name = _("tariff version")
        verbose_name_plural = _("tariff history")
        ordering = ["tariff", "effective_from", "id"]
        indexes = [models.Index(fields=["tariff", "effective_from"])]
        constraints = [
            points_not_negative("tariff_rate_points_not_negative"),
        ]

    def __str__(self):
        return f"{self.tariff.code} @ {self.effective_from}"

    def points_for(self, actor: str) -> int | None:
        return getattr(self, f"points_{actor}")


class ChatEvent(models.Model):
    """One completed chat, reported once by a source, priced when it was received."""

    source = models.CharField(_("source"), max_length=64)
    external_id = models.CharField(_("external id"), max_length=100)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="chat_events", verbose_name=_("customer")
    )
    tariff = models.ForeignKey(
        Tariff, on_delete=models.PROTECT, related_name="chat_events", verbose_name=_("tariff")
    )
    actor = models.CharField(_("actor"), max_length=8, choices=Actor.choices)
    contact = models.CharField(_("contact"), max_length=200, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    points = models.PositiveIntegerField(
        _("points"),
        help_text=_(
            "The tariff's points on the day of the chat; for a tariff charged per engaged contact, "
            "the points of one contact for the month."
        ),
    )
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    late = models.BooleanField(
        _("late"),
        default=False,
        db_default=False,
        help_text=_(
            "Received after its month's invoice was issued: that invoice does not count it. It is "
            "kept, and counts if the invoice is cancelled by a credit note and the month invoiced "
            "again."
        ),
    )
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voided by"),
    )
    void_reason = models.TextField(_("reason for voiding"), blank=True, db_default="")

    class Meta:
        verbose_name = _("chat event")
        verbose_name_plural = _("chat events")
        permissions = [("void_chatevent", _("Can void chat events"))]
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "occurred_at"], name="event_customer_time"),
            models.Index(
                fields=["customer", "occurred_at"],
                condition=Q(late=True, voided_at__isnull=True),
                name="event_late",
            ),
            models.Index(
                fields=["customer", "occurred_at"],
                condition=Q(voided_at__isnull=False),
                name="event_voided",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="event_unique_per_source"
            ),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True) | ~Q(void_reason=""),
                name="event_void_has_reason",
                violation_error_message=_("A voided chat keeps the reason it was voided."),
            ),
            models.CheckConstraint(
                condition=Q(points__gte=0),
                name="event_points_not_negative",
                violation_error_message=_("Points cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(actor__in=[choice.value for choice in Actor]),
                name="event_actor_known",
                violation_error_message=_("The actor is agent, bot or team."),
            ),
        ]

    def __str__(self):
        return f"{self.source}:{self.external_id}"


class UsageDay(models.Model):
    """Chats not voided of a customer's day (billing time zone) per tariff and actor, summed as
    they arrive (billing.summary): what the dealer's report reads instead of the chats."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="+")
    actor = models.CharField(max_length=8)
    chats = models.PositiveIntegerField()
    points = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "day", "tariff", "actor"], name="usage_day_unique"
            )
        ]

    def __str__(self):
        return f"{self.customer_id} {self.day} {self.tariff_id}/{self.actor}: {self.points}"


class ContactMonth(models.Model):
    """A contact engaged in a customer's month (tariffs charged per engaged contact): its first
    chat of the month, the one that costs its points (billing.summary)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()
    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="+")
    actor = models.CharField(max_length=8)
    contact = models.CharField(max_length=200)
    first_at = models.DateTimeField()
    first_day = models.DateField()  # of first_at, in the billing time zone
    first_id = models.BigIntegerField()
    points = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "month", "tariff", "actor", "contact"],
                name="contact_month_unique",
            )
        ]

    def __str__(self):
        return f"{self.customer_id} {self.month} {self.contact}: chat {self.first_id}"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    ISSUED = "issued", _("issued")
    CANCELLED = "cancelled", _("cancelled")


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice", _("invoice")
    CREDIT_NOTE = "credit_note", _("credit note")


class EmailStatus(models.TextChoices):
    NOT_SENT = "", _("not sent")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")


# Columns of an invoice that issuing freezes: the database refuses to change them once the
# invoice is no longer a draft (triggers, migration 0005), and refuses to delete such an invoice.
INVOICE_FROZEN_COLUMNS = (
    "customer_id",
    "month",
    "kind",
    "credited_invoice_id",
    "number",
    "series",
    "year",
    "sequence",
    "issued_at",
    "issue_date",
    "due_date",
    "language",
    "plan_name",
    "included_points",
    "points_used",
    "overage_points",
    "engaged_contacts",
    "net_total",
    "vat_rate",
    "vat_amount",
    "total",
    "vat_treatment",
    "seller",
    "buyer",
    "usage",
    "pdf",
)


class Invoice(models.Model):
    """A customer's invoice (or credit note) for one billing month (billing rules 7-9).

    A draft follows the usage and is recomputed at will; issuing gives it the next number of its
    series, freezes its lines, totals and both parties' legal details, and stores its PDF.
    """

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="invoices", verbose_name=_("customer")
    )
    month = models.DateField(_("month"), help_text=_("The first day of the billing month."))
    kind = models.CharField(
        _("kind"), max_length=12, choices=InvoiceKind.choices, default=InvoiceKind.INVOICE
    )
    status = models.CharField(
        _("status"), max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    credited_invoice = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_note",
        verbose_name=_("cancels invoice"),
    )
    number = models.CharField(_("number"), max_length=32, null=True, blank=True, unique=True)
    series = models.CharField(_("series"), max_length=2, blank=True)
    year = models.PositiveIntegerField(_("year"), null=True, blank=True)
    sequence = models.PositiveIntegerField(_("sequence"), null=True, blank=True)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    issue_date = models.DateField(_("issue date"), null=True, blank=True)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=2, default="fr")
    plan_name = models.CharField(_("plan"), max_length=100, blank=True)
    included_points = models.PositiveIntegerField(_("included points"), default=0)
    points_used = models.PositiveIntegerField(_("points used"), default=0)
    overage_points = models.PositiveIntegerField(_("extra points"), default=0)
    engaged_contacts = models.PositiveIntegerField(_("engaged contacts"), default=0)
    net_total = models.DecimalField(_("net total"), max_digits=12, decimal_places=2, default=0)
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2, default=0)
    vat_amount = models.DecimalField(_("VAT"), max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2, default=0)
    vat_treatment = models.CharField(
        _("VAT treatment"), max_length=16, choices=VatTreatment.choices, blank=True
    )
    seller = models.JSONField(_("seller"), default=dict, blank=True)
    buyer = models.JSONField(_("buyer"), default=dict, blank=True)
    usage = models.JSONField(_("Chatpoints detail"), default=list, blank=True)
    pdf = models.BinaryField(_("PDF"), null=True, blank=True, editable=False)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    email_status = models.CharField(
        _("e-mail"), max_length=8, choices=EmailStatus.choices, blank=True, default=""
    )
    email_sent_at = models.DateTimeField(_("e-mail sent at"), null=True, blank=True)
    email_error = models.TextField(_("e-mail error"), blank=True, default="")

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-month", "customer", "-id"]
        permissions = [
            ("issue_invoice", _("Can issue invoices")),
            ("cancel_invoice", _("Can cancel invoices with a credit note")),
        ]
        indexes = [models.Index(fields=["month", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "month"],
                condition=Q(status__in=["draft", "issued"], kind="invoice"),
                name="invoice_one_per_customer_month",
                violation_error_message=_("This customer already has an invoice for this month."),
            ),
            models.UniqueConstraint(
                fields=["series", "year", "sequence"],
                condition=Q(sequence__isnull=False),
                name="invoice_number_unique_in_series",
                violation_error_message=_("This number is already used in its series."),
            ),
            models.CheckConstraint(
                condition=Q(month__day=1),
                name="invoice_month_on_the_first",
                violation_error_message=_("An invoice's month is given by its first day."),
            ),
            models.CheckConstraint(
                condition=Q(status="draft")
                | Q(
                    issued_at__isnull=False,
                    number__isnull=False,
                    sequence__isnull=False,
                    issue_date__isnull=False,
                ),
                name="invoice_issued_has_number_and_date",
                violation_error_message=_("An issued invoice has its number and date of issue."),
            ),
            models.CheckConstraint(
                condition=Q(kind="invoice", credited_invoice__isnull=True)
                | Q(kind="credit_note", credited_invoice__isnull=False) & ~Q(status="cancelled"),
                name="invoice_credit_note_cancels_an_invoice",
                violation_error_message=_("A credit note cancels an invoice; an invoice does not."),
            ),
        ]

    def __str__(self):
        return (
            self.number or f"{self.customer.code} {self.month:%Y-%m} ({self.get_status_display()})"
        )

    def save(self, *args, **kwargs):
        stored = None
        if self.pk and not kwargs.get("force_insert"):
            stored = Invoice.objects.filter(pk=self.pk).values("status").first()
            if stored and stored["status"] != InvoiceStatus.DRAFT:
                fields = kwargs.get("update_fields")
                if fields is None or set(fields) - INVOICE_MUTABLE_FIELDS:
                    raise BillingError(
                        _(
                            "%(invoice)s is issued: it cannot be changed (cancel it with a "
                            "credit note)."
                        )
                        % {"invoice": self.number}
                    )
        if (
            self.status == InvoiceStatus.CANCELLED
            and not (stored and stored["status"] == InvoiceStatus.CANCELLED)
            and not self.has_credit_note()
        ):
            # Only a credit note cancels (billing.invoicing.invoice_cancel issues it first); the
            # database refuses it too (migration 0008).
            raise BillingError(
                _("Only a credit note cancels %(invoice)s: cancel it with a credit note.")
                % {"invoice": self.number or self.pk}
            )
        super().save(*args, **kwargs)

    def has_credit_note(self) -> bool:
        """An issued credit note cancels this invoice."""
        return (
            bool(self.pk)
            and Invoice.objects.filter(
                credited_invoice_id=self.pk,
                kind=InvoiceKind.CREDIT_NOTE,
                status=InvoiceStatus.ISSUED,
            ).exists()
        )

    def delete(self, *args, **kwargs):
        if self.status != InvoiceStatus.DRAFT:
            raise BillingError(
                _("%(invoice)s is issued: it is never deleted (cancel it with a credit note).")
                % {"invoice": self.number}
            )
        return super().delete(*args, **kwargs)

    @property
    def is_frozen(self) -> bool:
        return self.status != InvoiceStatus.DRAFT


# What may still change on an issued invoice: cancelled by a credit note, paid, e-mailed.
INVOICE_MUTABLE_FIELDS = frozenset(
    {"status", "paid_on", "email_status", "email_sent_at", "email_error"}
)


class InvoiceLine(models.Model):
    """A line of an invoice: the plan's fee, or the extra Chatpoints (quantity × unit price)."""

    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, related_name="lines", verbose_name=_("invoice")
    )
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=16)
    description = models.CharField(_("description"), max_length=200)
    quantity = models.IntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=4)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position"),
        ]

    def __str__(self):
        return f"{self.description}: {self.quantity} × {self.unit_price} = {self.amount}"


class InvoiceSequence(models.Model):
    """The last number given in a series and year: incremented under a row lock in the issuing
    transaction, so a rolled-back issue gives its number back (no gap)."""

    series = models.CharField(max_length=2)
    year = models.PositiveIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="invoice_sequence_unique")
        ]

    def __str__(self):
        return f"{self.series}{self.year}: {self.last}"


class ApiToken(models.Model):
    """A secret with which an integration (the source of chat events) calls the API.

    Only its SHA-256 is stored: the token is shown once, when it is created.
    """

    source = models.CharField(
        _("source"),
        max_length=64,
        validators=[
            RegexValidator(
                r"^[a-z0-9][a-z0-9_.-]*$",
                _("Lower-case letters, digits, dots, dashes and underscores."),
            )
        ],
        help_text=_("The integration that reports chats with this token, e.g. chat-platform."),
    )
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
        editable=False,
    )
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["source", "-created_at"]

    def __str__(self):
        return f"{self.source} ({self.prefix}…)"
