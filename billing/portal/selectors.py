"""Selectors of the dealer's monthly Chatpoint report: what the page, the chart and the CSV show.

Everything here reads; money comes from billing.pricing through usage.month_statement, the very
statement the month's invoice is drawn from, so the report validates the invoice (billing rule
10). Set-based: a fixed number of queries per page whatever the number of chats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, F, Max, Min, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import (
    ChatEvent,
    ContactMonth,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Plan,
    Subscription,
    Tariff,
    Unit,
    UsageDay,
)
from billing.months import Month, billing_tz, current_month
from billing.pricing import (
    PlanTerms,
    Projection,
    Statement,
    Usage,
    compare_plans,
    price_month,
    project_month,
)
from billing.usage.selectors import (
    events_in_month,
    month_pricing,
    subscription_in_force,
    usage_from_rows,
)
from customers.models import Customer

PLANS_COMPARED = ("BASE", "GROW", "SCALE")
PROJECT_AFTER_SECONDS = 24 * 3600


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


# --- The month ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanOption:
    """One line of "what this month would cost on each plan"."""

    code: str
    name: str
    statement: Statement
    cheapest: bool
    current: bool


@dataclass(frozen=True)
class Day:
    day: date
    points: int  # points charged for chats of that day (an engaged contact on its first chat)
    cumulative: int


@dataclass(frozen=True)
class MonthReport:
    customer: Customer
    month: Month
    is_current: bool
    subscription: Subscription | None
    plan_name: str
    statement: Statement | None  # None: no plan in force this month
    usage_lines: tuple
    chats: int
    points_used: int
    engaged_contacts: int
    projection: Projection | None
    days: tuple[Day, ...]
    plans: tuple[PlanOption, ...]
    invoice: Invoice | None  # the month's issued invoice, if any
    tariffs: dict[int, Tariff] = field(repr=False)
    first_chats: dict[tuple, datetime] = field(repr=False, default_factory=dict)
    from_summary: bool = False  # read from billing.usage.summary (else from the chats themselves)


def month_report(*, customer: Customer, month: Month, now: datetime | None = None) -> MonthReport:
    """The whole report of a month but its list of chats (see month_chats)."""
    now = now or timezone.now()
    tariffs = {tariff.id: tariff for tariff in Tariff.objects.all()}
    subscription = subscription_in_force(customer=customer, month=month)
    invoice = (
        Invoice.objects.filter(
            customer=customer,
            month=month.first_day,
            kind=InvoiceKind.INVOICE,
            status=InvoiceStatus.ISSUED,
        )
        .defer("pdf", "seller", "buyer", "usage")
        .first()
    )
    if _summary_counts_the_month(customer=customer, month=month, invoice=invoice):
        reading = _read_summary(customer=customer, month=month, tariffs=tariffs, until=now)
    else:
        reading = _read_month(customer=customer, month=month, tariffs=tariffs, until=now)
    usage = reading.usage
    statement = None
    projection = None
    is_current = month == current_month(now)
    plan_name = subscription.plan.name if subscription else ""
    vat = None
    if subscription is not None:
        # An invoiced month shows the terms and VAT the invoice froze, whatever happened since;
        # another month, those its draft and invoice take (usage.month_pricing, billing.vat).
        terms, vat = month_pricing(customer=customer, subscription=subscription, invoice=invoice)
        statement = price_month(terms=terms, usage=usage, vat=vat)
        start, end = month.bounds(billing_tz())
        elapsed = int((min(now, end) - start).total_seconds())
        # From the second day on: a few hours say little about a month's pace.
        if is_current and elapsed >= PROJECT_AFTER_SECONDS:
            projection = project_month(
                terms=terms,
                points_so_far=usage.points,
                elapsed=elapsed,
                length=int((end - start).total_seconds()),
            )
    plans = _plan_options(
        customer=customer,
        usage=usage,
        subscription=subscription,
        terms=statement.terms if statement else None,
        vat=vat or customer.vat_decision(),
    )
    return MonthReport(
        customer=customer,
        month=month,
        is_current=is_current,
        subscription=subscription,
        plan_name=plan_name,
        statement=statement,
        usage_lines=usage.lines,
        chats=usage.chats,
        points_used=usage.points,
        engaged_contacts=usage.engaged_contacts,
        projection=projection,
        days=reading.days,
        first_chats=reading.first_chats,
        from_summary=reading.from_summary,
        plans=plans,
        invoice=invoice,
        tariffs=tariffs,
    )


def _per_contact(tariffs: dict[int, Tariff]) -> list[int]:
    return [pk for pk, tariff in tariffs.items() if tariff.unit == Unit.CONTACT_MONTH]


@dataclass(frozen=True)
class _MonthReading:
    usage: Usage
    days: tuple[Day, ...]
    first_chats: dict[tuple, datetime]  # (tariff id, actor, contact) -> its first chat's time
    from_summary: bool = False


def _summary_counts_the_month(*, customer: Customer, month: Month, invoice) -> bool:
    """Whether the summary (every chat not voided) is the set of chats the month counts: always,
    unless the month's issued invoice counts another one (events_in_month): chats received
    after it (late) or voided since. Two lookups on partial indexes."""
    if invoice is None:
        return True
    start, end = month.bounds(billing_tz())
    chats = ChatEvent.objects.filter(customer=customer, occurred_at__gte=start, occurred_at__lt=end)
    late = chats.filter(late=True, voided_at__isnull=True, received_at__gt=invoice.issued_at)
    voided_since = chats.filter(voided_at__gt=invoice.issued_at)
    return not late.exists() and not voided_since.exists()


def _read_summary(
    *, customer: Customer, month: Month, tariffs: dict[int, Tariff], until: datetime
) -> _MonthReading:
    """The month's usage and points per day from billing.usage.summary: a row per day, tariff and
    actor, and a row per first day, tariff and actor for the engaged contacts. The same rows
    as _read_month's scans, summed as the chats arrived."""
    per_contact = set(_per_contact(tariffs))
    lines: dict[tuple, list[int]] = {}
    points = defaultdict(int)
    per_day = UsageDay.objects.filter(
        customer=customer, day__gte=month.first_day, day__lt=month.next().first_day
    ).values_list("tariff_id", "actor", "day", "chats", "points")
    for tariff_id, actor, day, chats, total in per_day:
        line = lines.setdefault((tariff_id, actor), [0, 0, 0, 0])
        line[0] += chats
        line[2] += total
        if tariff_id not in per_contact:
            points[day] += total
    contact_days = (
        ContactMonth.objects.filter(customer=customer, month=month.first_day)
        .values("tariff_id", "actor", "first_day")
        .annotate(contacts=Count("id"), unit=Max("points"), total=Sum("points"))
        .order_by()
        .values_list("tariff_id", "actor", "first_day", "contacts", "unit", "total")
    )
    for tariff_id, actor, day, contacts, unit, total in contact_days:
        line = lines.setdefault((tariff_id, actor), [0, 0, 0, 0])
        line[1] = max(line[1], unit)
        line[3] += contacts
        points[day] += total
    return _reading(lines, points, tariffs, month, until, first_chats={}, from_summary=True)


