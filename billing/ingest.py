"""Chat events in: validate, price at the tariff in force on the chat's day, store once."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer

from .errors import BillingError
from .models import ChatEvent, Unit
from .months import Month, billing_tz
from .tariffs import FUTURE_TOLERANCE, PricedTariff, TariffBook


class InvalidChatEvent(BillingError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def chat_event_price(
    *,
    tariff_code: str,
    actor: str,
    occurred_at: datetime,
    contact: str = "",
    book: TariffBook | None = None,
    now: datetime | None = None,
) -> PricedTariff:
    """Check one chat and price it with the tariff version in force on its billing day.

    Raises InvalidChatEvent naming the field, the value and the reason.
    """
    if timezone.is_naive(occurred_at):
        raise InvalidChatEvent(
            "occurred_at",
            _("%(value)s has no time zone offset.") % {"value": occurred_at.isoformat()},
        )
    now = now or timezone.now()
    if occurred_at > now + FUTURE_TOLERANCE:
        raise InvalidChatEvent(
            "occurred_at",
            _("%(value)s is in the future: a chat is reported once it is completed.")
            % {"value": occurred_at.isoformat()},
        )
    day = occurred_at.astimezone(billing_tz()).date()
    try:
        Month.of(day)  # within the billing years
    except BillingError as error:
        raise InvalidChatEvent("occurred_at", str(error)) from None
    book = book or TariffBook()
    try:
        priced = book.price(tariff_code, actor, day)
    except BillingError as error:
        raise InvalidChatEvent("tariff", str(error)) from None
    if book.tariff(tariff_code).unit == Unit.CONTACT_MONTH and not contact:
        raise InvalidChatEvent(
            "contact",
            _("%(tariff)s is charged per contact: the contact is required.")
            % {"tariff": tariff_code},
        )
    return priced


def chat_event_record(
    *,
    source: str,
    external_id: str,
    customer: Customer,
    tariff_code: str,
    actor: str,
    occurred_at: datetime,
    contact: str = "",
    metadata: dict | None = None,
    book: TariffBook | None = None,
    now: datetime | None = None,
) -> ChatEvent:
    """Store one completed chat, priced with the tariff version in force on its day."""
    priced = chat_event_price(
        tariff_code=tariff_code,
        actor=actor,
        occurred_at=occurred_at,
        contact=contact,
        book=book,
        now=now,
    )
    with transaction.atomic():
        return ChatEvent.objects.create(
            source=source,
            external_id=external_id,
            customer=customer,
            tariff_id=priced.tariff_id,
            actor=actor,
            contact=contact,
            occurred_at=occurred_at,
            points=priced.points,
            metadata=metadata or {},
        )
