import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
    validate_email,
)
from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import vat
from billing.vat import (
    EU_COUNTRIES,
    VatDecision,
    french_vat_key,
    siren_is_valid,
    standard_rate,
    vat_decision,
    vat_territory,
)

COUNTRIES = [
    ("FR", _("France")),
    ("AT", _("Austria")),
    ("BE", _("Belgium")),
    ("BG", _("Bulgaria")),
    ("CY", _("Cyprus")),
    ("CZ", _("Czechia")),
    ("DE", _("Germany")),
    ("DK", _("Denmark")),
    ("EE", _("Estonia")),
    ("ES", _("Spain")),
    ("FI", _("Finland")),
    ("GR", _("Greece")),
    ("HR", _("Croatia")),
    ("HU", _("Hungary")),
    ("IE", _("Ireland")),
    ("IT", _("Italy")),
    ("LT", _("Lithuania")),
    ("LU", _("Luxembourg")),
    ("LV", _("Latvia")),
    ("MT", _("Malta")),
    ("NL", _("Netherlands")),
    ("PL", _("Poland")),
    ("PT", _("Portugal")),
    ("RO", _("Romania")),
    ("SE", _("Sweden")),
    ("SI", _("Slovenia")),
    ("SK", _("Slovakia")),
    ("CH", _("Switzerland")),
    ("GB", _("United Kingdom")),
    ("MC", _("Monaco")),
    ("NO", _("Norway")),
]

LANGUAGES = [("fr", _("French")), ("en", _("English"))]

_VAT_NUMBER_RE = re.compile(r"^[A-Z]{2}[0-9A-Z]{2,13}$")
_EMAIL_SPLIT_RE = re.compile(r"[\s,;]+")
# Greece's VAT numbers start with EL, Monaco's with FR (French VAT territory); the others with
# the country's code.
_VAT_PREFIXES = {"GR": "EL", "MC": "FR"}
# The countries where a company may have a SIREN: France, and Monaco (the French VAT territory),
# whose companies established in France for VAT hold one (their FR number is built on it).
SIREN_COUNTRIES = ("FR", "MC")
# Where a business customer must have one: France (the e-invoicing reform's buyer SIREN). A
# Monegasque company may have none.
SIREN_REQUIRED_COUNTRIES = ("FR",)
# A Monegasque FR number not built on a SIREN: its 9 digits are 000 then 6 given by Monaco's tax
# office (Direction des Services Fiscaux), with the French key.
_MONACO_VAT_DIGITS = re.compile(r"^000[0-9]{6}$")


def default_vat_rate() -> Decimal:
    """The standard VAT rate of the seller's country (20 % for a French seller)."""
    return standard_rate(settings.SELLER["country"])


def normalize_vat_number(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value or "").upper()


def normalize_siren(value: str) -> str:
    return re.sub(r"[\s.]", "", value or "")


def siren_from_vat_number(vat_number: str) -> str:
    """The SIREN inside a French VAT number (FR, the key, the SIREN), when the key and the SIREN
    check; "" otherwise (a Monegasque number 000…, a wrong key, another country)."""
    vat_number = normalize_vat_number(vat_number)
    digits, key = vat_number[4:], vat_number[2:4]
    if (
        vat_number.startswith("FR")
        and len(digits) == 9
        and siren_is_valid(digits)
        and key == french_vat_key(digits)
    ):
        return digits
    return ""


def split_emails(value: str) -> list[str]:
    return [part for part in _EMAIL_SPLIT_RE.split(value or "") if part]


def validate_billing_emails(value: str) -> None:
    for address in split_emails(value):
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(
                _("%(value)s is not a valid e-mail address."),
                code="invalid",
                params={"value": address},
            ) from None


class VatTreatment(models.TextChoices):
    """billing.vat's treatments, with their labels."""

    STANDARD = vat.STANDARD, _("VAT at the customer's rate")
    REVERSE_CHARGE = vat.REVERSE_CHARGE, _("reverse charge (EU business customer)")
    OUTSIDE_EU = vat.OUTSIDE_EU, _("outside the EU: no French VAT")


class PaymentMethod(models.TextChoices):
    """How a customer pays its invoices. A card payment would need a payment provider: a third
    choice here when one is chosen."""

    TRANSFER = "transfer", _("bank transfer")
    SEPA_DEBIT = "sepa_debit", _("SEPA direct debit")