def _reading(lines, points, tariffs, month, until, **found) -> _MonthReading:
    """A reading from its sums: `lines` (tariff id, actor) -> [chats, points of one contact,
    points of the chats, contacts] become the Usage the invoice's rows would (usage_from_rows),
    `points` per day the month's days."""
    usage = usage_from_rows(
        [(tariff_id, actor, *values) for (tariff_id, actor), values in lines.items()], tariffs
    )
    return _MonthReading(usage=usage, days=_days(points, month, until), **found)


def _days(points: dict[date, int], month: Month, until: datetime) -> tuple[Day, ...]:
    """Each day of the month up to `until` with its points and the month's points so far."""
    tz = billing_tz()
    start, end = month.bounds(tz)
    last = min(end - timedelta(seconds=1), max(until, start)).astimezone(tz).date()
    days = []
    cumulative = 0
    day = month.first_day
    while day <= last:
        cumulative += points.get(day, 0)
        days.append(Day(day=day, points=points.get(day, 0), cumulative=cumulative))
        day += timedelta(days=1)
    return tuple(days)


def _read_month(
    *, customer: Customer, month: Month, tariffs: dict[int, Tariff], until: datetime
) -> _MonthReading:
    """The month's usage and its points per day in two scans of the month's chats (those that
    count: events_in_month, as the invoice).

    1. chats, points and a chat's points per tariff, actor and day (billing time zone);
    2. for tariffs charged per engaged contact, each contact's first chat of the month (it
       costs the contact's points, on its day).
    Summed per tariff and actor they are the rows the invoice is priced from (usage._aggregate:
    chats, MAX and SUM of points, distinct contacts), turned into a Usage by the same function.
    """
    tz = billing_tz()
    events = events_in_month(customer=customer, month=month)
    per_contact = _per_contact(tariffs)
    lines: dict[tuple, list[int]] = {}
    points = defaultdict(int)
    per_day = (
        events.annotate(day=TruncDate("occurred_at", tzinfo=tz))
        .values("tariff_id", "actor", "day")
        .annotate(chats=Count("id"), unit=Max("points"), total=Sum("points"))
        .order_by()
        .values_list("tariff_id", "actor", "day", "chats", "unit", "total")
    )
    for tariff_id, actor, day, chats, unit, total in per_day:
        line = lines.setdefault((tariff_id, actor), [0, 0, 0, 0])
        line[0] += chats
        line[1] = max(line[1], unit)
        line[2] += total
        if tariff_id not in per_contact:
            points[day] += total
    first_chats = {}
    if per_contact and any(key[0] in per_contact for key in lines):
        firsts = (
            events.filter(tariff_id__in=per_contact)
            .values("tariff_id", "actor", "contact")
            .annotate(first=Min("occurred_at"), unit=Max("points"))
            .annotate(day=TruncDate("first", tzinfo=tz))
            .order_by()
            .values_list("tariff_id", "actor", "contact", "first", "day", "unit")
        )
        for tariff_id, actor, contact, first, day, unit in firsts:
            first_chats[(tariff_id, actor, contact)] = first
            lines[(tariff_id, actor)][3] += 1
            points[day] += unit
    return _reading(lines, points, tariffs, month, until, first_chats=first_chats)


