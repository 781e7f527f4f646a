"""Tariffs and their versions: the points a completed chat costs, on a given day."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models.common import Category, Unit, _localized, points_not_negative


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
