"""The month's usage summed as chats arrive, so that the dealer's report reads a few hundred rows
instead of every chat of the month (bench/report.py: 100,000 chats in a month).

Two tables hold the chats that are not voided, whatever the invoices:
- UsageDay: chats and points per customer, day (billing time zone), tariff and actor;
- ContactMonth: for tariffs charged per engaged contact, each contact's first chat of the month
  (the earliest, then the smallest id): the chat that costs its points (billing rule 2).

They are written in the transaction that writes the chats: ingestion adds (summary_add, an
additive upsert in one lock order), voiding recomputes the customer's months it touched
(summary_rebuild, the customer held FOR UPDATE so that no batch of theirs runs meanwhile).
Chats are never deleted. The report still reads the chats themselves when the summary cannot
tell (a month whose issued invoice counts a different set: late chats, chats voided since).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from billing.catalog.tariffs import per_contact_tariff_ids
from billing.models import ChatEvent, ContactMonth, UsageDay
from billing.months import Month, billing_tz

_BATCH = 500

# The two tables' inserts and what a row already there becomes: the day's sums add up; a
# contact's row keeps its earliest chat (then the smallest id), whichever batch brings it.
_USAGE_DAY_INTO = """
INSERT INTO billing_usageday AS u (customer_id, day, tariff_id, actor, chats, points)
"""
_USAGE_DAY_ON_CONFLICT = """
ON CONFLICT (customer_id, day, tariff_id, actor) DO UPDATE SET
    chats = u.chats + excluded.chats, points = u.points + excluded.points
"""
_CONTACT_MONTH_INTO = """
INSERT INTO billing_contactmonth AS c (customer_id, month, tariff_id, actor, contact, first_at,
                                       first_day, first_id, points)
"""
_CONTACT_MONTH_ON_CONFLICT = """
ON CONFLICT (customer_id, month, tariff_id, actor, contact) DO UPDATE SET
    first_at = CASE WHEN (excluded.first_at, excluded.first_id) < (c.first_at, c.first_id)
        THEN excluded.first_at ELSE c.first_at END,
    first_day = CASE WHEN (excluded.first_at, excluded.first_id) < (c.first_at, c.first_id)
        THEN excluded.first_day ELSE c.first_day END,
    first_id = CASE WHEN (excluded.first_at, excluded.first_id) < (c.first_at, c.first_id)
        THEN excluded.first_id ELSE c.first_id END,
    points = CASE WHEN (excluded.first_at, excluded.first_id) < (c.first_at, c.first_id)
        THEN excluded.points ELSE c.points END
"""
_USAGE_DAY_UPSERT = _USAGE_DAY_INTO + "VALUES {values}" + _USAGE_DAY_ON_CONFLICT
_CONTACT_MONTH_UPSERT = _CONTACT_MONTH_INTO + "VALUES {values}" + _CONTACT_MONTH_ON_CONFLICT

# PostgreSQL: the same sums taken in SQL from the rows a batch's INSERT … RETURNING gave (a CTE
# named `ins`), in the statement that inserts them (billing.usage.store), keys in order (one lock
# order for concurrent batches). Parameters: %(tz)s, the billing time zone, and
# %(per_contact_unit)s, the unit of the tariffs charged per engaged contact: the ids
# billing.catalog.tariffs.per_contact_tariff_ids() gives, read here in the statement (no query of
# its own). Elsewhere those ids come from that function only.
_DAYS_FROM_INS = """
    SELECT customer_id, (occurred_at AT TIME ZONE %(tz)s)::date, tariff_id, actor, count(*),
           sum(points)
    FROM ins GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
_CONTACTS_FROM_INS = """
    SELECT DISTINCT ON (customer_id, month, tariff_id, actor, contact)
           customer_id, date_trunc('month', occurred_at AT TIME ZONE %(tz)s)::date AS month,
           tariff_id, actor, contact, occurred_at, (occurred_at AT TIME ZONE %(tz)s)::date, id,
           points
    FROM ins WHERE tariff_id IN (SELECT id FROM billing_tariff WHERE unit = %(per_contact_unit)s)
    ORDER BY customer_id, month, tariff_id, actor, contact, occurred_at, id
"""
PG_SUMMARY_CTES = "".join(
    [
        "days AS (",
        _USAGE_DAY_INTO,
        _DAYS_FROM_INS,
        _USAGE_DAY_ON_CONFLICT,
        "),\ncontacts AS (",
        _CONTACT_MONTH_INTO,
        _CONTACTS_FROM_INS,
        _CONTACT_MONTH_ON_CONFLICT,
        ")",
    ]
)


def _upsert(cursor, statement: str, rows: list[tuple]) -> None:
    if not rows:
        return
    placeholders = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start : start + _BATCH]
        values = ", ".join([placeholders] * len(chunk))  # placeholders only, never data
        cursor.execute(statement.format(values=values), [value for row in chunk for value in row])


