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
