"""Usage alerts: one row per customer, month and threshold, written before its e-mail goes, so
an alert never goes twice (the unique constraint holds even with two beat processes)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Customer


class AlertEmail(models.TextChoices):
    WAITING = "", _("waiting")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    COVERED = "covered", _("covered by a higher threshold")


class UsageAlert(models.Model):
    customer = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        related_name="usage_alerts_sent",
        verbose_name=_("customer"),
    )
    month = models.DateField(_("month"), help_text=_("The first day of the billing month."))
    threshold = models.PositiveSmallIntegerField(_("threshold (%)"))
    points_used = models.PositiveIntegerField(_("points used"))
    included_points = models.PositiveIntegerField(_("included points"))
    created_at = models.DateTimeField(_("reached at"), auto_now_add=True)
    email_status = models.CharField(
        _("e-mail"), max_length=8, choices=AlertEmail.choices, blank=True, default=""
    )
    email_sent_at = models.DateTimeField(_("e-mail sent at"), null=True, blank=True)
    email_error = models.TextField(_("e-mail error"), blank=True, default="")

    class Meta:
        verbose_name = _("usage alert")
        verbose_name_plural = _("usage alerts")
        ordering = ["-month", "-threshold"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "month", "threshold"], name="usage_alert_once"
            ),
            models.CheckConstraint(
                condition=models.Q(month__day=1), name="usage_alert_month_on_the_first"
            ),
        ]

    def __str__(self):
        return f"{self.month:%Y-%m}: {self.threshold} %"
