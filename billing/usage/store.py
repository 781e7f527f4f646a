"""Chat events in, the storing half: judged by billing.usage.validate, priced at the tariff in
force on the chat's day, stored once.

One service, `events_ingest`, takes a batch of events as the sender wrote them (the API's JSON
objects, the CSV importer's rows, the admin's form) so that every way in follows the same rules:

- each event is checked on its own, and refused with a message per field naming the value and
  the reason; the valid events of a batch are stored even when others are refused;
- (source, id) is stored once, for ever (a unique constraint): the same id again with the same
  content is a duplicate (counted, nothing changes), with other content it is refused as a
  conflict with the event already received;
- points are priced when the chat is received, with the tariff version in force on its day;
- a chat of a month whose invoice is already issued is stored and marked late (rule 9).

The write is one transaction and one set-based INSERT per batch: ON CONFLICT DO NOTHING, or on
PostgreSQL a plain INSERT first, in a savepoint, with ON CONFLICT DO NOTHING only once it has met
an id already stored (_insert_postgresql).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import msgspec
import psycopg
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.catalog.tariffs import TariffBook, per_contact_tariff_ids
from billing.models import ChatEvent, Invoice, InvoiceKind, InvoiceStatus, Subscription, Unit
from billing.months import Month, billing_tz
from billing.usage.summary import PG_SUMMARY_CTES, summary_add, summary_rebuild
from billing.usage.validate import (
    IngestResult,
    InvalidChatEvent,
    Rejection,
    _conflict,
    _differences,
    _Ready,
    events_prepare,
    source_problem,
)
from customers.models import Customer

_ENCODE = msgspec.json.Encoder().encode
_RETRIES = 5  # a batch that lost a deadlock (it should not: rows are locked in a fixed order)
# A chat is late when its month's invoice is issued (read in the statement, which runs after the
# customers are locked: it sees an invoice issued meanwhile); the statement also tells, per chat
# stored, whether a subscription covers its month (the unbilled count): no query of their own.
# The batch comes as one array per column (_pg_columns), the common case inserted as it is
# ({on_conflict} empty: no speculative insertion, no check of the unique index before each row);
# a batch with an id already stored falls back to the same statement with ON CONFLICT DO NOTHING.
_PG_INSERT_BATCH = """
WITH ins AS (
    INSERT INTO billing_chatevent (source, external_id, customer_id, tariff_id, actor, contact,
                                   occurred_at, points, metadata, received_at, late)
    SELECT %(source)s, e.external_id, e.customer_id, e.tariff_id, e.actor, e.contact,
           e.occurred_at, e.points, e.metadata::jsonb, %(received)s,
           EXISTS (SELECT FROM billing_invoice i
                   WHERE i.customer_id = e.customer_id AND i.month = e.month
                     AND i.kind = %(invoice)s AND i.status = %(issued)s)
    FROM unnest(%(external_id)s::varchar[], %(customer_id)s::bigint[], %(tariff_id)s::bigint[],
                %(actor)s::varchar[], %(contact)s::varchar[], %(occurred_at)s::timestamptz[],
                %(points)s::integer[], %(metadata)s::text[], %(month)s::date[])
         AS e(external_id, customer_id, tariff_id, actor, contact, occurred_at, points, metadata,
              month)
    {on_conflict}
    RETURNING id, external_id, customer_id, tariff_id, actor, contact, occurred_at, points, late
),
"""
# One row: how many were inserted, the ids of those (only when some of the batch were not: the
# common answer is "all", not a thousand ids), the ids of the late ones, and how many fall in a
# month with no plan in force for their customer (a subscription looked up per customer and
# month, not per chat).
_PG_INSERTED_IDS = """,
per_month AS (
    SELECT customer_id, date_trunc('month', occurred_at AT TIME ZONE %(tz)s)::date AS month,
           count(*) AS chats
    FROM ins GROUP BY 1, 2
),
inserted AS (SELECT count(*) AS n FROM ins)
SELECT inserted.n,
       CASE WHEN inserted.n < %(batch)s THEN (SELECT array_agg(external_id) FROM ins) END,
       (SELECT array_agg(external_id) FROM ins WHERE late),
       (SELECT coalesce(sum(chats), 0)::bigint FROM per_month m
        WHERE NOT EXISTS (SELECT FROM billing_subscription s
                          WHERE s.customer_id = m.customer_id AND s.first_month <= m.month
                            AND (s.last_month IS NULL OR s.last_month >= m.month)))
