"""Getting paid: SEPA mandates, direct-debit collections, bank statements and their entries,
payments recorded on invoices, reminders sent. Services: billing.payments."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from billing import sepa
from customers.models import Customer


class MandateScheme(models.TextChoices):
    B2B = sepa.B2B, _("B2B (business to business)")
    CORE = sepa.CORE, _("CORE")


class SequenceType(models.TextChoices):
    FIRST = sepa.FIRST, _("first")
    RECURRENT = sepa.RECURRENT, _("recurrent")


class MandateQuerySet(models.QuerySet):
    def in_force(self) -> "MandateQuerySet":
        """The mandates not revoked: at most one per customer (a partial unique constraint)."""
        return self.filter(revoked_on__isnull=True)


class Mandate(models.Model):
    """A SEPA direct-debit mandate: the customer (debtor) allows the seller (creditor, its ICS)
    to debit its account. One mandate in force per customer; a revoked one is kept."""

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="mandates", verbose_name=_("customer")
    )
    reference = models.CharField(_("mandate reference (RUM)"), max_length=35, unique=True)
    creditor_id = models.CharField(_("creditor identifier (ICS)"), max_length=35)
    scheme = models.CharField(
        _("scheme"), max_length=4, choices=MandateScheme.choices, default=MandateScheme.B2B
    )
    debtor_name = models.CharField(_("debtor name"), max_length=70)
    iban = models.CharField(_("IBAN"), max_length=34)
    bic = models.CharField(_("BIC"), max_length=11)
    signed_on = models.DateField(_("signed on"))
    signed_place = models.CharField(_("signed at"), max_length=100)
    signer_name = models.CharField(_("signed by"), max_length=150)
    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("signed online by"),
    )
    mandate_text = models.TextField(_("mandate text accepted"), blank=True)
    next_sequence = models.CharField(
        _("next collection"),
        max_length=4,
        choices=SequenceType.choices,
        default=SequenceType.FIRST,
        help_text=_("First after signing or after a rejected collection; then recurrent."),
    )
    revoked_on = models.DateField(_("revoked on"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = MandateQuerySet.as_manager()

    class Meta:
        verbose_name = _("SEPA mandate")
        verbose_name_plural = _("SEPA mandates")
        ordering = ["customer", "-signed_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(revoked_on__isnull=True),
                name="mandate_one_in_force_per_customer",
                violation_error_message=_("This customer already has a mandate in force."),
            ),
        ]

    def __str__(self):
        return self.reference

    @property
    def in_force(self) -> bool:
        return self.revoked_on is None


class DirectDebitNotice(models.Model):
    """The pre-notification e-mailed to the debtor before an invoice is debited: amount, date,
    mandate reference and creditor identifier (SEPA rulebook). One per invoice and date."""

    invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        related_name="debit_notices",
        verbose_name=_("invoice"),
    )
    mandate = models.ForeignKey(
        Mandate, on_delete=models.PROTECT, related_name="notices", verbose_name=_("mandate")
    )
    collection_date = models.DateField(_("collection date"))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    created_at = models.DateTimeField(_("notified at"), auto_now_add=True)
    email_error = models.TextField(_("e-mail error"), blank=True, default="")

    class Meta:
        verbose_name = _("direct-debit pre-notification")
        verbose_name_plural = _("direct-debit pre-notifications")
        ordering = ["-collection_date", "invoice"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "collection_date"], name="debit_notice_once_per_date"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="debit_notice_amount_positive"),
        ]

    def __str__(self):
        return f"{self.invoice} → {self.collection_date}"


class DirectDebitBatch(models.Model):
    """A SEPA pain.008 file: the direct debits of one collection date and scheme, as sent to the
    bank (its bytes are kept)."""

    collection_date = models.DateField(_("collection date"))
    scheme = models.CharField(_("scheme"), max_length=4, choices=MandateScheme.choices)
    message_id = models.CharField(_("message id"), max_length=35, unique=True)
    count = models.PositiveIntegerField(_("direct debits"))
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2)
    xml = models.BinaryField(_("pain.008 file"), editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("direct-debit file")
        verbose_name_plural = _("direct-debit files")
        ordering = ["-collection_date", "-id"]

    def __str__(self):
        return f"{self.collection_date} {self.scheme} ({self.count})"

    @property
    def filename(self) -> str:
        return f"pain008-{self.collection_date:%Y%m%d}-{self.scheme}-{self.pk}.xml"


class DirectDebitStatus(models.TextChoices):
    IN_COLLECTION = "in_collection", _("in collection")
    RETURNED = "returned", _("rejected or returned")


class DirectDebit(models.Model):
    """One invoice debited in a pain.008 file. An invoice is in collection at most once at a
    time (a database constraint); a reject or return ends it and the invoice is due again."""

    batch = models.ForeignKey(
        DirectDebitBatch, on_delete=models.PROTECT, related_name="debits", verbose_name=_("file")
    )
    invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        related_name="direct_debits",
        verbose_name=_("invoice"),
    )
    mandate = models.ForeignKey(
        Mandate, on_delete=models.PROTECT, related_name="debits", verbose_name=_("mandate")
    )
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    sequence_type = models.CharField(_("sequence"), max_length=4, choices=SequenceType.choices)
    end_to_end_id = models.CharField(_("end-to-end id"), max_length=35, unique=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=DirectDebitStatus.choices,
        default=DirectDebitStatus.IN_COLLECTION,
    )
    returned_on = models.DateField(_("returned on"), null=True, blank=True)
    return_reason = models.CharField(_("return reason"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("direct debit")
        verbose_name_plural = _("direct debits")
        ordering = ["-batch__collection_date", "invoice"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(status="in_collection"),
                name="direct_debit_invoice_collected_once",
                violation_error_message=_("This invoice is already in collection."),
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="direct_debit_amount_positive"),
        ]

    def __str__(self):
        return self.end_to_end_id


class StatementFormat(models.TextChoices):
    CAMT053 = "camt053", _("ISO 20022 camt.053")
    CSV = "csv", _("CSV")


class BankStatement(models.Model):
    """An imported bank statement file (only when it brought new entries)."""

    filename = models.CharField(_("file"), max_length=255)
    format = models.CharField(_("format"), max_length=8, choices=StatementFormat.choices)
    account_iban = models.CharField(_("account"), max_length=34, blank=True)
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("imported by"),
    )

    class Meta:
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")
        ordering = ["-imported_at", "-id"]

    def __str__(self):
        return f"{self.filename} ({self.imported_at:%Y-%m-%d})"


class EntryStatus(models.TextChoices):
    MATCHED = "matched", _("matched")
    UNMATCHED = "unmatched", _("to match")
    RETURNED = "returned", _("direct debit returned")
    IGNORED = "ignored", _("not a customer payment")


class BankEntry(models.Model):
    """A booked line of a bank statement, stored once by its bank reference: importing a
    statement again adds nothing."""

    statement = models.ForeignKey(
        BankStatement, on_delete=models.PROTECT, related_name="entries", verbose_name=_("statement")
    )
    bank_reference = models.CharField(_("bank reference"), max_length=100, unique=True)
    booked_on = models.DateField(_("booked on"))
    amount = models.DecimalField(
        _("amount"),
        max_digits=14,
        decimal_places=2,
        help_text=_("Credit positive, debit negative."),
    )
    counterparty_name = models.CharField(_("counterparty"), max_length=140, blank=True)
    counterparty_iban = models.CharField(_("counterparty IBAN"), max_length=34, blank=True)
    remittance = models.TextField(_("remittance information"), blank=True)
    end_to_end_id = models.CharField(_("end-to-end id"), max_length=35, blank=True)
    return_reason = models.CharField(_("return reason"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=EntryStatus.choices)
    invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bank_entries",
        verbose_name=_("invoice"),
    )

    class Meta:
        verbose_name = _("bank entry")
        verbose_name_plural = _("bank entries")
        ordering = ["-booked_on", "-id"]
        indexes = [models.Index(fields=["status"])]

    def __str__(self):
        return f"{self.booked_on} {self.amount} {self.bank_reference}"


class PaymentKind(models.TextChoices):
    BANK = "bank", _("bank statement")
    MANUAL = "manual", _("recorded by hand")
    RETURN = "return", _("direct debit returned")


class Payment(models.Model):
    """Money received on an invoice (negative: a direct debit taken back). The invoice's balance
    is its total less its payments: partial payments and overpayments stay visible."""

    invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("invoice"),
    )
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    paid_on = models.DateField(_("booked on"))
    kind = models.CharField(_("kind"), max_length=8, choices=PaymentKind.choices)
    entry = models.ForeignKey(
        BankEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        verbose_name=_("bank entry"),
    )
    direct_debit = models.ForeignKey(
        DirectDebit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        verbose_name=_("direct debit"),
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-paid_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="payment_amount_not_zero"),
        ]

    def __str__(self):
        return f"{self.invoice} {self.amount} ({self.paid_on})"


class ReminderPause(models.Model):
    """Staff paused the payment reminders of a customer (e.g. a dispute): none is sent while it
    exists; deleting it resumes them."""

    customer = models.OneToOneField(
        Customer,
        on_delete=models.CASCADE,
        related_name="reminder_pause",
        verbose_name=_("customer"),
    )
    reason = models.CharField(_("reason"), max_length=200)
    paused_at = models.DateTimeField(_("paused at"), auto_now_add=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("paused by"),
    )

    class Meta:
        verbose_name = _("paused reminders")
        verbose_name_plural = _("paused reminders")

    def __str__(self):
        return str(self.customer)


class PaymentReminder(models.Model):
    """A reminder e-mailed for an overdue invoice at one step (days after its due date): never
    twice for one step (a database constraint)."""

    invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        related_name="reminders",
        verbose_name=_("invoice"),
    )
    step = models.PositiveSmallIntegerField(_("days after the due date"))
    sent_on = models.DateField(_("sent on"))
    amount_due = models.DecimalField(_("amount due"), max_digits=12, decimal_places=2)
    email_error = models.TextField(_("e-mail error"), blank=True, default="")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment reminder")
        verbose_name_plural = _("payment reminders")
        ordering = ["-sent_on", "invoice"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "step"], name="reminder_once_per_step"),
        ]

    def __str__(self):
        return f"{self.invoice} +{self.step}"
