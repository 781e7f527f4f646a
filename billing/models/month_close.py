"""A month close run: the drafts an *issue* fanned out to tasks, one item each, and where each
one stands (waiting, issued, failed with its reason). The admin's page and `close_month`
read the progress from here."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Customer


class ItemState(models.TextChoices):
    WAITING = "waiting", _("waiting")
    ISSUED = "issued", _("issued")
    FAILED = "failed", _("failed")


class MonthCloseRun(models.Model):
    month = models.DateField(_("month"), help_text=_("The first day of the billing month."))
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )

    class Meta:
        verbose_name = _("month close run")
        verbose_name_plural = _("month close runs")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["month", "-started_at"])]

    def __str__(self):
        return f"{self.month:%Y-%m} #{self.pk}"


class MonthCloseItem(models.Model):
    """One draft of a run. `invoice_id` is a plain number, not a foreign key: a draft recomputed
    meanwhile is replaced by a new row (billing.invoicing.drafts), the item then fails, saying so.
    """

    run = models.ForeignKey(
        MonthCloseRun, on_delete=models.CASCADE, related_name="items", verbose_name=_("run")
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="+", verbose_name=_("customer")
    )
    invoice_id = models.BigIntegerField(_("draft"))
    state = models.CharField(
        _("state"), max_length=8, choices=ItemState.choices, default=ItemState.WAITING
    )
    number = models.CharField(_("number"), max_length=32, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("month close item")
        verbose_name_plural = _("month close items")
        ordering = ["run", "customer__code"]
        constraints = [
            models.UniqueConstraint(fields=["run", "invoice_id"], name="month_close_item_once")
        ]
        indexes = [models.Index(fields=["run", "state"])]

    def __str__(self):
        return f"{self.run}: {self.customer_id} {self.state}"
