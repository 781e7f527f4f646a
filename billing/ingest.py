"""Chat events in: validate, price at the tariff in force on the chat's day, store once.

One service, `events_ingest`, takes a batch of events as the sender wrote them (the API's JSON
objects, the CSV importer's rows, the admin's form) so that every way in follows the same rules:

- each event is checked on its own, and refused with a message per field naming the value and
  the reason; the valid events of a batch are stored even when others are refused;
- (source, id) is stored once, for ever (a unique constraint): the same id again with the same
  content is a duplicate (counted, nothing changes), with other content it is refused as a
  conflict with the event already received;
- points are priced when the chat is received, with the tariff version in force on its day;
- a chat of a month whose invoice is already issued is stored and marked late (rule 9).

The write is one transaction and one set-based INSERT … ON CONFLICT DO NOTHING per batch.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from customers.models import Customer

from .errors import BillingError
from .models import Actor, ChatEvent, Invoice, InvoiceKind, InvoiceStatus, Subscription, Unit
from .months import Month, billing_tz
from .summary import PG_SUMMARY_CTES, per_contact_tariffs, summary_add, summary_rebuild
from .tariffs import FUTURE_TOLERANCE, TariffBook

MAX_BATCH = 1000
_ACTORS = frozenset(Actor.values)  # Actor.values builds a new list at each call
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
MAX_META_BYTES = 4096
_RETRIES = 5  # a batch that lost a deadlock (it should not: rows are locked in a fixed order)


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
    """The chat's moment: ISO 8601 with an offset, not in the future, within the billing years."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidChatEvent(
            "occurred_at",
            _("%(value)s is not an ISO 8601 date and time, such as 2026-11-27T14:05:00+01:00.")
            % {"value": _show(value)},
        ) from None
    if timezone.is_naive(moment):
        raise InvalidChatEvent(
            "occurred_at",
            _("%(value)s has no time zone offset (such as +01:00 or Z).") % {"value": _show(value)},
        )
    try:
        moment.astimezone(UTC)
    except OverflowError:  # the first or last day of year 1 or 9999, moved by its offset
        raise InvalidChatEvent(
            "occurred_at",
            _("%(value)s is out of the billing years.") % {"value": _show(value)},
        ) from None
    if moment > now + FUTURE_TOLERANCE:
        raise InvalidChatEvent(
            "occurred_at",
            _("%(value)s is in the future: a chat is reported once it is completed.")
            % {"value": _show(value)},
        )
    try:
        Month.of(moment.astimezone(tz or billing_tz()).date())  # within the billing years
    except BillingError as error:
        raise InvalidChatEvent("occurred_at", f"{_show(value)}: {error}") from None
    return moment


class _Checker:
    """Checks and prices events against what one batch needs: its customers and the tariffs."""

    def __init__(self, *, customers: dict[str, int], book: TariffBook, now: datetime):
        self.customers = customers
        self.book = book
        self.now = now
        self.tz = billing_tz()

    def check(self, index: int, event: EventIn) -> _Ready | dict[str, str]:
        errors: dict[str, str] = {}
        customer_id = self.customers.get(event.customer)
        if customer_id is None:
            errors["customer"] = _("%(value)s is not a known customer.") % {
                "value": _show(event.customer)
            }
        moment = None
        try:
            moment = parse_occurred_at(event.occurred_at, now=self.now, tz=self.tz)
        except InvalidChatEvent as error:
            errors[error.field] = error.message
        if event.actor not in _ACTORS:
            errors["actor"] = _("%(value)s is not an actor: use one of %(choices)s.") % {
                "value": _show(event.actor),
                "choices": ", ".join(Actor.values),
            }
        points = tariff_id = None
        try:
            tariff = self.book.tariff(event.tariff)
        except BillingError as error:
            errors["tariff"] = str(error)
        else:
            if tariff.unit == Unit.CONTACT_MONTH and not event.contact:
                errors["contact"] = _(
                    "%(tariff)s is charged per contact: the contact is required."
                ) % {"tariff": event.tariff}
            if moment is not None and "actor" not in errors:
                try:
                    priced = self.book.price(
                        event.tariff, event.actor, moment.astimezone(self.tz).date()
                    )
                except BillingError as error:
                    errors["tariff"] = str(error)
                else:
                    points, tariff_id = priced.points, priced.tariff_id
        if event.meta:
            dumped = None
            if _storable_json(event.meta):
                with contextlib.suppress(ValueError):  # NaN or infinity
                    dumped = _COMPACT_JSON.encode(event.meta)
            if dumped is None:
                errors["meta"] = _(
                    "meta holds a NUL character, invalid Unicode, a number that is not finite, "
                    "or is nested more than %(depth)d deep."
                ) % {"depth": MAX_META_DEPTH}
            elif (size := len(dumped.encode())) > MAX_META_BYTES:
                errors["meta"] = _("%(size)d bytes: meta holds at most %(max)d bytes of JSON.") % {
                    "size": size,
                    "max": MAX_META_BYTES,
                }
        if errors:
            return errors
        local_day = moment.astimezone(self.tz).date()
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
            month=local_day.replace(day=1),
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