FROM inserted
"""
# The batch, then the summary summed in the same statement (billing.usage.summary), then the ids.
_PG_INSERT_NEW, _PG_INSERT = (
    "".join([_PG_INSERT_BATCH.format(on_conflict=clause), PG_SUMMARY_CTES, _PG_INSERTED_IDS])
    for clause in ("", "ON CONFLICT (source, external_id) DO NOTHING")
)
_PG_UNIQUE_ID = "event_unique_per_source"  # the constraint that holds (source, external_id)
_GENERIC_INSERT = (
    "INSERT INTO billing_chatevent (source, external_id, customer_id, tariff_id, actor, contact, "
    "occurred_at, points, metadata, received_at, late) VALUES {values} "
    "ON CONFLICT (source, external_id) DO NOTHING RETURNING external_id, id"
)


def _pg_texts(values: list[str]) -> str:
    """A PostgreSQL array literal of these strings: each one quoted, its backslashes and double
    quotes escaped (every other character stands for itself between quotes)."""
    if not values:
        return "{}"
    quoted = [value.replace("\\", "\\\\").replace('"', '\\"') for value in values]
    return '{"' + '","'.join(quoted) + '"}'


def _pg_values(values: list) -> str:
    """A PostgreSQL array literal of numbers, dates or aware datetimes: msgspec writes them as a
    JSON array (numbers bare, dates and moments as quoted ISO 8601), which is that literal once
    its brackets are braces."""
    return "{" + _ENCODE(values)[1:-1].decode() + "}"


def _pg_columns(rows: list[_Ready]) -> dict[str, str]:
    """The batch as one array literal per column: each parsed on the server in C (array_in),
    not as JSON objects (json_to_recordset: every value looked up by name), and built here
    without a Python loop per value."""
    return {
        "external_id": _pg_texts([row.external_id for row in rows]),
        "customer_id": _pg_values([row.customer_id for row in rows]),
        "tariff_id": _pg_values([row.tariff_id for row in rows]),
        "actor": _pg_texts([row.actor for row in rows]),
        "contact": _pg_texts([row.contact for row in rows]),
        "occurred_at": _pg_values([row.occurred_at for row in rows]),
        "points": _pg_values([row.points for row in rows]),
        "metadata": _pg_texts([row.meta_json for row in rows]),
        "month": _pg_values([row.month for row in rows]),
    }


@contextmanager
def _prepared(pg: psycopg.Connection):
    """Statements run with prepare=True are prepared on the server (parsed and planned once per
    connection). Django opens its connections with prepare_threshold None (no statement
    prepared, for connection poolers), which also ignores prepare=True: lifted here for the
    statements run inside, restored afterwards."""
    threshold = pg.prepare_threshold
    pg.prepare_threshold = 1 << 30  # only what asks for prepare=True
    try:
        yield
    finally:
        pg.prepare_threshold = threshold


def _insert_postgresql(source: str, rows: list[_Ready], now: datetime) -> tuple[set[str], int]:
    """Insert the rows (their `late` decided in the statement), the batch's customers locked
    already: the ids inserted and how many of them are unbilled.

    One round trip (pipelined): a savepoint and the plain insert. When an id of the batch is
    already stored (a batch sent again), the insert fails on the unique constraint without
    storing anything: back to the savepoint, and the statement runs again with ON CONFLICT DO
    NOTHING. Errors come out as Django's (the deadlock retry reads them)."""
    parameters = {
        "source": source,
        "received": now,
        **_pg_columns(rows),
        "tz": settings.BILLING_TIME_ZONE,
        "per_contact_unit": Unit.CONTACT_MONTH.value,
        "invoice": InvoiceKind.INVOICE.value,
        "issued": InvoiceStatus.ISSUED.value,
        "batch": len(rows),
    }
    pg = connection.connection
    with connection.wrap_database_errors, psycopg.Cursor(pg) as raw:
        try:
            with _prepared(pg), pg.pipeline():
                pg.execute("SAVEPOINT chat_batch")
                raw.execute(_PG_INSERT_NEW, parameters, prepare=True)
                answer = raw.fetchone()
        except psycopg.errors.UniqueViolation as error:
            if error.diag.constraint_name != _PG_UNIQUE_ID:
                raise
            # Outside _prepared: psycopg forgets all it prepared at a ROLLBACK run with
            # prepared statements enabled (as at any Connection.rollback()); the server keeps
            # them through a rollback to a savepoint.
            pg.execute("ROLLBACK TO SAVEPOINT chat_batch")
            with _prepared(pg):
                # When the plain insert's first run on this connection was the one that failed,
                # psycopg forgot it while the server kept it: prepared again by a run that
                # cannot fail (no rows), or each batch sent again would leave one more on the
                # server. Otherwise a run of a statement already prepared, inserting nothing.
                raw.execute(
                    _PG_INSERT_NEW, {**parameters, **_pg_columns([]), "batch": 0}, prepare=True
                )
                raw.execute(_PG_INSERT, parameters, prepare=True)
            answer = raw.fetchone()
    count, some, late_ids, unbilled = answer
    inserted = {row.external_id for row in rows} if count == len(rows) else set(some or ())
    late = set(late_ids or ())
    for row in rows:
        row.late = row.external_id in late
    return inserted, unbilled


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
) -> tuple[Collection[str], dict[str, tuple], int]:
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
        if connection.vendor == "postgresql":
            inserted, unbilled = _insert_postgresql(source, rows, now or timezone.now())
            return inserted, _existing(source, rows, inserted), unbilled
        invoiced = set(
            Invoice.objects.issued()
            .filter(customer_id__in=customer_ids, month__in=months)
            .values_list("customer_id", "month")
        )
        for row in rows:
            row.late = (row.customer_id, row.month) in invoiced
        inserted = _insert_generic(cursor, source, rows, now or timezone.now())
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
            per_contact_tariff_ids(),
        )
        existing = _existing(source, rows, inserted)
        unbilled = _count_unbilled(stored)
    return inserted, existing, unbilled


def _existing(source: str, rows: list[_Ready], inserted: Collection[str]) -> dict[str, tuple]:
    """The content stored under the ids of the batch that were not inserted (one query, none
    when every row was)."""
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
    return existing


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
    # What is stored under the ids that come again in the batch (repeats are judged against it).
    repeated = {repeat.external_id for repeat in repeats}
    stored_content: dict[str, tuple] = {}
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
                if repeated and row.external_id in repeated:
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
