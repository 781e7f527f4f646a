"""Chat events in, the judging half: each event of a batch checked on its own (fields, types,
source, text and JSON that can be stored, the tariff in force on its day, the customer's plan),
with a message per refused field naming the value and the reason (`events_prepare`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import ValidationError

from billing.catalog.tariffs import FUTURE_TOLERANCE, TariffBook, tariff_book
from billing.errors import BillingError
from billing.models import Actor, Unit
from billing.months import FIRST_YEAR, LAST_YEAR, Month, billing_tz
from billing.usage.intake import (
    FIELDS,
    MAX_META_DEPTH,
    EventFields,
    EventIn,
    _meta_json,
    is_storable_text,
)
from customers.models import Customer

MAX_BATCH = 1000
_ACTORS = frozenset(Actor.values)  # Actor.values builds a new list at each call


MAX_META_BYTES = 4096


class InvalidChatEvent(BillingError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    id: str | None
    errors: dict[str, str]


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    late: int = 0  # accepted chats of a month already invoiced
    unbilled: int = 0  # accepted chats of a month with no plan in force (yet)


@dataclass(slots=True)
class _Ready:
    """A valid event, priced, ready to store."""

    index: int
    external_id: str
    customer_id: int
    tariff_id: int
    actor: str
    contact: str
    occurred_at: datetime
    points: int
    meta: dict
    month: date
    late: bool = False
    meta_json: str = "{}"  # `meta` as compact JSON, encoded once (to measure it), stored as is

    def content(self) -> tuple:
        return (
            self.customer_id,
            self.tariff_id,
            self.actor,
            self.contact,
            self.occurred_at,
            self.meta,
        )


_CONTENT_FIELDS = ("customer", "tariff", "actor", "contact", "occurred_at", "meta")


def _show(value: Any) -> str:
    """A value quoted for a message, cut short."""
    try:
        text = (
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        )
    except (ValueError, RecursionError):
        text = type(value).__name__
    if len(text) > 60:
        text = text[:57] + "…"
    return f"'{text}'" if isinstance(value, str) else text


def _type_errors(error: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for item in error.errors(include_url=False):
        name = str(item["loc"][0]) if item["loc"] else "event"
        if name in errors:
            continue
        kind, value = item["type"], item.get("input")
        if kind == "missing":
            message = _("%(field)s is required.") % {"field": name}
        elif kind == "extra_forbidden":
            message = _("%(field)s is not a field of a chat event (fields: %(fields)s).") % {
                "field": name,
                "fields": ", ".join(FIELDS),
            }
        elif kind == "string_type":
            message = _("%(value)s is not text.") % {"value": _show(value)}
        elif kind == "string_too_short":
            message = _("%(field)s is empty.") % {"field": name}
        elif kind == "string_too_long":
            message = _("%(value)s is longer than %(max)d characters.") % {
                "value": _show(value),
                "max": item["ctx"]["max_length"],
            }
        elif kind == "string_unicode":
            message = _("%(field)s holds a NUL character or invalid Unicode.") % {"field": name}
        elif kind == "dict_type":
            message = _("%(value)s is not a JSON object.") % {"value": _show(value)}
        else:  # pragma: no cover - the model has no other kind of field
            message = _("%(value)s is not valid.") % {"value": _show(value)}
        errors[name] = message
    return errors


_TEXT_FIELDS = ("id", "customer", "tariff", "actor", "contact", "occurred_at")


_SOURCE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def source_problem(source: str) -> str | None:
    """Why `source` cannot name where chats come from, or None (the API token's rule)."""
    if not _SOURCE.fullmatch(source or ""):
        return _(
            "%(value)s: a source is 1 to 64 lower-case letters, digits, dots, dashes and "
            "underscores."
        ) % {"value": _show(source)}
    return None


def _text_errors(event: EventIn) -> dict[str, str]:
    # The common case first: the fields joined are storable text, so each one is (a NUL or a lone
    # surrogate stays one when joined); else which ones are not.
    joined = "".join([event.id, event.customer, event.tariff, event.actor, event.contact or ""])
    if is_storable_text(joined + event.occurred_at):
        return {}
    return {
        name: _("%(field)s holds a NUL character or invalid Unicode.") % {"field": name}
        for name in _TEXT_FIELDS
        if (value := getattr(event, name)) and not is_storable_text(value)
    }


def parse_occurred_at(value: str, *, now: datetime, tz=None) -> datetime:
    """The chat's moment (in UTC): ISO 8601 with an offset, not in the future, within the
    billing years."""
    return _parse_occurred_at(value, latest=now + FUTURE_TOLERANCE, tz=tz or billing_tz())[0]


def _parse_occurred_at(value: str, *, latest: datetime, tz) -> tuple[datetime, date]:
    """parse_occurred_at's moment in UTC and its day in the billing time zone (two time-zone
    conversions in all)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidChatEvent(
            "occurred_at",
            _("%(value)s is not an ISO 8601 date and time, such as 2026-11-27T14:05:00+01:00.")
            % {"value": _show(value)},
        ) from None
    if moment.utcoffset() is None:  # naive (timezone.is_naive)
        raise InvalidChatEvent(
            "occurred_at",
            _("%(value)s has no time zone offset (such as +01:00 or Z).") % {"value": _show(value)},
        )
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # the first or last day of year 1 or 9999, moved by its offset
        raise InvalidChatEvent(
            "occurred_at",
            _("%(value)s is out of the billing years.") % {"value": _show(value)},
        ) from None
    if moment > latest:
        raise InvalidChatEvent(
            "occurred_at",
            _("%(value)s is in the future: a chat is reported once it is completed.")
            % {"value": _show(value)},
        )
    day = moment.astimezone(tz).date()
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        try:
            Month.of(day)  # within the billing years: its message
        except BillingError as error:
            raise InvalidChatEvent("occurred_at", f"{_show(value)}: {error}") from None
    return moment, day


class _Checker:
    """Checks and prices events against what one batch needs: its customers and the tariffs."""

    def __init__(self, *, customers: dict[str, int], book: TariffBook, now: datetime):
        self.customers = customers
        self.book = book
        self.latest = now + FUTURE_TOLERANCE
        self.tz = billing_tz()
        # (tariff code, actor, day) -> (points, tariff id, charged per contact, month's first
        # day): kept with the book, which never changes (a new one is loaded when the tariffs
        # do), so that batch after batch prices a few hundred of them once.
        self.priced: dict[tuple[str, str, date], tuple[int, int, bool, date]] = book.memo

    def check(self, index: int, event: EventIn) -> _Ready | dict[str, str]:
        """The event ready to store, or its errors per field. The common case first: a known
        customer, a moment with its offset within the bounds, a price already known, the
        contact when the tariff needs one, a small meta; anything else is judged by `_judge`,
        which names what is wrong."""
        customer_id = self.customers.get(event.customer)
        try:
            moment = datetime.fromisoformat(event.occurred_at)
        except ValueError:
            return self._judge(index, event)
        if customer_id is None or moment.utcoffset() is None:
            return self._judge(index, event)
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            return self._judge(index, event)
        local_day = moment.astimezone(self.tz).date()
        known = self.priced.get((event.tariff, event.actor, local_day))
        if (
            moment > self.latest
            or known is None  # not priced yet, or out of the billing years (never priced)
            or (known[2] and not event.contact)
        ):
            return self._judge(index, event)
        dumped = "{}"
        if event.meta:
            dumped = _meta_json(event.meta)
            if dumped is None or not dumped.isascii() or len(dumped) > MAX_META_BYTES:
                return self._judge(index, event)
        points, tariff_id, _per_contact, month = known
        return _Ready(
            index,
            event.id,
            customer_id,
            tariff_id,
            event.actor,
            event.contact or "",
            moment,
            points,
            event.meta or {},
            month,
            False,
            dumped,
        )

    def _judge(self, index: int, event: EventIn) -> _Ready | dict[str, str]:
        errors: dict[str, str] = {}
        customer_id = self.customers.get(event.customer)
        if customer_id is None:
            errors["customer"] = _("%(value)s is not a known customer.") % {
                "value": _show(event.customer)
            }
        moment = local_day = None
        try:
            moment, local_day = _parse_occurred_at(
                event.occurred_at, latest=self.latest, tz=self.tz
            )
        except InvalidChatEvent as error:
            errors[error.field] = error.message
        if event.actor not in _ACTORS:
            errors["actor"] = _("%(value)s is not an actor: use one of %(choices)s.") % {
                "value": _show(event.actor),
                "choices": ", ".join(Actor.values),
            }
        points = tariff_id = month = None
        per_contact = False
        key = (event.tariff, event.actor, local_day)
        known = self.priced.get(key)
        if known is not None:  # priced already: the tariff and the actor are right
            points, tariff_id, per_contact, month = known
        else:
            try:
                tariff = self.book.tariff(event.tariff)
            except BillingError as error:
                errors["tariff"] = str(error)
            else:
                per_contact = tariff.unit == Unit.CONTACT_MONTH
                if moment is not None and "actor" not in errors:
                    try:
                        priced = self.book.price(event.tariff, event.actor, local_day)
                    except BillingError as error:
                        errors["tariff"] = str(error)
                    else:
                        points, tariff_id = priced.points, priced.tariff_id
                        month = local_day.replace(day=1)
                        self.priced[key] = (points, tariff_id, per_contact, month)
        if per_contact and not event.contact:
            errors["contact"] = _("%(tariff)s is charged per contact: the contact is required.") % {
                "tariff": event.tariff
            }
        dumped = None
        if event.meta:
            dumped = _meta_json(event.meta)
            if dumped is None:
                errors["meta"] = _(
                    "meta holds a NUL character, invalid Unicode, a number that is not finite, "
                    "or is nested more than %(depth)d deep."
                ) % {"depth": MAX_META_DEPTH}
            elif (size := len(dumped) if dumped.isascii() else len(dumped.encode())) > (
                MAX_META_BYTES
            ):
                errors["meta"] = _("%(size)d bytes: meta holds at most %(max)d bytes of JSON.") % {
                    "size": size,
                    "max": MAX_META_BYTES,
                }
        if errors:
            return errors
        return _Ready(
            index=index,
            external_id=event.id,
            customer_id=customer_id,
            tariff_id=tariff_id,
            actor=event.actor,
            contact=event.contact or "",
            occurred_at=moment,
            points=points,
            meta=event.meta or {},
            month=month,
            meta_json=dumped or "{}",
        )


def _conflict(external_id: str, fields: Iterable[str]) -> dict[str, str]:
    return {
        "id": _(
            "%(value)s conflicts with the chat event already received with this id "
            "(%(fields)s differ): an event is stored once and never changed."
        )
        % {"value": _show(external_id), "fields": ", ".join(fields)}
    }


def _canonical(value):
    """A JSON value in a form where equal means the same JSON: numbers compared as decimals (a
    float read back from PostgreSQL's jsonb as an exact integer is the same number), true never
    equal to 1, keys in any order."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float):
        return ("number", Decimal(repr(value)) if isinstance(value, float) else Decimal(value))
    if isinstance(value, dict):
        return ("object", frozenset((key, _canonical(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_canonical(item) for item in value))
    return ("string", value)


def _differences(one: tuple, other: tuple) -> list[str]:
    """The content fields (see _Ready.content) in which two events differ."""
    names = []
    for name, a, b in zip(_CONTENT_FIELDS, one, other, strict=True):
        same = _canonical(a) == _canonical(b) if name == "meta" else a == b
        if not same:
            names.append(name)
    return names


def _typed_texts_checked(parsed: list, rejected: list[Rejection]) -> list:
    """The events decoded by events_decode whose texts are storable (_text_errors), the others
    refused: their texts joined checked at once (the common case), one by one only if not."""
    typed = [event for _index, event in parsed if type(event) is EventFields]
    if not typed or is_storable_text(
        "".join(
            [
                text
                for event in typed
                for text in (event.id, event.customer, event.tariff, event.actor, event.occurred_at)
            ]
            + [event.contact for event in typed if event.contact]
        )
    ):
        return parsed
    kept = []
    for index, event in parsed:
        if type(event) is EventFields and (errors := _text_errors(event)):
            rejected.append(Rejection(index, None, errors))
        else:
            kept.append((index, event))
    return kept


def events_prepare(
    *, events: Sequence[Any], now: datetime | None = None, book: TariffBook | None = None
) -> tuple[list[_Ready], list[Rejection], list[_Ready]]:
    """Check and price a batch without writing: (valid events, refusals, repeats).

    `repeats` are valid events whose id an earlier event of the batch already has: once the first
    is stored (or found stored), each is a duplicate of what is stored, or a conflict with it.
    """
    now = now or timezone.now()
    book = book or tariff_book()
    parsed: list[tuple[int, EventIn]] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(events):
        if type(raw) is EventFields:  # decoded and typed already (events_decode)
            parsed.append((index, raw))
            continue
        if not isinstance(raw, dict):
            rejected.append(
                Rejection(
                    index,
                    None,
                    {"event": _("%(value)s is not a JSON object.") % {"value": _show(raw)}},
                )
            )
            continue
        try:
            event = EventIn.model_validate(raw)
        except ValidationError as error:
            raw_id = raw.get("id")
            rejected.append(
                Rejection(index, raw_id if isinstance(raw_id, str) else None, _type_errors(error))
            )
            continue
        if errors := _text_errors(event):
            rejected.append(Rejection(index, None, errors))
            continue
        parsed.append((index, event))
    parsed = _typed_texts_checked(parsed, rejected)
    codes = {event.customer for _index, event in parsed}
    customers = dict(Customer.objects.filter(code__in=codes).values_list("code", "id"))
    checker = _Checker(customers=customers, book=book, now=now)
    ready: dict[str, _Ready] = {}
    repeats: list[_Ready] = []
    for index, event in parsed:
        outcome = checker.check(index, event)
        if isinstance(outcome, dict):
            rejected.append(Rejection(index, event.id, outcome))
        elif outcome.external_id in ready:
            repeats.append(outcome)
        else:
            ready[outcome.external_id] = outcome
    return list(ready.values()), rejected, repeats