def events_prepare(
    *, events: Sequence[Any], now: datetime | None = None, book: TariffBook | None = None
) -> tuple[list[_Ready], list[Rejection], list[_Ready]]:
    """Check and price a batch without writing: (valid events, refusals, repeats).

    `repeats` are valid events whose id an earlier event of the batch already has: once the first
    is stored (or found stored), each is a duplicate of what is stored, or a conflict with it.
    """
    now = now or timezone.now()
    book = book or TariffBook()
    parsed: list[tuple[int, EventIn]] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(events):
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
_PG_INSERT_BATCH = """
WITH ins AS (
    INSERT INTO billing_chatevent (source, external_id, customer_id, tariff_id, actor, contact,
                                   occurred_at, points, metadata, received_at, late)
    SELECT %(source)s, e.external_id, e.customer_id, e.tariff_id, e.actor, e.contact,
           e.occurred_at, e.points, e.metadata, %(received)s, e.late
    FROM json_to_recordset(%(document)s::json) AS e(external_id varchar, customer_id bigint,
         tariff_id bigint, actor varchar, contact varchar, occurred_at timestamptz,
         points integer, metadata jsonb, late boolean)
    ON CONFLICT (source, external_id) DO NOTHING
    RETURNING id, external_id, customer_id, tariff_id, actor, contact, occurred_at, points
),
"""
_PG_INSERTED_IDS = """
SELECT external_id, id FROM ins
"""
# The batch, then the summary summed in the same statement (billing.summary), then the ids.
_PG_INSERT = "".join([_PG_INSERT_BATCH, PG_SUMMARY_CTES, _PG_INSERTED_IDS])
_GENERIC_INSERT = (
    "INSERT INTO billing_chatevent (source, external_id, customer_id, tariff_id, actor, contact, "
    "occurred_at, points, metadata, received_at, late) VALUES {values} "
    "ON CONFLICT (source, external_id) DO NOTHING RETURNING external_id, id"
)


def _insert_postgresql(cursor, source: str, rows: list[_Ready], now: datetime) -> dict[str, int]:
    document = json.dumps(
        [
            {
                "external_id": row.external_id,
                "customer_id": row.customer_id,
                "tariff_id": row.tariff_id,
                "actor": row.actor,
                "contact": row.contact,
                "occurred_at": row.occurred_at.astimezone(UTC).isoformat(),
                "points": row.points,
                "metadata": row.meta,
                "late": row.late,
            }
            for row in rows
        ],
        ensure_ascii=False,
    )
    cursor.execute(
        _PG_INSERT,
        {
            "source": source,
            "received": now,
            "document": document,
            "tz": settings.BILLING_TIME_ZONE,
            "per_contact": sorted(per_contact_tariffs()),
        },
    )
    return dict(cursor.fetchall())


