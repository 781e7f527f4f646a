"""Invoices, credit notes, their lines and the gapless numbering sequences."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from billing.errors import BillingError
from customers.models import Customer, VatTreatment


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


class InvoiceQuerySet(models.QuerySet):
    def issued(self) -> InvoiceQuerySet:
        """The issued invoices (not the drafts, the cancelled ones nor the credit notes): at most
        one per customer and month, the one that month is billed by."""
        return self.filter(kind=InvoiceKind.INVOICE, status=InvoiceStatus.ISSUED)


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

    objects = InvoiceQuerySet.as_manager()

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
            stored = Invoice.objects.filter(pk=self.pk).order_by().values("status").first()
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
            # Only a credit note cancels (billing.invoicing.issue.invoice_cancel issues it
            # first); the database refuses it too (migration 0008).
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
