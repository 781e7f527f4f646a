"""The rules of a customer's subscriptions as a set (billing.catalog.subscriptions), called
directly: the admin's customer page is one caller (tests/customers/test_admin.py)."""

from datetime import UTC, date, datetime

import pytest
from django.utils import translation

from billing.catalog.subscriptions import (
    subscription_check_change,
    subscriptions_check,
    subscriptions_save,
)
from billing.errors import (
    PastMonthChanged,
    SubscriptionsExchangeMonths,
    SubscriptionsOverlap,
    SubscriptionsRefused,
)
from billing.models import Plan, Subscription
from tests.factories import CustomerFactory, enterprise_terms, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def november(clock):
    clock.now = datetime(2026, 11, 12, 9, tzinfo=UTC)  # this month: 2026-11


def _new(customer, plan_code, first, last=None, **terms):
    return Subscription(
        customer=customer,
        plan=Plan.objects.get(code=plan_code),
        first_month=first,
        last_month=last,
        **terms,
    )


def _stored(customer):
    return list(
        Subscription.objects.filter(customer=customer)
        .order_by("first_month")
        .values_list("plan__code", "first_month", "last_month")
    )


def _refusals(excinfo):
    return [(type(e), e.field, str(e)) for e in excinfo.value.errors]


# --- overlaps ---------------------------------------------------------------------------------


def test_two_new_subscriptions_sharing_a_month_are_refused_and_nothing_is_stored(november):
    customer = CustomerFactory()
    rows = [
        _new(customer, "GROW", date(2027, 1, 1), date(2027, 6, 1)),
        _new(customer, "SCALE", date(2027, 6, 1)),
    ]
    with translation.override("en"), pytest.raises(SubscriptionsRefused) as excinfo:
        subscriptions_save(customer=customer, subscriptions=rows)

    assert _refusals(excinfo) == [
        (
            SubscriptionsOverlap,
            None,
            "Two subscriptions overlap (from 2027-01 and from 2027-06): one customer has one "
            "plan in force in a month.",
        )
    ]
    assert excinfo.value.errors[0].subscription is None  # about the set, not one row
    assert _stored(customer) == []


def test_the_message_is_in_the_active_language(november):
    customer = CustomerFactory()
    rows = [_new(customer, "GROW", date(2027, 1, 1)), _new(customer, "BASE", date(2027, 3, 1))]
    with translation.override("fr"), pytest.raises(SubscriptionsRefused) as excinfo:
        subscriptions_check(customer=customer, subscriptions=rows)
    assert str(excinfo.value).startswith("Deux abonnements se chevauchent (à partir de 2027-01")


def test_a_new_subscription_is_checked_against_the_stored_ones_not_given(november):
    """The caller gives only what changes: the other stored rows stay and still count."""
    customer = CustomerFactory()
    subscribe(customer, "GROW", first_month=date(2026, 1, 1))  # until further notice
    with translation.override("en"), pytest.raises(SubscriptionsRefused) as excinfo:
        subscriptions_check(
            customer=customer, subscriptions=[_new(customer, "SCALE", date(2027, 3, 1))]
        )
    assert _refusals(excinfo)[0][0] is SubscriptionsOverlap
    assert "(from 2027-03 and from 2026-01)" in str(excinfo.value)


def test_a_subscription_of_another_customer_is_a_programming_error(november):
    mine, theirs = CustomerFactory(), CustomerFactory()
    other = subscribe(theirs, "GROW", first_month=date(2027, 1, 1))
    with pytest.raises(ValueError):
        subscriptions_check(customer=mine, subscriptions=[other])


# --- order of saving --------------------------------------------------------------------------


def test_a_plan_change_moved_later_saves_the_shrinking_row_first(november):
    """A ends in January, B starts in February; moving the change a month later grows A into
    B's first month: the database, checking each row as written, needs B moved first."""
    customer = CustomerFactory()
    a = subscribe(customer, "GROW", first_month=date(2026, 12, 1), last_month=date(2027, 1, 1))
    b = subscribe(customer, "SCALE", first_month=date(2027, 2, 1))
    a.last_month, b.first_month = date(2027, 2, 1), date(2027, 3, 1)

    assert subscriptions_check(customer=customer, subscriptions=[a, b]) == [b, a]
    saved = subscriptions_save(customer=customer, subscriptions=[a, b])

    assert saved == [b, a]
    assert _stored(customer) == [
        ("GROW", date(2026, 12, 1), date(2027, 2, 1)),
        ("SCALE", date(2027, 3, 1), None),
    ]


def test_a_chain_of_three_plan_changes_shifted_later_is_saved(november):
    customer = CustomerFactory()
    a = subscribe(customer, "GROW", first_month=date(2027, 1, 1), last_month=date(2027, 3, 1))
    b = subscribe(customer, "SCALE", first_month=date(2027, 4, 1), last_month=date(2027, 6, 1))
    c = subscribe(customer, "BASE", first_month=date(2027, 7, 1))
    a.last_month = date(2027, 4, 1)
    b.first_month, b.last_month = date(2027, 5, 1), date(2027, 7, 1)
    c.first_month = date(2027, 8, 1)

    assert subscriptions_save(customer=customer, subscriptions=[a, b, c]) == [c, b, a]
    assert _stored(customer) == [
        ("GROW", date(2027, 1, 1), date(2027, 4, 1)),
        ("SCALE", date(2027, 5, 1), date(2027, 7, 1)),
        ("BASE", date(2027, 8, 1), None),
    ]