def _insert_generic(cursor, source: str, rows: list[_Ready], now: datetime) -> dict[str, int]:
    ops = connection.ops
    received = ops.adapt_datetimefield_value(now)
    inserted: dict[str, int] = {}
    placeholders = "(" + ", ".join(["%s"] * 11) + ")"
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        params: list[Any] = []
        for row in chunk:
            params += [
                source,
                row.external_id,
                row.customer_id,
                row.tariff_id,
                row.actor,
                row.contact,
                ops.adapt_datetimefield_value(row.occurred_at),
                row.points,
                json.dumps(row.meta, ensure_ascii=False),
                received,
                row.late,
            ]
        values = ", ".join([placeholders] * len(chunk))  # placeholders only, never data
        cursor.execute(_GENERIC_INSERT.format(values=values), params)
        inserted.update(cursor.fetchall())
    return inserted


def _lock_customers(cursor, customer_ids: list[int]) -> None:
    """Hold the batch's customers (FOR KEY SHARE) until it commits.

    Issuing an invoice locks its customer FOR UPDATE: it waits for the batches in flight, and the
    batches that come after it see the invoice and mark their chats of its month late. (SQLite
    runs one write transaction at a time: nothing to lock.)
    """
    if connection.vendor == "postgresql":
        cursor.execute(
            "SELECT id FROM customers_customer WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE",
            [customer_ids],
        )


def _store(
    source: str, rows: list[_Ready], now: datetime | None
) -> tuple[dict[str, int], dict[str, tuple], int]:
    """Insert the rows not yet stored; return the ids inserted, the content of the others and
    how many of those inserted are unbilled.

    `received_at` is read after the customers are locked: a batch that waited for an invoice
    being issued is received after it (and marked late), one that went first is received before
    it (and counted by it). `now` (tests) replaces the clock.

    Everything the answer needs from the database is read here, before the commit: once the
    batch is stored, nothing may fail and answer an error for it (a connection dropped after the
    commit would have the sender count stored chats as failed).
    """
    rows = sorted(rows, key=lambda row: row.external_id)  # one lock order for every batch
    customer_ids = sorted({row.customer_id for row in rows})
    months = {row.month for row in rows}
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_customers(cursor, customer_ids)
        invoiced = set(
            Invoice.objects.filter(
                kind=InvoiceKind.INVOICE,
                status=InvoiceStatus.ISSUED,
                customer_id__in=customer_ids,
                month__in=months,
            ).values_list("customer_id", "month")
        )
        for row in rows:
            row.late = (row.customer_id, row.month) in invoiced
        insert = _insert_postgresql if connection.vendor == "postgresql" else _insert_generic
        inserted = insert(cursor, source, rows, now or timezone.now())
        if connection.vendor != "postgresql":  # PostgreSQL's insert summed them already
            stored = [row for row in rows if row.external_id in inserted]
            summary_add(
                cursor,
                [
                    (
                        inserted[row.external_id],
                        row.customer_id,
                        row.tariff_id,
                        row.actor,
                        row.contact,
                        row.occurred_at,
                        row.points,
                    )
                    for row in stored
                ],
                per_contact_tariffs(),
            )
        others = [row.external_id for row in rows if row.external_id not in inserted]
        existing = {}
        if others:
            for external_id, *content in ChatEvent.objects.filter(
                source=source, external_id__in=others
            ).values_list(
                "external_id",
                "customer_id",
                "tariff_id",
                "actor",
                "contact",
                "occurred_at",
                "metadata",
            ):
                existing[external_id] = tuple(content)
        unbilled = _count_unbilled([row for row in rows if row.external_id in inserted])
    return inserted, existing, unbilled


def _is_deadlock(error: OperationalError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) in ("40P01", "40001")


