"""The month of the dealer's Chatpoint report: its usage, cost, days, projection and plan
comparison (MonthReport), read from the usage summary, or from the chats when the month's issued
invoice counts another set of chats.

Everything here reads; money comes from billing.pricing, priced as usage.selectors.month_pricing
says, the very terms and VAT the month's invoice is drawn from, so the report validates the
invoice (billing rule 10). Set-based: a fixed number of queries whatever the number of chats.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Max, Min, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.catalog.tariffs import per_contact_tariff_ids, tariffs_by_id
from billing.models import (
    ChatEvent,
    ContactMonth,
    Invoice,
    Plan,
    Subscription,
    Tariff,
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
    UsageRow,
    events_in_month,
    month_pricing,
    subscription_in_force,
    usage_from_rows,
)
from customers.models import Customer

PLANS_COMPARED = ("BASE", "GROW", "SCALE")
PROJECT_AFTER_SECONDS = 24 * 3600


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
    # How the month was read, for the chats' rows (billing.portal.chats.chat_rows): each engaged
    # contact's first chat when read from the chats, nothing when read from the summary.
    first_chats: dict[tuple, datetime] = field(repr=False, default_factory=dict)
    from_summary: bool = False  # read from billing.usage.summary (else from the chats themselves)


def month_report(
    *,
    customer: Customer,
    month: Month,
    now: datetime | None = None,
    tariffs: dict[int, Tariff] | None = None,
) -> MonthReport:
    """The whole report of a month but its list of chats (billing.portal.chats), priced with the
    tariff table `tariffs` (tariffs_by_id(), read here unless given)."""
    now = now or timezone.now()
    if tariffs is None:
        tariffs = tariffs_by_id()
    subscription = subscription_in_force(customer=customer, month=month)
    invoice = (
        Invoice.objects.issued()
        .filter(customer=customer, month=month.first_day)
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
        # another month, those its draft and invoice take (month_pricing, billing.vat).
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
    per_contact = per_contact_tariff_ids(tariffs=tariffs)
    lines: dict[tuple, _LineSums] = defaultdict(_LineSums)
    points = defaultdict(int)
    per_day = UsageDay.objects.filter(
        customer=customer, day__gte=month.first_day, day__lt=month.next().first_day
    ).values_list("tariff_id", "actor", "day", "chats", "points")
    for tariff_id, actor, day, chats, total in per_day:
        line = lines[tariff_id, actor]
        line.chats += chats
        line.chat_points += total
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
        line = lines[tariff_id, actor]
        line.unit_points = max(line.unit_points, unit)
        line.contacts += contacts
        points[day] += total
    return _reading(lines, points, tariffs, month, until, first_chats={}, from_summary=True)


@dataclass(slots=True)
class _LineSums:
    """A tariff and actor's sums while a month is read: a UsageRow once complete."""

    chats: int = 0
    unit_points: int = 0
    chat_points: int = 0
    contacts: int = 0


def _reading(lines, points, tariffs, month, until, **found) -> _MonthReading:
    """A reading from its sums: `lines` (tariff id, actor) -> _LineSums become the aggregate rows
    the invoice is priced from (UsageRow), then the same Usage (usage_from_rows); `points` per
    day the month's days."""
    rows = [
        UsageRow(
            tariff_id=tariff_id,
            actor=actor,
            chats=sums.chats,
            unit_points=sums.unit_points,
            chat_points=sums.chat_points,
            contacts=sums.contacts,
        )
        for (tariff_id, actor), sums in lines.items()
    ]
    return _MonthReading(
        usage=usage_from_rows(rows, tariffs), days=_days(points, month, until), **found
    )


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
    Summed per tariff and actor they are the rows the invoice is priced from (UsageRow: chats, MAX
    and SUM of points, distinct contacts), turned into a Usage by the same function.
    """
    tz = billing_tz()
    events = events_in_month(customer=customer, month=month)
    per_contact = per_contact_tariff_ids(tariffs=tariffs)
    lines: dict[tuple, _LineSums] = defaultdict(_LineSums)
    points = defaultdict(int)
    per_day = (
        events.annotate(day=TruncDate("occurred_at", tzinfo=tz))
        .values("tariff_id", "actor", "day")
        .annotate(chats=Count("id"), unit=Max("points"), total=Sum("points"))
        .order_by()
        .values_list("tariff_id", "actor", "day", "chats", "unit", "total")
    )
    for tariff_id, actor, day, chats, unit, total in per_day:
        line = lines[tariff_id, actor]
        line.chats += chats
        line.unit_points = max(line.unit_points, unit)
        line.chat_points += total
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
            lines[tariff_id, actor].contacts += 1
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
