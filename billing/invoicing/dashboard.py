"""Selectors of the billing staff's dashboard (the admin's first page): the month in progress
against the quotas, the last month's close, receivables, chats needing attention, revenue of the
last twelve months by plan.

Everything here reads, set-based: a constant number of queries whatever the number of customers
and chats (tests/billing/test_dashboard.py counts them). Money comes from billing.pricing
(project_month, as the dealer's report) or is summed from the amounts issued invoices froze.

The usage alerts (billing.usage.alerts) and the payment reminders (billing.payments.reminders)
are counted from their own tables: one COUNT each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    Sum,
)
from django.db.models.functions import Cast, Round
from django.utils import timezone

from billing.models import (
    ChatEvent,
    EmailStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    PaymentReminder,
    Plan,
    Subscription,
    UsageAlert,
    UsageMonth,
)
from billing.months import Month, billing_tz, current_month
from billing.months import today as billing_today
from billing.pricing import CENT, PlanTerms, project_month
from billing.usage.heartbeat import SourceBeat, heartbeat_sources
from billing.usage.selectors import events_late_pending, subscriptions_in_force
from customers.models import Customer

NEAR_QUOTA = Decimal("0.8")  # a dealer is near its quota from 80 % of its included points on
PROJECT_AFTER_SECONDS = 24 * 3600  # as the dealer's report: a few hours say little of a month
AGING = ((1, 30), (31, 60), (61, None))  # days past due: 0-30 (from the day after), 31-60, > 60
REVENUE_MONTHS = 12
QUOTA_OVER, QUOTA_NEAR = "over", "near"
ZERO = Decimal("0.00")


def cents_sum(field: str, **options):
    """SUM of an amount as whole cents, exact on both databases. PostgreSQL sums numerics
    exactly: the sum is turned into cents once, not every row (twice as fast over the 60,000
    invoices of the bench). SQLite sums decimals as floats (1,000 × 598.80 gives
    598799.999999999): each amount is turned into whole cents first. Read back with
    `from_cents`."""
    if connection.vendor == "postgresql":
        return Cast(Sum(field, **options) * 100, BigIntegerField())
    return Sum(Cast(Round(F(field) * 100), BigIntegerField()), **options)


def from_cents(value: int | None) -> Decimal:
    return (Decimal(value or 0) / 100).quantize(CENT)


# --- the month in progress against the quotas -------------------------------------------------


def points_by_customer(*, month: Month) -> dict[int, int]:
    """Each customer's points of `month` from the usage summary (every chat not voided: a month
    not invoiced yet counts them all): the chats' points of tariffs charged per chat, plus one
    contact's points per engaged contact. One query.

    Read from UsageMonth, the summary summed per customer and month by the database (migrations
    0016 and 0018): one row a dealer, where the month's days and contacts are 200 times more."""
    rows = UsageMonth.objects.filter(month=month.first_day).values_list(
        "customer_id", "points", "contact_points"
    )
    return {customer_id: int(points + contacts) for customer_id, points, contacts in rows}


@dataclass(frozen=True)
class DealerQuota:
    customer_id: int
    points: int
    included: int
    state: str  # QUOTA_OVER, QUOTA_NEAR or ""
    projected_overage_amount: Decimal | None


