"""What people read for the codes of the tariff table, in the active language. The codes
(`team`, `contact_engaged`) are for the API, the CSV's code column and staff; the report and the
invoice show labels: a tariff's description in the document's language (Tariff.description,
frozen in an invoice's detail at issue), a category's label (Category) and an actor's below."""

from __future__ import annotations

from django.utils.translation import gettext as _

from billing.models import Actor


def actor_label(actor: str) -> str:
    """Who completed a chat, as a dealer says it: the company's live-chat agent, a chatbot, or
    the dealer's own team."""
    labels = {
        Actor.AGENT: _("Live-chat agent"),
        Actor.BOT: _("Chatbot"),
        Actor.TEAM: _("Your team"),
    }
    return str(labels.get(actor, actor))
