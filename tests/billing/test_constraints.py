"""The database holds the invariants, not only the code: writes that skip validation are refused."""

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction

from billing.models import ChatEvent, Plan, Subscription, Tariff, TariffRate
from customers.models import Customer
from tests.factories import CustomerFactory, enterprise_terms, subscribe

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 10, 5, 10, tzinfo=UTC)


def raw_event(customer, **overrides):
    values = {
        "source": "tests",
        "external_id": "e-1",
        "customer": customer,
        "tariff": Tariff.objects.get(code="test_drive"),
        "actor": "agent",
        "occurred_at": WHEN,
        "points": 65,
    }
    return ChatEvent(**{**values, **overrides})


def refused(model_instance):
    with pytest.raises(IntegrityError), transaction.atomic():
        model_instance.save()


def test_an_external_id_is_stored_once_per_source():
    customer = CustomerFactory()
    raw_event(customer).save()
    refused(raw_event(customer))
    raw_event(customer, source="other-platform").save()  # another source may reuse the id
    assert ChatEvent.objects.count() == 2


def test_points_cannot_be_negative():
    customer = CustomerFactory()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_tariffrate SET points_agent = -1 WHERE effective_from = %s",
            [date(2022, 1, 1)],
        )
    refused(raw_event(customer, points=-1))
    refused(raw_event(customer, actor="robot"))
    tariff = Tariff.objects.get(code="crm_lead")
    refused(TariffRate(tariff=tariff, effective_from=date(2027, 1, 1), points_bot=-6))


def test_subscriptions_start_and_end_on_the_first_of_a_month():
    customer = CustomerFactory()
    grow = Plan.objects.get(code="GROW")
    refused(Subscription(customer=customer, plan=grow, first_month=date(2026, 10, 2)))
    refused(
        Subscription(
            customer=customer,
            plan=grow,
            first_month=date(2026, 10, 1),
            last_month=date(2026, 11, 30),
        )
    )
    refused(
        Subscription(
            customer=customer,
            plan=grow,
            first_month=date(2026, 10, 1),
            last_month=date(2026, 9, 1),
        )
    )


def test_custom_terms_are_all_set_or_none():
    customer = CustomerFactory()
    enterprise = Plan.objects.get(code="ENTERPRISE")
    refused(
        Subscription(
            customer=customer,
            plan=enterprise,
            first_month=date(2026, 10, 1),
            custom_monthly_fee=Decimal("10.00"),
        )
    )
    refused(
        Subscription(
            customer=customer,
            plan=enterprise,
            first_month=date(2026, 10, 1),
            **enterprise_terms(fee="-1.00"),
        )
    )


@pytest.mark.parametrize(
    ("first", "last", "other_first", "other_last"),
    [
        (date(2026, 1, 1), None, date(2026, 6, 1), None),
        (date(2026, 1, 1), date(2026, 6, 1), date(2026, 6, 1), None),
        (date(2026, 6, 1), None, date(2026, 1, 1), date(2026, 6, 1)),
        (date(2026, 3, 1), date(2026, 3, 1), date(2026, 1, 1), date(2026, 12, 1)),
    ],
)
def test_no_two_subscriptions_in_force_in_the_same_month(first, last, other_first, other_last):
    customer = CustomerFactory()
    grow = Plan.objects.get(code="GROW")
    Subscription.objects.create(customer=customer, plan=grow, first_month=first, last_month=last)
    second = Subscription(
        customer=customer, plan=grow, first_month=other_first, last_month=other_last
    )
    second.full_clean()  # each row is valid alone: the overlap is the database's to refuse
    refused(second)
    assert Subscription.objects.filter(customer=customer).count() == 1


def test_an_update_that_would_overlap_is_refused_too():
    customer = CustomerFactory()
    first = subscribe(customer, "BASE", first_month=date(2026, 1, 1), last_month=date(2026, 5, 1))
    subscribe(customer, "GROW", first_month=date(2026, 6, 1))
    first.last_month = date(2026, 6, 1)
    refused(first)


def test_consecutive_subscriptions_and_other_customers_do_not_conflict():
    customer, other = CustomerFactory(), CustomerFactory()
    subscribe(customer, "BASE", first_month=date(2026, 1, 1), last_month=date(2026, 5, 1))
    subscribe(customer, "GROW", first_month=date(2026, 6, 1))
    subscribe(other, "GROW", first_month=date(2026, 1, 1))
    assert Subscription.objects.count() == 3


def test_customer_vat_rate_and_siren_constraints():
    refused(CustomerFactory.build(code="x1", vat_rate=Decimal("120.00")))
    refused(CustomerFactory.build(code="x2", country="DE", siren="732829320"))
    assert not Customer.objects.filter(code__in=["x1", "x2"]).exists()


def race(attempts):
    """Run the callables at the same instant, one thread and connection each; return, per
    callable, "stored" or "refused" (IntegrityError, or the deadlock PostgreSQL resolves by
    aborting one of two inserts that wait on each other's exclusion check: nothing stored)."""
    barrier = threading.Barrier(len(attempts))
    outcomes = []

    def run(attempt):
        try:
            barrier.wait()
            with transaction.atomic():
                attempt()
            outcomes.append("stored")
        except IntegrityError:
            outcomes.append("refused")
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != "40P01":
                raise
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_overlapping_subscriptions_leave_exactly_one():
    """Eight threads race to subscribe the same customer from eight months: one wins."""
    customer = CustomerFactory()
    grow = Plan.objects.get(code="GROW")

    def subscribe_from(month):
        return lambda: Subscription.objects.create(
            customer=customer, plan=grow, first_month=date(2026, month, 1)
        )

    assert race([subscribe_from(month) for month in range(1, 9)]) == ["refused"] * 7 + ["stored"]
    assert Subscription.objects.filter(customer=customer).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_same_event_inserted_concurrently_is_stored_once():
    customer = CustomerFactory()
    tariff = Tariff.objects.get(code="test_drive")
    outcomes = race([lambda: raw_event(customer, tariff=tariff).save()] * 10)
    assert outcomes == ["refused"] * 9 + ["stored"]
    assert ChatEvent.objects.count() == 1