def dealer_quotas(*, month: Month, now: datetime | None = None) -> list[DealerQuota]:
    """Every dealer with a plan in force in `month`: points so far, included points, over or
    near the quota, and (from the month's second day) the extra points' amount the month is
    heading to at its pace (billing.pricing.project_month, as the dealer's report). A dealer
    whose pace stays within its quota heads to no extra points: priced only when it does not."""
    now = now or timezone.now()
    points = points_by_customer(month=month)
    start, end = month.bounds(billing_tz())
    elapsed = int((min(max(now, start), end) - start).total_seconds())
    length = int((end - start).total_seconds())
    project = elapsed >= PROJECT_AFTER_SECONDS
    quotas = []
    # Plain rows, not model instances: 5,000 subscriptions read in a few milliseconds; the plan
    # terms (billing.pricing.PlanTerms, as Subscription.terms()) are built only for a dealer
    # whose pace goes beyond its quota.
    rows = (
        subscriptions_in_force(month=month)
        .order_by("customer_id")
        .values_list(
            "customer_id",
            "plan__code",
            "plan__is_custom",
            "plan__monthly_fee",
            "plan__included_points",
            "plan__price_per_extra_point",
            "custom_monthly_fee",
            "custom_included_points",
            "custom_price_per_extra_point",
        )
    )
    plan_terms: dict[tuple, PlanTerms] = {}  # built once per distinct terms, not per dealer
    for customer_id, code, is_custom, *terms_values in rows:
        fee, included, price = terms_values[3:] if is_custom else terms_values[:3]
        used = points.get(customer_id, 0)
        state = ""
        if used > included:
            state = QUOTA_OVER
        elif included and used >= NEAR_QUOTA * included:
            state = QUOTA_NEAR
        amount = None
        if project:
            # Whole numbers: the pace's points (before rounding) stay within the quota.
            if 2 * used * length <= (2 * included + 1) * elapsed:
                amount = ZERO
            else:
                key = (code, fee, included, price)
                terms = plan_terms.get(key)
                if terms is None:
                    terms = plan_terms[key] = PlanTerms(
                        plan=code,
                        monthly_fee=fee,
                        included_points=included,
                        price_per_extra_point=price,
                    )
                amount = project_month(
                    terms=terms, points_so_far=used, elapsed=elapsed, length=length
                ).overage_amount
        quotas.append(DealerQuota(customer_id, used, included, state, amount))
    return quotas


def customers_in_quota_state(*, state: str, month: Month | None = None) -> list[int]:
    """The ids of the dealers over (QUOTA_OVER) or near (QUOTA_NEAR) their quota in `month`
    (the month in progress by default): the admin's customer list filter behind the figures."""
    month = month or current_month()
    return [quota.customer_id for quota in dealer_quotas(month=month) if quota.state == state]


@dataclass(frozen=True)
class QuotaFigures:
    month: Month
    dealers: int  # with a plan in force
    points_used: int
    points_included: int
    over: int
    near: int
    projected_overage_amount: Decimal | None  # None before the month's second day
    alerts_sent: int = 0  # dealers told by a usage alert this month (any threshold)

    @property
    def percent_used(self) -> int | None:
        if not self.points_included:
            return None
        return round(100 * self.points_used / self.points_included)


def quota_figures(*, month: Month, now: datetime | None = None) -> QuotaFigures:
    quotas = dealer_quotas(month=month, now=now)
    projected = None
    if quotas and quotas[0].projected_overage_amount is not None:
        projected = sum((quota.projected_overage_amount for quota in quotas), ZERO)
    return QuotaFigures(
        month=month,
        dealers=len(quotas),
        points_used=sum(quota.points for quota in quotas),
        points_included=sum(quota.included for quota in quotas),
        over=sum(1 for quota in quotas if quota.state == QUOTA_OVER),
        near=sum(1 for quota in quotas if quota.state == QUOTA_NEAR),
        projected_overage_amount=projected,
        alerts_sent=UsageAlert.objects.filter(month=month.first_day)
        .values("customer_id")
        .distinct()
        .count(),
    )


# --- the last month's close ---------------------------------------------------------------------


@dataclass(frozen=True)
class MonthClose:
    month: Month
    drafts: int
    drafts_net_total: Decimal
    issued: int
    not_drafted: int  # dealers with a plan in force that month and no invoice yet


def month_close_figures(*, month: Month) -> MonthClose:
    """Two queries: the month's invoices by status, and the dealers with no invoice."""
    invoices = Invoice.objects.filter(month=month.first_day, kind=InvoiceKind.INVOICE).aggregate(
        drafts=Count("pk", filter=Q(status=InvoiceStatus.DRAFT)),
        drafts_net=cents_sum("net_total", filter=Q(status=InvoiceStatus.DRAFT)),
        issued=Count("pk", filter=Q(status=InvoiceStatus.ISSUED)),
    )
    invoiced = Invoice.objects.filter(
        customer_id=OuterRef("customer_id"),
        month=month.first_day,
        kind=InvoiceKind.INVOICE,
        status__in=[InvoiceStatus.DRAFT, InvoiceStatus.ISSUED],
    )
    not_drafted = subscriptions_in_force(month=month).filter(~Exists(invoiced)).count()
    return MonthClose(
        month=month,
        drafts=invoices["drafts"],
        drafts_net_total=from_cents(invoices["drafts_net"]),
        issued=invoices["issued"],
        not_drafted=not_drafted,
    )