class Customer(models.Model):
    """A dealer: who is billed, with the legal details every invoice carries."""

    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        validators=[
            RegexValidator(
                r"^[a-z0-9][a-z0-9_.-]*$",
                _("Use lower-case letters, digits, dots, dashes and underscores only."),
            )
        ],
        help_text=_("The customer's code in the chat platform and in chat events."),
    )
    legal_name = models.CharField(_("legal name"), max_length=200)
    address = models.TextField(
        _("street address"), help_text=_("Street and number; several lines if needed.")
    )
    postal_code = models.CharField(_("postal code"), max_length=16)
    city = models.CharField(_("city"), max_length=100)
    country = models.CharField(_("country"), max_length=2, choices=COUNTRIES, default="FR")
    vat_number = models.CharField(
        _("VAT number"), max_length=20, blank=True, help_text=_("Intra-EU VAT number, if any.")
    )
    siren = models.CharField(
        _("SIREN"),
        max_length=9,
        blank=True,
        help_text=_(
            "Required for a company in France (e-invoices carry it); in Monaco if it has one. "
            "9 digits; taken from a French VAT number when empty."
        ),
    )
    billing_emails = models.TextField(
        _("billing e-mails"),
        blank=True,
        validators=[validate_billing_emails],
        help_text=_("Where invoices are sent: one address per line or separated by commas."),
    )
    language = models.CharField(_("language"), max_length=2, choices=LANGUAGES, default="fr")
    vat_rate = models.DecimalField(
        _("VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        default=default_vat_rate,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text=_("By default the standard rate of the seller's country."),
    )
    vat_treatment = models.CharField(
        _("VAT treatment"),
        max_length=16,
        choices=VatTreatment.choices,
        blank=True,
        help_text=_(
            "Empty: decided from the countries and the VAT number (same VAT territory as the "
            "seller, Monaco included: VAT; another EU country with a VAT number: reverse charge; "
            "outside the EU: no French VAT)."
        ),
    )
    usage_alerts = models.BooleanField(
        _("usage alerts"),
        default=True,
        help_text=_(
            "E-mail the billing addresses when the month's points reach 80 % and 100 % of the "
            "included points (the dealer can turn it off in the portal)."
        ),
    )
    purchase_order_reference = models.CharField(
        _("purchase order reference"),
        max_length=64,
        blank=True,
        help_text=_("The dealer's purchase order reference, printed on its invoices."),
    )
    payment_method = models.CharField(
        _("payment method"),
        max_length=16,
        choices=PaymentMethod.choices,
        default=PaymentMethod.TRANSFER,
        editable=False,  # changed by billing.payments (direct debit needs a mandate in force)
        help_text=_("A SEPA direct debit needs a signed mandate in force."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(vat_rate__gte=0, vat_rate__lte=100),
                name="customer_vat_rate_is_a_percentage",
                violation_error_message=_("The VAT rate is a percentage between 0 and 100."),
            ),
            models.CheckConstraint(
                condition=models.Q(siren="") | models.Q(country__in=SIREN_COUNTRIES),
                name="customer_siren_only_in_france_or_monaco",
                violation_error_message=_(
                    "A SIREN is only given for a company in France or Monaco."
                ),
            ),
        ]

    def __str__(self):
        return f"{self.legal_name} ({self.code})"

    def vat_decision(self) -> VatDecision:
        """How this customer's months are taxed now: billing.vat's one decision, from the
        countries, the VAT number, the staff's treatment if set and the customer's rate.
        (An issued invoice keeps the decision it was issued with.)"""
        return vat_decision(
            seller_country=settings.SELLER["country"],
            buyer_country=self.country,
            buyer_vat_number=self.vat_number,
            override=self.vat_treatment,
            domestic_rate=self.vat_rate,
        )

    def effective_vat_treatment(self) -> str:
        """The VAT treatment set by staff, or the one the countries and VAT number give."""
        return self.vat_decision().treatment

    @property
    def billing_email_list(self) -> list[str]:
        return split_emails(self.billing_emails)

    def clean(self):
        errors = {}
        self.vat_number = normalize_vat_number(self.vat_number)
        self.siren = normalize_siren(self.siren)
        if self.siren:
            if self.country not in SIREN_COUNTRIES:
                errors["siren"] = _("A SIREN is only given for a company in France or Monaco.")
            elif not siren_is_valid(self.siren):
                errors["siren"] = _(
                    "%(value)s is not a valid SIREN: 9 digits with a valid check digit."
                ) % {"value": self.siren}
        if self.vat_number:
            if not _VAT_NUMBER_RE.match(self.vat_number):
                errors["vat_number"] = _(
                    "%(value)s is not a VAT number: two letters then 2 to 13 letters or digits."
                ) % {"value": self.vat_number}
            elif self.vat_number[:2] != _VAT_PREFIXES.get(self.country, self.country):
                errors["vat_number"] = _(
                    "%(value)s is not a VAT number of %(country)s: it should start with %(prefix)s."
                ) % {
                    "value": self.vat_number,
                    "country": self.get_country_display(),
                    "prefix": _VAT_PREFIXES.get(self.country, self.country),
                }
            elif self.vat_number.startswith("FR"):
                digits = self.vat_number[4:]
                key = self.vat_number[2:4]
                monegasque = self.country == "MC" and _MONACO_VAT_DIGITS.match(digits)
                if not (len(digits) == 9 and (monegasque or siren_is_valid(digits))):
                    errors["vat_number"] = (
                        _(
                            "%(value)s is not a Monaco VAT number: FR, a 2-character key, then "
                            "000 and 6 digits, or a French SIREN."
                        )
                        if self.country == "MC"
                        else _(
                            "%(value)s is not a French VAT number: FR, a 2-character key, "
                            "the SIREN."
                        )
                    ) % {"value": self.vat_number}
                elif key.isdigit() and key != french_vat_key(digits):
                    errors["vat_number"] = (
                        _("%(value)s has a wrong key: for %(siren)s it is %(key)s.")
                        if monegasque
                        else _("%(value)s has a wrong key: for SIREN %(siren)s it is %(key)s.")
                    ) % {"value": self.vat_number, "siren": digits, "key": french_vat_key(digits)}
                elif self.siren and digits != self.siren:
                    errors["vat_number"] = _("%(value)s does not match the SIREN %(siren)s.") % {
                        "value": self.vat_number,
                        "siren": self.siren,
                    }
        if (
            not self.siren
            and "vat_number" not in errors
            and self.vat_number.startswith("FR")
            and self.country in SIREN_COUNTRIES
        ):
            self.siren = siren_from_vat_number(self.vat_number)
        if not self.siren and self.country in SIREN_REQUIRED_COUNTRIES and "siren" not in errors:
            errors["siren"] = _(
                "A company in France has a SIREN: enter its 9 digits (or its French VAT number, "
                "which contains it). E-invoices require it."
            )
        if self.vat_treatment == VatTreatment.REVERSE_CHARGE and (
            vat_territory(self.country) == vat_territory(settings.SELLER["country"])
            or vat_territory(self.country) not in EU_COUNTRIES
            or not self.vat_number
        ):
            errors["vat_treatment"] = _(
                "Reverse charge is for a business in another EU country than the seller's, "
                "with its VAT number (it is printed on the invoice)."
            )
        if errors:
            raise ValidationError(errors)


class CustomerAccess(models.Model):
    """A dealer user's access to a customer (a dealer group may see several sites)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="customer_accesses",
        verbose_name=_("user"),
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="accesses", verbose_name=_("customer")
    )
    can_manage_billing = models.BooleanField(
        _("may manage billing"),
        default=False,
        help_text=_(
            "May change the billing e-mails, postal address, purchase order reference and "
            "payment method, and sign a SEPA mandate, in the portal."
        ),
    )

    class Meta:
        verbose_name = _("dealer access")
        verbose_name_plural = _("dealer accesses")
        constraints = [
            models.UniqueConstraint(fields=["user", "customer"], name="unique_customer_access")
        ]

    def __str__(self):
        return f"{self.user} → {self.customer.code}"


class BillingChange(models.Model):
    """One change of a customer's billing details or payment method, as made in the portal:
    who, when, what, from what to what. Kept for staff; never edited."""

    customer = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        related_name="billing_changes",
        verbose_name=_("customer"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)
    field = models.CharField(_("field"), max_length=64)
    old_value = models.TextField(_("old value"), blank=True)
    new_value = models.TextField(_("new value"), blank=True)

    class Meta:
        verbose_name = _("billing details change")
        verbose_name_plural = _("billing details changes")
        ordering = ["-changed_at", "-id"]

    def __str__(self):
        return f"{self.customer.code} {self.field}"