def events_ingest(
    *,
    source: str,
    events: Sequence[Any],
    now: datetime | None = None,
    book: TariffBook | None = None,
) -> IngestResult:
    """Validate, price and store a batch of chat events from `source` (one transaction).

    Returns what was accepted (newly stored), the duplicates (already stored with the same
    content) and each refused event with its errors per field.
    """
    source_error = source_problem(source)
    if source_error:
        raise InvalidChatEvent("source", source_error)
    rows, rejected, repeats = events_prepare(events=events, now=now, book=book)
    result = IngestResult(rejected=rejected)
    stored_content: dict[str, tuple] = {}  # what is stored under each id of the batch
    if rows:
        for attempt in range(_RETRIES):
            try:
                inserted, existing, unbilled = _store(source, rows, now)
                break
            except OperationalError as error:
                if not _is_deadlock(error) or attempt == _RETRIES - 1:
                    raise
        for row in rows:
            if row.external_id in inserted:
                result.accepted += 1
                result.late += row.late
                stored_content[row.external_id] = row.content()
                continue
            stored = existing[row.external_id]
            stored_content[row.external_id] = stored
            _judge(result, row, stored)
        result.unbilled = unbilled
    for repeat in repeats:
        _judge(result, repeat, stored_content[repeat.external_id])
    result.rejected.sort(key=lambda rejection: rejection.index)
    return result


def _judge(result: IngestResult, row: _Ready, stored: tuple) -> None:
    """An event whose id is already stored: a duplicate if its content is the same."""
    differ = _differences(stored, row.content())
    if differ:
        result.rejected.append(
            Rejection(row.index, row.external_id, _conflict(row.external_id, differ))
        )
    else:
        result.duplicates += 1


def _count_unbilled(rows: list[_Ready]) -> int:
    """How many of these chats fall in a month with no plan in force for their customer."""
    if not rows:
        return 0
    covered: dict[int, list[tuple[date, date | None]]] = {}
    for customer_id, first, last in Subscription.objects.filter(
        customer_id__in={row.customer_id for row in rows}
    ).values_list("customer_id", "first_month", "last_month"):
        covered.setdefault(customer_id, []).append((first, last))
    return sum(
        1
        for row in rows
        if not any(
            first <= row.month and (last is None or row.month <= last)
            for first, last in covered.get(row.customer_id, ())
        )
    )


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
    now: datetime | None = None,
) -> ChatEvent:
    """Store one chat through `events_ingest` (the admin's form, the tests).

    Raises InvalidChatEvent for the first field refused; an event already received with the same
    content is returned as it is.
    """
    event = {
        "id": external_id,
        "customer": customer.code,
        "tariff": tariff_code,
        "actor": actor,
        "contact": contact or None,
        "occurred_at": occurred_at.isoformat(),
        "meta": metadata or None,
    }
    result = events_ingest(source=source, events=[event], now=now)
    if result.rejected:
        name, message = next(iter(result.rejected[0].errors.items()))
        raise InvalidChatEvent(name, message)
    return ChatEvent.objects.get(source=source, external_id=external_id)


def events_void(*, events, reason: str, user) -> int:
    """Void chats (kept, never deleted): they no longer count in the months not yet invoiced.

    Returns how many were voided; chats already voided keep their first reason.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidChatEvent("reason", _("Say why these chats are voided."))
    tz = billing_tz()
    with transaction.atomic():
        pending = events.filter(voided_at__isnull=True)
        touched = set(pending.values_list("customer_id", "occurred_at"))
        customers = sorted({customer_id for customer_id, moment in touched})
        # No batch of these customers runs meanwhile: the summary is recomputed from the chats.
        list(Customer.objects.select_for_update().filter(pk__in=customers).order_by("pk"))
        count = pending.update(voided_at=timezone.now(), voided_by=user, void_reason=reason)
        for customer_id, month in sorted(
            {(customer_id, Month.containing(moment, tz)) for customer_id, moment in touched}
        ):
            summary_rebuild(customers=[customer_id], month=month)
    return count