def _plan_options(*, customer, usage, subscription, terms, vat) -> tuple[PlanOption, ...]:
    """The month priced on BASE, GROW and SCALE, and on the customer's own ENTERPRISE terms (those
    in force this month, else of their latest ENTERPRISE subscription), cheapest first. The plan
    in force is priced at `terms`, the month's (an invoiced month's are those it froze), every
    plan with the month's VAT decision `vat`."""
    options: dict[str, tuple[str, PlanTerms]] = {}
    for plan in Plan.objects.filter(code__in=PLANS_COMPARED, is_custom=False):
        options[plan.code] = (
            plan.name,
            PlanTerms(
                plan=plan.code,
                monthly_fee=plan.monthly_fee,
                included_points=plan.included_points,
                price_per_extra_point=plan.price_per_extra_point,
            ),
        )
    own = subscription
    if own is None or not own.plan.is_custom:
        own = (
            Subscription.objects.select_related("plan")
            .filter(customer=customer, plan__is_custom=True)
            .order_by("-first_month")
            .first()
        )
    if own is not None and own.plan.is_custom:
        options[own.plan.code] = (own.plan.name, own.terms())
    if subscription is not None and terms is not None:
        options[subscription.plan.code] = (subscription.plan.name, terms)
    statements = compare_plans(
        options=[terms for _, terms in options.values()], usage=usage, vat=vat
    )
    if not statements:
        return ()
    cheapest = statements[0].net_total
    current = subscription.plan.code if subscription else None
    return tuple(
        PlanOption(
            code=statement.plan,
            name=options[statement.plan][0],
            statement=statement,
            cheapest=statement.net_total == cheapest,
            current=statement.plan == current,
        )
        for statement in statements
    )


# --- The chats ----------------------------------------------------------------------------------


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


def chat_rows(
    *,
    customer: Customer,
    month: Month,
    page: list[tuple],
    tariffs: dict[int, Tariff],
    first_chats: dict[tuple, datetime],
    from_summary: bool = False,
) -> list[ChatRow]:
    """A page of `month_chats(...).values_list(*CHAT_ROW_FIELDS)` as ChatRows, in either order.

    A chat charged per engaged contact costs the contact's points when it is the contact's
    first chat of the month: the earliest, the smallest id among chats of the same moment
    (whatever page it is on: the page's order decides nothing).
    `first_chats` (from month_report) gives each contact's first moment; one small query (by
    the month index) settles the page's chats that happened at such a moment."""
    per_contact = set(_per_contact(tariffs))
    if from_summary:
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
        tz = billing_tz()
        return [_row(values, tariffs, first_ids, tz) for values in page]
    candidates = {}
    for row in page:
        key = (row[2], row[3], row[4])
        if row[2] in per_contact and first_chats.get(key) == row[1]:
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
    tz = billing_tz()
    return [_row(values, tariffs, first_ids, tz) for values in page]


CHAT_ROW_FIELDS = (*_ROW_FIELDS, "external_id")


def chat_rows_streamed(
    *, chats: QuerySet, tariffs: dict[int, Tariff], chunk_size: int = 2000
) -> Iterator[ChatRow]:
    """Every chat of `chats` (month_chats) as ChatRows, read in chunks (a server-side cursor on
    PostgreSQL): memory does not grow with the number of chats. The contacts already engaged
    this month are remembered (one small key per contact, not per chat)."""
    per_contact = set(_per_contact(tariffs))
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
