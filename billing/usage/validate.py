"""Chat events in, the judging half: each event of a batch checked on its own (fields, types,
source, text and JSON that can be stored, the tariff in force on its day, the customer's plan),
with a message per refused field naming the value and the reason (`events_prepare`)."""

from __future__ import annotations

import json
import math
import re
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import chain
from operator import attrgetter
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
import msgspec
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from billing.catalog.tariffs import FUTURE_TOLERANCE, TariffBook, tariff_book
from billing.errors import BillingError
from billing.models import Actor, Unit
from billing.months import FIRST_YEAR, LAST_YEAR, Month, billing_tz
from customers.models import Customer

MAX_BATCH = 1000
_ACTORS = frozenset(Actor.values)  # Actor.values builds a new list at each call


# `meta` as compact JSON: what json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
# allow_nan=False).encode() writes, its C encoder made once rather than at each call (no circular
# check: a value read from JSON cannot hold itself). NaN and infinities raise ValueError.
def _no_default(value):
    raise TypeError(f"{type(value).__name__} is not JSON")


_COMPACT_ENCODE = json.encoder.c_make_encoder(
    None, _no_default, json.encoder.encode_basestring, None, ":", ",", False, False, False
)
MAX_META_BYTES = 4096


class InvalidChatEvent(BillingError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class EventIn(BaseModel):
    """One completed chat as the sender reports it (the API body and the CSV columns)."""

    model_config = ConfigDict(extra="forbid", title="ChatEventIn")

    id: str = Field(
        min_length=1, max_length=100, description="The sender's id of the chat, unique per source."
    )
    customer: str = Field(min_length=1, max_length=64, description="The customer's code.")
    tariff: str = Field(min_length=1, max_length=64, description="The tariff's code.")
    actor: str = Field(
        description="Who completed the chat.", json_schema_extra={"enum": list(Actor.values)}
    )
    contact: str | None = Field(
        default=None,
        max_length=200,
        description="The contact's id; required for tariffs charged per engaged contact.",
    )
    occurred_at: str = Field(
        description="When the chat was completed: ISO 8601 with an offset.",
        json_schema_extra={"format": "date-time"},
    )
    meta: dict[str, Any] | None = Field(
        default=None, description="Anything the sender wants to keep with the chat (≤ 4 KB)."
    )


FIELDS = tuple(EventIn.model_fields)


def _typed_like(info) -> Any:
    """An EventIn field's type for msgspec: the same type, with the same length bounds."""
    bounds = {}
    for item in info.metadata:
        if isinstance(item, annotated_types.MinLen):
            bounds["min_length"] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            bounds["max_length"] = item.max_length
        else:  # pragma: no cover - EventIn has no other constraint
            raise TypeError(f"EventIn constraint {item!r} has no msgspec twin")
    kind, optional = info.annotation, False
    if get_origin(kind) in (Union, types.UnionType) and type(None) in get_args(kind):
        (kind,) = [arg for arg in get_args(kind) if arg is not type(None)]
        optional = True
    if bounds:
        kind = Annotated[kind, msgspec.Meta(**bounds)]
    return kind | None if optional else kind


# EventIn as msgspec decodes it straight from a body's bytes, types and lengths checked in the
# same pass (the API's common case: every event well formed). Built from EventIn's fields, so the
# two cannot drift. Where msgspec accepts a document, json.loads and EventIn accept it too, with
# equal values (tests/billing/test_ingest_fast_path.py); anything else, the body is read the slow
# way, which names what is wrong in each event.
EventFields = msgspec.defstruct(
    "EventFields",
    [
        (name, _typed_like(info)) if info.is_required() else (name, _typed_like(info), info.default)
        for name, info in EventIn.model_fields.items()
    ],
    forbid_unknown_fields=True,
    kw_only=True,
)
_BATCH_DECODER = msgspec.json.Decoder(
    msgspec.defstruct("Batch", [("events", list[EventFields])], forbid_unknown_fields=True)
)


def events_decode(document: str | bytes) -> list | None:
    """The events of a JSON body {"events": [...]} decoded and typed in one pass when every event
    is well formed (the fields of EventIn, their types and lengths) and no meta nests deeper than
    MAX_META_DEPTH; None otherwise: read it then with loads_json() and events_prepare(), which
    say what is wrong."""
    try:
        events = _BATCH_DECODER.decode(document).events
    except (msgspec.MsgspecError, RecursionError, UnicodeEncodeError):
        return None
    # A meta nested deeper is refused in any case, and json.loads may not even read the body:
    # called with a few more frames on the stack than msgspec, it reaches the recursion limit
    # first (the API answers 400 "nested too deeply" then). The slow path decides, as before.
    if _nested_deeper(filter(None, map(_META, events)), MAX_META_DEPTH):
        return None
    return events


_META = attrgetter("meta")


def _nested_deeper(objects: Iterable[dict], levels: int) -> bool:
    """Some of these JSON objects hold arrays and objects nested more than `levels` deep
    (themselves included): looked at level by level, all of them at once, without recursing.
    Flat ones (the common case) cost one pass in C over their values."""
    arrays: list[list] = []
    for _level in range(levels):
        items = [*chain.from_iterable(map(dict.values, objects)), *chain.from_iterable(arrays)]
        kinds = set(map(type, items))
        if dict not in kinds and list not in kinds:
            return False
        objects = [item for item in items if type(item) is dict]
        arrays = [item for item in items if type(item) is list]
    return True


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


def is_storable_text(value: str) -> bool:
    """Text a database can store: valid Unicode (no lone surrogate) without NUL characters."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


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


MAX_META_DEPTH = 32


def _storable_json(value, depth: int = 0) -> bool:
    """Every string and key of a JSON value is storable text (no NUL, no lone surrogate), and
    it nests at most MAX_META_DEPTH deep."""
    if isinstance(value, str):
        return is_storable_text(value)
    if isinstance(value, dict | list) and depth >= MAX_META_DEPTH:
        return False
    if isinstance(value, dict):
        return all(
            is_storable_text(key) and _storable_json(item, depth + 1) for key, item in value.items()
        )
    if isinstance(value, list):
        return all(_storable_json(item, depth + 1) for item in value)
    return True


def _meta_json(meta: dict) -> str | None:
    """`meta` as compact JSON, or None when it cannot be stored (_storable_json, or a number
    that is not finite). Encoded first: compact JSON that is ASCII, without an escaped NUL and
    with at most MAX_META_DEPTH brackets is storable without walking it (the common case)."""
    try:
        dumped = "".join(_COMPACT_ENCODE(meta, 0))
    except (ValueError, RecursionError):  # NaN or infinity; nested far too deep
        return None
    if (
        dumped.isascii()
        and "\\u0000" not in dumped
        and dumped.count("{") + dumped.count("[") <= MAX_META_DEPTH
    ):
        return dumped
    return dumped if _storable_json(meta) else None


def loads_json(text: str | bytes):
    """json.loads, refusing NaN, Infinity and numbers too big for a float (read as infinity):
    not JSON, or not storable. A document nested too deeply raises ValueError too."""

    def refuse(constant):
        raise ValueError(_("%(value)s is not a JSON number") % {"value": constant})

    def finite(literal):
        number = float(literal)
        if not math.isfinite(number):
            refuse(literal[:20])
        return number

    try:
        return json.loads(text, parse_constant=refuse, parse_float=finite)
    except RecursionError:
        raise ValueError(_("nested too deeply")) from None


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


# --- Writing -----------------------------------------------------------------------------------


# The batch goes to PostgreSQL as one JSON document, unpacked by json_to_recordset: one
# parameter, serialised by the json module's C encoder (measured faster than one array per
# column, which psycopg adapts element by element in Python).
