"""Chat events as received, the usage summary kept as they arrive, and the API tokens of
the integrations that send them."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models.common import Actor
from billing.models.tariffs import Tariff
from customers.models import Customer


class ChatEvent(models.Model):
    """One completed chat, reported once by a source, priced when it was received."""

    source = models.CharField(_("source"), max_length=64)
    external_id = models.CharField(_("external id"), max_length=100)
    # No index of their own (each one costs every insert): the customer's is the start of
    # event_customer_time; a chat is never looked up by its tariff nor by who voided it.
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        related_name="chat_events",
        verbose_name=_("customer"),
        db_index=False,
    )
    tariff = models.ForeignKey(
        Tariff,
        on_delete=models.PROTECT,
        related_name="chat_events",
        verbose_name=_("tariff"),
        db_index=False,
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
        db_index=False,
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
            # The ingestion heartbeat (billing.usage.heartbeat): a source's last arrival and its
            # arrivals in an hour or a day, each an index range.
            models.Index(fields=["source", "received_at"], name="event_source_received"),
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


# The usage summary's keys (UsageDay, ContactMonth, UsageMonth): related models for Django (and its
# cascade), without a foreign key in the database. Their values are those of chats stored in the
# same transaction, whose own foreign keys PostgreSQL checks at commit (a batch with an unknown
# customer or tariff is rolled back whole, summary included), and no customer or tariff with
# chats can be deleted (ChatEvent's keys: PROTECT, and the database's). A second check per
# summary row cost some 6 % of an ingested batch on PostgreSQL (issue 16, bench/README.md).
# SQLite keeps its keys (migration 0019 leaves its tables alone): a later migration that builds
# one of these tables again on SQLite drops its triggers too (migrations 0016 and 0018), and must
# create them again.
SUMMARY_KEY = {
    "on_delete": models.CASCADE,
    "related_name": "+",
    "db_index": False,
    "db_constraint": False,
}


class UsageDay(models.Model):
    """Chats not voided of a customer's day (billing time zone) per tariff and actor, summed as
    they arrive (billing.usage.summary): what the dealer's report reads instead of the chats."""

    # No index of their own (customer_id starts the unique key, tariff_id is never scanned) nor
    # foreign key in the database: SUMMARY_KEY.
    customer = models.ForeignKey(Customer, **SUMMARY_KEY)
    day = models.DateField()
    tariff = models.ForeignKey(Tariff, **SUMMARY_KEY)
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


class UsageMonth(models.Model):
    """The usage summary summed over a customer's month: what the staff's dashboard reads for
    5,000 dealers at once (one row a dealer, where the month's UsageDay rows are some 200 and
    its ContactMonth rows 2 a dealer per engaged contact).

    Kept by the database itself (triggers of migrations 0016 and 0018 on billing_usageday and
    billing_contactmonth): whatever writes the summary (ingestion's statement, the generic upsert,
    voiding's rebuild, a bulk load, a test writing rows directly) updates it in the same
    statement, so it always equals their sums. A row whose sums all come back to zero (its days
    and contacts deleted) is deleted. Per customer and month only (migration 0018): a batch of
    chats spread over a month touches one row per customer, not one per customer and tariff."""

    customer = models.ForeignKey(Customer, **SUMMARY_KEY)  # no index nor database key: SUMMARY_KEY
    month = models.DateField()  # the first day
    chats = models.BigIntegerField()  # UsageDay.chats summed: every chat
    # UsageDay.points summed over the tariffs charged per chat (those charged per engaged contact
    # count in contact_points instead; a tariff's unit never changes once it exists).
    points = models.BigIntegerField()
    contact_points = models.BigIntegerField()  # ContactMonth.points summed: the contacts' points

    class Meta:
        constraints = [
            # Month first: the dashboard reads one month of every customer.
            models.UniqueConstraint(fields=["month", "customer"], name="usage_month_unique")
        ]

    def __str__(self):
        return f"{self.customer_id} {self.month}: {self.points + self.contact_points}"


class ContactMonth(models.Model):
    """A contact engaged in a customer's month (tariffs charged per engaged contact): its first
    chat of the month, the one that costs its points (billing.usage.summary)."""

    # No index of their own (customer_id starts the unique key, tariff_id is never scanned) nor
    # foreign key in the database: SUMMARY_KEY.
    customer = models.ForeignKey(Customer, **SUMMARY_KEY)
    month = models.DateField()
    tariff = models.ForeignKey(Tariff, **SUMMARY_KEY)
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


class HeartbeatSilence(models.Model):
    """A source of chat events silent for longer than the heartbeat allows: one row per silence,
    open (ended_at empty) until the source sends again. At most one open silence per source (a
    unique constraint), and its e-mail is claimed by a conditional UPDATE of `alerted_at`: staff
    are e-mailed once per silence, however many checks run at once."""

    source = models.CharField(_("source"), max_length=64)
    last_event_at = models.DateTimeField(_("last event received at"), null=True, blank=True)
    noticed_at = models.DateTimeField(_("noticed at"))
    alerted_at = models.DateTimeField(_("staff e-mailed at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("ingestion silence")
        verbose_name_plural = _("ingestion silences")
        ordering = ["-noticed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source"],
                condition=Q(ended_at__isnull=True),
                name="heartbeat_one_open_silence_per_source",
            )
        ]

    def __str__(self):
        return f"{self.source} ({self.noticed_at:%Y-%m-%d %H:%M})"