# --- receivables ----------------------------------------------------------------------------------

PAYMENT_STATES = ("paid", "due", "overdue", "overdue_1_30", "overdue_31_60", "overdue_61")


def receivables_filter(state: str, today: date) -> Q:
    """The condition on issued invoices (not cancelled) of a payment state: paid, due (not yet
    past its due date), overdue, or overdue by 0-30, 31-60, more than 60 days. The dashboard's
    figures and the invoice list's filter both use it, so the list shows what the figure counts."""
    unpaid = Q(paid_on__isnull=True)
    if state == "paid":
        return Q(paid_on__isnull=False)
    if state == "due":
        return unpaid & Q(due_date__gte=today)
    if state == "overdue":
        return unpaid & Q(due_date__lt=today)
    for low, high in AGING:
        if state == f"overdue_{low}" + (f"_{high}" if high else ""):
            condition = unpaid & Q(due_date__lte=today - timedelta(days=low))
            if high is not None:
                condition &= Q(due_date__gte=today - timedelta(days=high))
            return condition
    raise ValueError(f"unknown payment state {state!r}")


def receivable_invoices():
    """Issued invoices that are not cancelled: what customers owe or have paid."""
    return Invoice.objects.issued()


@dataclass(frozen=True)
class Amount:
    count: int
    amount: Decimal


@dataclass(frozen=True)
class Receivables:
    today: date
    issued: Amount
    states: dict[str, Amount]  # by PAYMENT_STATES
    failed_emails: int
    reminders_sent: int = 0  # payment reminders sent this month


def receivables(*, today: date | None = None) -> Receivables:
    """One aggregate over the issued invoices (totals incl. VAT), and the failed e-mails."""
    today = today or billing_today()
    # Counted by `total` (never null), not by id: PostgreSQL then answers from the
    # invoice_receivable index alone (migration 0016), without reading the invoices' wide rows.
    aggregates = {"issued_n": Count("total"), "issued_sum": cents_sum("total")}
    for state in PAYMENT_STATES:
        condition = receivables_filter(state, today)
        aggregates[f"{state}_n"] = Count("total", filter=condition)
        aggregates[f"{state}_sum"] = cents_sum("total", filter=condition)
    values = receivable_invoices().aggregate(**aggregates)
    failed = (
        Invoice.objects.exclude(status=InvoiceStatus.DRAFT)
        .filter(email_status=EmailStatus.FAILED)
        .count()
    )
    return Receivables(
        today=today,
        issued=Amount(values["issued_n"], from_cents(values["issued_sum"])),
        states={
            s: Amount(values[f"{s}_n"], from_cents(values[f"{s}_sum"])) for s in PAYMENT_STATES
        },
        failed_emails=failed,
        reminders_sent=PaymentReminder.objects.filter(
            sent_on__gte=today.replace(day=1), sent_on__lte=today
        ).count(),
    )


# --- chats needing attention -------------------------------------------------------------------


@dataclass(frozen=True)
class Attention:
    month: Month
    unbilled: dict[Month, int]  # chats not voided with no plan in force, this month and last
    late: int  # late chats no issued invoice counts yet (any month)
    voided: int  # chats voided this month (by the time they were voided)