def test_rows_whose_months_do_not_change_are_saved_after_the_ordered_ones(november):
    customer = CustomerFactory()
    a = subscribe(
        customer, "ENTERPRISE", first_month=date(2027, 1, 1), **enterprise_terms(fee="2500.00")
    )
    a.custom_monthly_fee = 2600
    new = _new(customer, "BASE", date(2026, 12, 1), date(2026, 12, 1))

    assert subscriptions_check(customer=customer, subscriptions=[a, new]) == [new]
    assert subscriptions_save(customer=customer, subscriptions=[a, new]) == [new, a]
    a.refresh_from_db()
    assert str(a.custom_monthly_fee) == "2600.00"


def test_exchanging_months_between_two_subscriptions_asks_for_two_steps(november):
    customer = CustomerFactory()
    a = subscribe(customer, "GROW", first_month=date(2027, 1, 1), last_month=date(2027, 2, 1))
    b = subscribe(customer, "SCALE", first_month=date(2027, 3, 1), last_month=date(2027, 4, 1))
    (a.first_month, a.last_month), (b.first_month, b.last_month) = (
        (b.first_month, b.last_month),
        (a.first_month, a.last_month),
    )
    with translation.override("en"), pytest.raises(SubscriptionsRefused) as excinfo:
        subscriptions_save(customer=customer, subscriptions=[a, b])

    assert _refusals(excinfo) == [
        (
            SubscriptionsExchangeMonths,
            None,
            "These changes exchange months between subscriptions: save them in two steps "
            "(first shorten, then extend).",
        )
    ]
    assert _stored(customer) == [
        ("GROW", date(2027, 1, 1), date(2027, 2, 1)),
        ("SCALE", date(2027, 3, 1), date(2027, 4, 1)),
    ]


# --- months already passed stay billed as they were -------------------------------------------


def test_a_subscription_in_force_before_this_month_keeps_its_plan(november):
    customer = CustomerFactory()
    running = subscribe(customer, "GROW", first_month=date(2026, 1, 1))
    running.plan = Plan.objects.get(code="SCALE")

    with translation.override("en"), pytest.raises(SubscriptionsRefused) as excinfo:
        subscriptions_save(customer=customer, subscriptions=[running])

    assert _refusals(excinfo) == [
        (
            PastMonthChanged,
            "plan",
            "This subscription is in force since 2026-01: its plan, first month and terms are "
            "fixed for the months already passed. End it and add a new subscription.",
        )
    ]
    assert excinfo.value.errors[0].subscription is running
    assert _stored(customer) == [("GROW", date(2026, 1, 1), None)]


def test_its_end_moves_within_this_month_and_later_only(november):
    customer = CustomerFactory()
    running = subscribe(customer, "GROW", first_month=date(2026, 1, 1))
    running.last_month = date(2026, 10, 1)  # last month: already passed
    with translation.override("en"), pytest.raises(SubscriptionsRefused) as excinfo:
        subscriptions_check(customer=customer, subscriptions=[running])
    assert _refusals(excinfo) == [
        (
            PastMonthChanged,
            "last_month",
            "2026-10 is a past month: a subscription's end moves only within this month and later.",
        )
    ]

    running.last_month = date(2026, 11, 1)  # this month: allowed
    subscriptions_save(customer=customer, subscriptions=[running])
    assert _stored(customer) == [("GROW", date(2026, 1, 1), date(2026, 11, 1))]


def test_an_end_already_passed_cannot_be_moved_either(november):
    customer = CustomerFactory()
    ended = subscribe(customer, "GROW", first_month=date(2026, 1, 1), last_month=date(2026, 9, 1))
    ended.last_month = date(2027, 1, 1)
    with translation.override("en"):
        errors = subscription_check_change(
            subscription=ended, stored=Subscription.objects.get(pk=ended.pk)
        )
    assert [(e.field, str(e)) for e in errors] == [
        (
            "last_month",
            "2026-09 is a past month: a subscription's end moves only within this month and later.",
        )
    ]


def test_a_future_subscription_may_change_anything(november):
    customer = CustomerFactory()
    future = subscribe(customer, "GROW", first_month=date(2026, 12, 1))
    stored = Subscription.objects.get(pk=future.pk)
    future.plan = Plan.objects.get(code="BASE")
    future.first_month, future.last_month = date(2027, 2, 1), date(2027, 5, 1)

    assert subscription_check_change(subscription=future, stored=stored) == []
    subscriptions_save(customer=customer, subscriptions=[future])
    assert _stored(customer) == [("BASE", date(2027, 2, 1), date(2027, 5, 1))]


def test_every_refusal_of_one_set_is_reported_at_once(november):
    customer = CustomerFactory()
    running = subscribe(customer, "GROW", first_month=date(2026, 1, 1))
    running.plan = Plan.objects.get(code="SCALE")
    new = _new(customer, "BASE", date(2027, 1, 1))

    with translation.override("en"), pytest.raises(SubscriptionsRefused) as excinfo:
        subscriptions_check(customer=customer, subscriptions=[running, new])

    assert [(kind, field) for kind, field, _message in _refusals(excinfo)] == [
        (PastMonthChanged, "plan"),
        (SubscriptionsOverlap, None),
    ]


def test_rows_left_out_of_past_months_are_not_checked_against_them(november):
    """The admin leaves out a row it already refuses for another reason: one message a row."""
    customer = CustomerFactory()
    running = subscribe(customer, "GROW", first_month=date(2026, 1, 1))
    running.plan = Plan.objects.get(code="SCALE")
    assert subscriptions_check(customer=customer, subscriptions=[running], past_months=[]) == []


def test_a_customer_being_added_has_no_stored_subscription(november):
    customer = CustomerFactory.build()
    rows = [_new(customer, "GROW", date(2027, 1, 1), date(2027, 2, 1))]
    assert subscriptions_check(customer=customer, subscriptions=rows) == rows
