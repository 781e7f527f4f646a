"""The choices every concept shares (actors, categories, units) and the points check."""

from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


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
