"""Selectors of the dealer's pages: which customers and months a user may see, everything the
report page shows (report_page: the month, then a page of its chats, read as the month was) and
the invoices. The month itself is billing.portal.report's, its chats billing.portal.chats'.

Everything here reads; a fixed number of queries per page whatever the number of chats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet
from django.utils.functional import cached_property

from billing.models import Invoice, InvoiceStatus, Subscription, Tariff
from billing.months import Month, current_month
from billing.portal.chats import (
    CHAT_ROW_FIELDS,
    ChatFilter,
    ChatRow,
    chat_rows,
    filtered_totals,
    month_chats,
)
from billing.portal.report import MonthReport, month_report
from customers.models import Customer

CHATS_PER_PAGE = 50


# --- Which customers and months a user may see -------------------------------------------------


def portal_customers(user) -> QuerySet:
    """The customers whose report `user` may open: those given to them (CustomerAccess); staff who
    may view customers in the admin see every customer."""
    if not user.is_authenticated or not user.is_active:
        return Customer.objects.none()
    if user.is_staff and user.has_perm("customers.view_customer"):
        return Customer.objects.all()
    return Customer.objects.filter(accesses__user=user)


def report_months(*, customer: Customer, now: datetime | None = None) -> list[Month]:
    """The months a report exists for, newest first: from the customer's first subscription to
    the current month (the current month alone when there is no subscription yet)."""
    latest = current_month(now)
    first = (
        Subscription.objects.filter(customer=customer)
        .order_by("first_month")
        .values_list("first_month", flat=True)
        .first()
    )
    month = Month.of(first) if first else latest
    months = []
    while month <= latest:
        months.append(month)
        month = month.next()
    return months[::-1] or [latest]


# --- The report page ----------------------------------------------------------------------------


class _CountedPaginator(Paginator):
    """A paginator told its count (from the month's aggregate): no COUNT(*) over the chats."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self):
        return self._known_count


@dataclass(frozen=True)
class ReportPage:
    """What the report page shows: the month, and the page of its chats within the filter."""

    report: MonthReport
    page: Page  # of month_chats(...).values_list(*CHAT_ROW_FIELDS), newest first
    rows: list[ChatRow]  # the page's chats as the dealer sees them
    count: int  # chats within the filter
    filtered_points: int  # their points


def report_page(
    *,
    customer: Customer,
    month: Month,
    chat_filter: ChatFilter,
    page_number: str | int | None = None,
    now: datetime | None = None,
    tariffs: dict[int, Tariff] | None = None,
) -> ReportPage:
    """The report page of a month: the month (month_report), the chats within `chat_filter`
    counted from the month's aggregate, and the page `page_number` of them (newest first; an
    invalid number is the nearest page), each costing what it costs in the month."""
    report = month_report(customer=customer, month=month, now=now, tariffs=tariffs)
    count, filtered_points = filtered_totals(report, chat_filter)
    chats = month_chats(
        customer=customer, month=month, chat_filter=chat_filter, newest_first=True
    ).values_list(*CHAT_ROW_FIELDS)
    page = _CountedPaginator(chats, CHATS_PER_PAGE, count=count).get_page(page_number)
    return ReportPage(
        report=report,
        page=page,
        rows=chat_rows(report=report, page=list(page.object_list)),
        count=count,
        filtered_points=filtered_points,
    )


# --- Invoices -----------------------------------------------------------------------------------


def invoices_of(customer: Customer) -> QuerySet:
    """The customer's issued invoices and credit notes (cancelled ones too), newest first."""
    return (
        Invoice.objects.filter(customer=customer)
        .exclude(status=InvoiceStatus.DRAFT)
        .annotate(
            credited_number=F("credited_invoice__number"),
            credit_note_number=F("credit_note__number"),
        )
        .defer("pdf", "seller", "buyer", "usage")
        .order_by("-issued_at", "-id")
    )
