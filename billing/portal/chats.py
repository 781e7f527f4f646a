"""The chats of a month in the dealer's report: the list's filter, the month's chats as a
QuerySet to page (month_chats), and each chat as the dealer sees it (ChatRow: the points it
costs in the month), for a page (chat_rows) or streamed for the CSV (chat_rows_streamed).

Everything here reads, set-based: a page costs a fixed number of queries, the CSV constant
memory whatever the number of chats.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from billing.catalog.tariffs import per_contact_tariff_ids
from billing.models import ContactMonth, Tariff, Unit
from billing.months import Month, billing_tz
from billing.portal.report import MonthReport
from billing.usage.selectors import events_in_month
from customers.models import Customer


@dataclass(frozen=True)
class ChatFilter:
    category: str = ""
    tariff: str = ""  # a tariff code
    actor: str = ""

    def matches(self, line) -> bool:
        """Whether a usage line (tariff, category, actor) is within the filter."""
        return (
            (not self.category or line.category == self.category)
            and (not self.tariff or line.tariff == self.tariff)
            and (not self.actor or line.actor == self.actor)
        )


def month_chats(
    *, customer: Customer, month: Month, chat_filter: ChatFilter, newest_first: bool = False
) -> QuerySet:
    """The chats the month counts within the filter (a QuerySet to page), oldest first, or
    newest first as the report's list shows them (dealers look for their latest chats). Either
    way a total order, the chats' time then their id, read along the customer-and-time index:
    pages neither skip nor repeat a chat. The order changes no chat's points (chat_rows).

    The CSV stays oldest first: a record of the month to sort in a spreadsheet, read from its
    first day, whose stream charges each contact on the first of its chats it meets
    (chat_rows_streamed), in constant memory."""
    events = events_in_month(customer=customer, month=month)
    if chat_filter.category:
        events = events.filter(tariff__category=chat_filter.category)
    if chat_filter.tariff:
        events = events.filter(tariff__code=chat_filter.tariff)
    if chat_filter.actor:
        events = events.filter(actor=chat_filter.actor)
    if newest_first:
        return events.order_by("-occurred_at", "-id")
    return events.order_by("occurred_at", "id")


@dataclass(frozen=True)
class ChatRow:
    """One charged chat as the dealer sees it: its points are those it costs in the month (a
    chat with a contact already engaged this month costs nothing more)."""

    occurred_at: datetime  # in the billing time zone
    tariff: Tariff
    actor: str
    contact: str
    points: int
    source: str
    external_id: str
    contact_already_counted: bool


def _row(values, tariffs, first_ids, tz) -> ChatRow:
    pk, occurred_at, tariff_id, actor, contact, points, source, external_id = values
    tariff = tariffs[tariff_id]
    repeated = tariff.unit == Unit.CONTACT_MONTH and pk not in first_ids
    return ChatRow(
        occurred_at=occurred_at.astimezone(tz),
        tariff=tariff,
        actor=actor,
        contact=contact,
        points=0 if repeated else points,
        source=source,
        external_id=external_id,
        contact_already_counted=repeated,
    )


_ROW_FIELDS = ("id", "occurred_at", "tariff_id", "actor", "contact", "points", "source")


def chat_rows(*, report: MonthReport, page: list[tuple]) -> list[ChatRow]:
    """A page of `month_chats(...).values_list(*CHAT_ROW_FIELDS)` as ChatRows, in either order,
    for the month of `report` (month_report), read as the report read it.

    A chat charged per engaged contact costs the contact's points when it is the contact's
    first chat of the month: the earliest, the smallest id among chats of the same moment
    (whatever page it is on: the page's order decides nothing). Read from the summary, the
    contacts' first chats are looked up (one small query); read from the chats, the report knows
    each contact's first moment, and one small query (by the month index) settles the page's
    chats that happened at such a moment."""
    customer, month, tariffs = report.customer, report.month, report.tariffs
    per_contact = per_contact_tariff_ids(tariffs=tariffs)
    tz = billing_tz()
    if report.from_summary:
        contacts = {row[4] for row in page if row[2] in per_contact}
        first_ids = (
            set(
                ContactMonth.objects.filter(
                    customer=customer, month=month.first_day, contact__in=contacts
                ).values_list("first_id", flat=True)
            )
            if contacts
            else set()
        )
        return [_row(values, tariffs, first_ids, tz) for values in page]
    candidates = {}
    for row in page:
        key = (row[2], row[3], row[4])
        if row[2] in per_contact and report.first_chats.get(key) == row[1]:
            candidates[key] = row[1]
    first_ids = set()
    if candidates:
        same_moment = (
            events_in_month(customer=customer, month=month)
            .filter(
                occurred_at__in=set(candidates.values()),
                tariff_id__in={key[0] for key in candidates},
                contact__in={key[2] for key in candidates},
            )
            .order_by("occurred_at", "id")
            .values_list("id", "tariff_id", "actor", "contact", "occurred_at")
        )
        settled = set()
        for pk, tariff_id, actor, contact, occurred_at in same_moment:
            key = (tariff_id, actor, contact)
            if candidates.get(key) == occurred_at and key not in settled:
                settled.add(key)
                first_ids.add(pk)
    return [_row(values, tariffs, first_ids, tz) for values in page]


CHAT_ROW_FIELDS = (*_ROW_FIELDS, "external_id")


def chat_rows_streamed(
    *, chats: QuerySet, tariffs: dict[int, Tariff], chunk_size: int = 2000
) -> Iterator[ChatRow]:
    """Every chat of `chats` (month_chats) as ChatRows, read in chunks (a server-side cursor on
    PostgreSQL): memory does not grow with the number of chats. The contacts already engaged
    this month are remembered (one small key per contact, not per chat)."""
    per_contact = per_contact_tariff_ids(tariffs=tariffs)
    seen: set[tuple] = set()
    tz = billing_tz()
    for values in chats.values_list(*CHAT_ROW_FIELDS).iterator(chunk_size=chunk_size):
        pk, _, tariff_id, actor, contact = values[:5]
        first_ids = ()
        if tariff_id in per_contact:
            key = (tariff_id, actor, contact)
            if key not in seen:
                seen.add(key)
                first_ids = (pk,)
        yield _row(values, tariffs, first_ids, tz)


def filtered_totals(report: MonthReport, chat_filter: ChatFilter) -> tuple[int, int]:
    """Chats and points of the usage lines within the filter (the list's count and total, from
    the month's aggregate: no COUNT query over the chats)."""
    lines = [line for line in report.usage_lines if chat_filter.matches(line)]
    return sum(line.chats for line in lines), sum(line.points for line in lines)