def unbilled_chats(*, months: list[Month]) -> dict[Month, int]:
    """Chats not voided of each of `months` whose customer has no plan in force that month, from
    the usage summary: the customers with none first (a small query), then their month totals
    (UsageMonth), one query per month that has any."""
    counts = {}
    for month in months:
        first = month.first_day
        covering = Subscription.objects.filter(
            customer=OuterRef("pk"), first_month__lte=first
        ).filter(Q(last_month__isnull=True) | Q(last_month__gte=first))
        uncovered = list(Customer.objects.filter(~Exists(covering)).values_list("pk", flat=True))
        total = 0
        if uncovered:
            total = UsageMonth.objects.filter(customer_id__in=uncovered, month=first).aggregate(
                chats=Sum("chats")
            )["chats"]
        counts[month] = int(total or 0)
    return counts


def voided_in(*, month: Month):
    start, end = month.bounds(billing_tz())
    return ChatEvent.objects.filter(voided_at__gte=start, voided_at__lt=end)


def attention_figures(*, month: Month) -> Attention:
    return Attention(
        month=month,
        unbilled=unbilled_chats(months=[month.previous(), month]),
        late=events_late_pending(ChatEvent.objects.filter(voided_at__isnull=True)).count(),
        voided=voided_in(month=month).count(),
    )


# --- revenue of the last twelve months by plan ---------------------------------------------------


@dataclass(frozen=True)
class RevenueMonth:
    month: Month
    by_plan: dict[str, Decimal]  # plan code -> net revenue (invoices less credit notes)

    @property
    def total(self) -> Decimal:
        return sum(self.by_plan.values(), ZERO)


@dataclass(frozen=True)
class Revenue:
    months: list[RevenueMonth]
    plans: list[tuple[str, str]] = field(default_factory=list)  # (code, name), the plans' order

    @property
    def total(self) -> Decimal:
        return sum((month.total for month in self.months), ZERO)


OTHER_PLAN = ""  # a plan name no plan has any more


def revenue_by_plan(*, month: Month, count: int = REVENUE_MONTHS) -> Revenue:
    """Net revenue (excl. VAT) of the `count` months before `month`, by service month and plan:
    the issued invoices (cancelled ones too) plus their credit notes (negative), so a cancelled
    invoice counts nothing. An invoice keeps its plan's name in its own language: the plan is
    found by either name. Two queries."""
    months = []
    cursor = month
    for _index in range(count):
        cursor = cursor.previous()
        months.append(cursor)
    months.reverse()
    plans = list(Plan.objects.order_by("is_custom", "monthly_fee", "code"))
    code_of = {}
    for plan in plans:
        code_of[plan.name_fr] = plan.code
        code_of[plan.name_en] = plan.code
    rows = (
        Invoice.objects.exclude(status=InvoiceStatus.DRAFT)
        .filter(month__gte=months[0].first_day, month__lt=month.first_day)
        .values("month", "plan_name")
        .annotate(net=cents_sum("net_total"))
        .order_by()
        .values_list("month", "plan_name", "net")
    )
    sums: dict[tuple[date, str], Decimal] = {}
    for first_day, plan_name, net in rows:
        key = (first_day, code_of.get(plan_name, OTHER_PLAN))
        sums[key] = sums.get(key, ZERO) + from_cents(net)
    used = {code for _day, code in sums}
    names = [(plan.code, plan.name) for plan in plans if plan.code in used]
    if OTHER_PLAN in used:
        names.append((OTHER_PLAN, ""))
    return Revenue(
        months=[
            RevenueMonth(m, {code: sums.get((m.first_day, code), ZERO) for code, _n in names})
            for m in months
        ],
        plans=names,
    )


# --- the whole page -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    quota: QuotaFigures
    close: MonthClose
    receivables: Receivables
    attention: Attention
    revenue: Revenue
    heartbeat: list[SourceBeat]


def dashboard_figures(*, now: datetime | None = None) -> Dashboard:
    """Every figure of the dashboard: a constant number of queries (about fifteen)."""
    now = now or timezone.now()
    month = current_month(now)
    return Dashboard(
        now=now,
        quota=quota_figures(month=month, now=now),
        close=month_close_figures(month=month.previous()),
        receivables=receivables(today=billing_today(now)),
        attention=attention_figures(month=month),
        revenue=revenue_by_plan(month=month),
        heartbeat=heartbeat_sources(now=now),
    )
