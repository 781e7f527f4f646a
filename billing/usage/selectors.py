"""Selectors: read a month of usage and the plan in force (set-based: one aggregate per month)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import connections
from django.db.models import (
    Count,
    DateField,
    DateTimeField,
    Exists,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils.translation import gettext as _

from billing.catalog.tariffs import per_contact_tariff_ids, tariffs_by_id
from billing.errors import NoPlanInForce
from billing.models import (
    Category,
    ChatEvent,
    Invoice,
    Subscription,
    Tariff,
    Unit,
)
from billing.months import Month, billing_tz
from billing.pricing import (
    LINE_OVERAGE,
    LINE_PLAN_FEE,
    PlanTerms,
    Statement,
    Usage,
    UsageLine,
    price_month,
)
from billing.vat import STANDARD, VatDecision
from customers.models import Customer

_CATEGORY_ORDER = {value: index for index, value in enumerate(Category.values)}


def subscriptions_in_force(*, month: Month) -> QuerySet:
    """The subscriptions in force in `month` (at most one per customer), with their plan."""
    first = month.first_day
    return (
        Subscription.objects.select_related("plan")
        .filter(first_month__lte=first)
        .filter(Q(last_month__isnull=True) | Q(last_month__gte=first))
    )


def subscription_in_force(*, customer: Customer, month: Month) -> Subscription | None:
    return subscriptions_in_force(month=month).filter(customer=customer).first()


def _with_billing_month(events: QuerySet) -> QuerySet:
    """The events annotated with `billing_month`: the first day of their month (billing tz)."""
    return events.annotate(
        billing_month=TruncMonth("occurred_at", output_field=DateField(), tzinfo=billing_tz())
    )


def _issued(*, customer: Customer, month: Month) -> QuerySet:
    """The month's issued invoice (at most one), as a QuerySet to use in a subquery."""
    return Invoice.objects.issued().filter(customer=customer, month=month.first_day)


# Later than any chat: the cut-off of a month with no issued invoice.
_NEVER = datetime(9999, 12, 31, tzinfo=UTC)


def events_in_month(*, customer: Customer, month: Month):
    """The customer's chats that count in a billing month (bounds in the billing time zone).

    While the month's invoice is issued, they are the chats that invoice counted: received by the
    time it was issued and not voided before. Late chats, and chats voided since, change nothing
    until a credit note cancels the invoice and the month is billed again (billing rules 8, 9).
    Otherwise every chat not voided counts. The invoice's date is a subquery: still one query.
    """
    start, end = month.bounds(billing_tz())
    issued_at = _issued(customer=customer, month=month).order_by().values("issued_at")[:1]
    cutoff = Coalesce(Subquery(issued_at), Value(_NEVER), output_field=DateTimeField())
    return ChatEvent.objects.filter(
        Q(voided_at__isnull=True) | Q(voided_at__gt=cutoff),
        customer=customer,
        occurred_at__gte=start,
        occurred_at__lt=end,
        received_at__lte=cutoff,
    )


def events_unbilled(events: QuerySet) -> QuerySet:
    """The chats among `events` whose customer has no plan in force in their billing month.

    They are stored (nothing is lost) and billed once a subscription covers their month.
    """
    covering = Subscription.objects.filter(
        customer=OuterRef("customer"), first_month__lte=OuterRef("billing_month")
    ).filter(Q(last_month__isnull=True) | Q(last_month__gte=OuterRef("billing_month")))
    return _with_billing_month(events).filter(~Exists(covering))


def events_late_pending(events: QuerySet) -> QuerySet:
    """The late chats among `events` that the issued invoice of their month does not count:
    received after it was issued. (A late chat billed since, after a credit note and a new
    invoice, keeps its `late` mark but is no longer pending.)"""
    issued_before = Invoice.objects.issued().filter(
        customer=OuterRef("customer"),
        month=OuterRef("billing_month"),
        issued_at__lt=OuterRef("received_at"),
    )
    return _with_billing_month(events.filter(late=True)).filter(Exists(issued_before))


def customer_attention(*, customer: Customer) -> dict[str, int]:
    """Counts of the customer's chats that staff should look at: late chats no issued invoice
    counts yet, and unbilled ones."""
    counting = ChatEvent.objects.filter(customer=customer, voided_at__isnull=True)
    return {
        "late": events_late_pending(counting).count(),
        "unbilled": events_unbilled(counting).count(),
    }


class UsageRow(NamedTuple):
    """One row of a month's aggregate: a tariff and actor's chats, the points of one chat (MAX:
    for a tariff charged per engaged contact, the price of one contact), the points of all its
    chats (SUM) and its distinct engaged contacts (counted on per-contact tariffs only)."""

    tariff_id: int
    actor: str
    chats: int
    unit_points: int
    chat_points: int
    contacts: int


_AGGREGATE_COLUMNS = ("chats", "unit_points", "chat_points", "contacts")


def _aggregate(events: QuerySet, *, tariffs: dict[int, Tariff], per_customer: bool) -> QuerySet:
    """One GROUP BY over `events`: chats, points and distinct contacts per tariff and actor (and
    customer), as tuples: (customer id,) tariff id, actor, then UsageRow's four counts.

    It groups by ids and joins nothing: PostgreSQL sorts the month's rows for COUNT(DISTINCT),
    and short keys sort fastest (bench/statement.py).
    """
    per_contact = per_contact_tariff_ids(tariffs=tariffs)
    keys = ("customer_id", "tariff_id", "actor") if per_customer else ("tariff_id", "actor")
    return (
        events.values(*keys)
        .annotate(
            chats=Count("id"),
            unit_points=Max("points"),
            chat_points=Sum("points"),
            contacts=Count("contact", distinct=True, filter=Q(tariff_id__in=per_contact)),
        )
        .order_by()
        .values_list(*keys, *_AGGREGATE_COLUMNS)
    )