def summary_add(
    cursor,
    chats: Iterable[tuple[int, int, int, str, str, datetime, int]],
    per_contact: set[int],
) -> None:
    """Add newly stored chats (id, customer id, tariff id, actor, contact, occurred_at, points)
    to the summary, inside the transaction that stored them. Rows are upserted in key order:
    concurrent batches lock summary rows in one order (no deadlock)."""
    tz = billing_tz()
    ops = connection.ops
    days: dict[tuple, list[int]] = {}
    firsts: dict[tuple, tuple] = {}
    for pk, customer_id, tariff_id, actor, contact, occurred_at, points in chats:
        local = occurred_at.astimezone(tz)
        day = local.date()
        total = days.setdefault((customer_id, day, tariff_id, actor), [0, 0])
        total[0] += 1
        total[1] += points
        if tariff_id in per_contact:
            key = (customer_id, day.replace(day=1), tariff_id, actor, contact)
            mine = (occurred_at, pk, day, points)
            if key not in firsts or mine[:2] < firsts[key][:2]:
                firsts[key] = mine
    _upsert(
        cursor,
        _USAGE_DAY_UPSERT,
        [
            (customer_id, ops.adapt_datefield_value(day), tariff_id, actor, chats, points)
            for (customer_id, day, tariff_id, actor), (chats, points) in sorted(days.items())
        ],
    )
    _upsert(
        cursor,
        _CONTACT_MONTH_UPSERT,
        [
            (
                customer_id,
                ops.adapt_datefield_value(month),
                tariff_id,
                actor,
                contact,
                ops.adapt_datetimefield_value(first_at),
                ops.adapt_datefield_value(first_day),
                first_id,
                points,
            )
            for (customer_id, month, tariff_id, actor, contact), (
                first_at,
                first_id,
                first_day,
                points,
            ) in sorted(firsts.items())
        ],
    )


def summary_rebuild(*, customers: list[int] | None = None, month: Month | None = None) -> None:
    """Recompute the summary from the chats: of `customers` (else all), in `month` (else all
    months). Used after voiding, by the migration that created it and by the benchmarks."""
    tz = billing_tz()
    events = ChatEvent.objects.filter(voided_at__isnull=True)
    days = UsageDay.objects.all()
    contacts = ContactMonth.objects.all()
    if customers is not None:
        events = events.filter(customer_id__in=customers)
        days = days.filter(customer_id__in=customers)
        contacts = contacts.filter(customer_id__in=customers)
    if month is not None:
        start, end = month.bounds(tz)
        events = events.filter(occurred_at__gte=start, occurred_at__lt=end)
        days = days.filter(day__gte=month.first_day, day__lt=month.next().first_day)
        contacts = contacts.filter(month=month.first_day)
    per_contact = per_contact_tariff_ids()
    with transaction.atomic():
        days.delete()
        contacts.delete()
        per_day = (
            events.annotate(day=TruncDate("occurred_at", tzinfo=tz))
            .values("customer_id", "day", "tariff_id", "actor")
            .annotate(chats=Count("id"), total=Sum("points"))
            .order_by()
            .values_list("customer_id", "day", "tariff_id", "actor", "chats", "total")
        )
        batch = []
        for customer_id, day, tariff_id, actor, chats, total in per_day.iterator(5000):
            batch.append(
                UsageDay(
                    customer_id=customer_id,
                    day=day,
                    tariff_id=tariff_id,
                    actor=actor,
                    chats=chats,
                    points=total,
                )
            )
            if len(batch) == 5000:
                UsageDay.objects.bulk_create(batch)
                batch = []
        UsageDay.objects.bulk_create(batch)
        _rebuild_contacts(events.filter(tariff_id__in=per_contact), tz)


def _rebuild_contacts(events, tz) -> None:
    """Each contact's first chat of each month: the chats in (customer, tariff, actor, contact,
    time, id) order, the first of each (customer, month, tariff, actor, contact) kept."""
    batch = []
    last_key = None
    rows = events.order_by(
        "customer_id", "tariff_id", "actor", "contact", "occurred_at", "id"
    ).values_list("id", "customer_id", "tariff_id", "actor", "contact", "occurred_at", "points")
    firsts: dict[tuple, ContactMonth] = {}
    for pk, customer_id, tariff_id, actor, contact, occurred_at, points in rows.iterator(5000):
        day: date = occurred_at.astimezone(tz).date()
        key = (customer_id, day.replace(day=1), tariff_id, actor, contact)
        if key[:1] + key[2:] != last_key:
            # A new contact (all its months follow, oldest first): flush the previous one.
            batch.extend(firsts.values())
            firsts = {}
            last_key = key[:1] + key[2:]
            if len(batch) >= 5000:
                ContactMonth.objects.bulk_create(batch)
                batch = []
        if key not in firsts:
            firsts[key] = ContactMonth(
                customer_id=customer_id,
                month=key[1],
                tariff_id=tariff_id,
                actor=actor,
                contact=contact,
                first_at=occurred_at,
                first_day=day,
                first_id=pk,
                points=points,
            )
    batch.extend(firsts.values())
    ContactMonth.objects.bulk_create(batch)