def usage_from_rows(rows: Iterable[UsageRow], tariffs: dict[int, Tariff]) -> Usage:
    """A month's Usage from its aggregate rows (UsageRow).

    A tariff charged per engaged contact costs its points once per distinct contact in the month
    (rule 2). Such a tariff only changes points on the first day of a month, so every event of
    the month carries the same points and MAX(points) is the price of one contact.
    """
    lines = []
    engaged = 0
    for row in rows:
        tariff = tariffs[row.tariff_id]
        is_per_contact = tariff.unit == Unit.CONTACT_MONTH
        if is_per_contact:
            engaged += row.contacts
        lines.append(
            UsageLine(
                tariff=tariff.code,
                category=tariff.category,
                actor=row.actor,
                chats=row.chats,
                points=row.contacts * row.unit_points if is_per_contact else row.chat_points,
                contacts=row.contacts,
            )
        )
    lines.sort(key=lambda line: (_CATEGORY_ORDER.get(line.category, 99), line.tariff, line.actor))
    return Usage(lines=tuple(lines), engaged_contacts=engaged)


def usage_rows_by_customer(
    *, month: Month, customers: list[int], tariffs: dict[int, Tariff]
) -> dict[int, list[UsageRow]]:
    """The aggregate rows of several customers' month in one query, by customer id (a customer
    with no chat has none), for months not invoiced yet (month close): every chat not voided
    counts."""
    start, end = month.bounds(billing_tz())
    events = ChatEvent.objects.filter(
        customer_id__in=customers,
        occurred_at__gte=start,
        occurred_at__lt=end,
        voided_at__isnull=True,
    )
    query = _aggregate(events, tariffs=tariffs, per_customer=True)
    # Fetched as plain tuples, without Django's per-value converters (the month close reads some
    # 92,000 rows; the database already returns ints and texts), then named.
    sql, params = query.query.sql_with_params()
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    rows: defaultdict[int, list[UsageRow]] = defaultdict(list)
    make = UsageRow._make
    for row in fetched:
        rows[row[0]].append(make(row[1:]))
    return dict(rows)


def month_usage(
    *, customer: Customer, month: Month, tariffs: dict[int, Tariff] | None = None
) -> Usage:
    """A month's usage per tariff and actor: one aggregate query over the month's events that
    count (events_in_month), plus the small tariff table, read first (unless given)."""
    if tariffs is None:
        tariffs = tariffs_by_id()
    rows = _aggregate(
        events_in_month(customer=customer, month=month), tariffs=tariffs, per_customer=False
    )
    return usage_from_rows((UsageRow(*row) for row in rows), tariffs)


def invoiced_terms(invoice: Invoice, current: PlanTerms) -> PlanTerms:
    """The plan terms an issued invoice froze: its fee (line 1), its included points and, when
    it has line 2, its price per extra point (else the current one: nothing was charged at it)."""
    prices = {line.kind: line.unit_price for line in invoice.lines.all()}
    return PlanTerms(
        plan=current.plan,
        monthly_fee=prices.get(LINE_PLAN_FEE, current.monthly_fee).quantize(Decimal("0.01")),
        included_points=invoice.included_points,
        price_per_extra_point=prices.get(LINE_OVERAGE, current.price_per_extra_point),
    )


def invoiced_vat(invoice: Invoice) -> VatDecision:
    """The VAT decision an issued invoice froze (its treatment and rate)."""
    return VatDecision(invoice.vat_treatment or STANDARD, invoice.vat_rate)


def month_pricing(
    *, customer: Customer, subscription: Subscription, invoice: Invoice | None
) -> tuple[PlanTerms, VatDecision]:
    """The terms and the VAT a month is priced at (statement, report, admin, plan comparison).

    A month whose invoice is issued is priced as that invoice froze it, whatever changed since
    (a new VAT number, another country, a staff override): its statement is its invoice. Any other
    month is priced as its draft and its invoice would be: the plan in force's terms and the
    customer's VAT decision (Customer.vat_decision, billing.vat's one function).
    """
    if invoice is None:
        return subscription.terms(), customer.vat_decision()
    return invoiced_terms(invoice, subscription.terms()), invoiced_vat(invoice)


def month_statement(*, customer: Customer, month: Month) -> Statement:
    """The month's statement: the plan in force, the usage, priced and taxed as the month's
    invoice is (month_pricing). Three small queries (two more for an issued month: its invoice
    and its lines)."""
    issued = _issued(customer=customer, month=month).order_by().values("pk")[:1]
    subscription = (
        subscriptions_in_force(month=month)
        .filter(customer=customer)
        .annotate(issued_invoice=Subquery(issued))
        .first()
    )
    if subscription is None:
        raise NoPlanInForce(
            _("%(customer)s has no plan in force in %(month)s.")
            % {"customer": customer.code, "month": month}
        )
    invoice = None
    if subscription.issued_invoice is not None:
        invoice = (
            Invoice.objects.defer("pdf", "seller", "buyer", "usage")
            .prefetch_related("lines")
            .get(pk=subscription.issued_invoice)
        )
    terms, vat = month_pricing(customer=customer, subscription=subscription, invoice=invoice)
    usage = month_usage(customer=customer, month=month)
    return price_month(terms=terms, usage=usage, vat=vat)
