"""UsageMonth, the usage summary summed per customer and month by the database's triggers
(migrations 0016 and 0018): it follows every write to UsageDay and ContactMonth, whoever makes it
(ingestion, voiding's rebuild, rows written directly), a row goes when its sums come back to
zero, and the dashboard's points read from it equal the points counted from the chats."""

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.db.models import F

from billing.invoicing.dashboard import points_by_customer
from billing.models import ChatEvent, ContactMonth, Tariff, UsageDay, UsageMonth
from billing.months import Month, billing_tz
from billing.usage.store import events_ingest, events_void
from tests.factories import CustomerFactory, UserFactory, subscribe

from .summary_check import assert_summary_matches_the_chats, assert_usage_month_matches_the_summary

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
OCTOBER = date(2026, 10, 1)
ENGAGED = "contact_engaged"


def _day(customer, day, tariff, actor="agent", chats=1, points=10):
    return UsageDay(
        customer=customer, day=day, tariff=tariff, actor=actor, chats=chats, points=points
    )


def _contact(customer, month, tariff, contact, points, first_id=1):
    return ContactMonth(
        customer=customer,
        month=month,
        tariff=tariff,
        actor="team",
        contact=contact,
        first_at=datetime(month.year, month.month, 2, tzinfo=UTC),
        first_day=month.replace(day=2),
        first_id=first_id,
        points=points,
    )


def test_it_follows_rows_written_updated_and_deleted_directly(db):
    dupont, lyon = CustomerFactory(code="garage-dupont"), CustomerFactory(code="lyon-auto")
    drive = Tariff.objects.get(code="test_drive")
    engaged = Tariff.objects.get(code="contact_engaged")
    UsageDay.objects.bulk_create(
        [
            _day(dupont, date(2026, 10, 1), drive, chats=2, points=130),
            _day(dupont, date(2026, 10, 31), drive, actor="bot", chats=3, points=60),
            _day(dupont, date(2026, 11, 1), drive, chats=1, points=65),
            _day(lyon, date(2026, 10, 15), drive, chats=4, points=260),
            _day(dupont, date(2026, 10, 2), engaged, actor="team", chats=5, points=150),
        ]
    )
    ContactMonth.objects.bulk_create(
        [
            _contact(dupont, OCTOBER, engaged, "+3361", 30, first_id=1),
            _contact(dupont, OCTOBER, engaged, "+3362", 30, first_id=2),
        ]
    )
    assert_usage_month_matches_the_summary()
    # 10 chats; the points of the tariffs charged per chat (the engaged contacts' chats' 150 not
    # among them); the two contacts' points.
    month = UsageMonth.objects.get(customer=dupont, month=OCTOBER)
    assert (month.chats, month.points, month.contact_points) == (10, 190, 60)

    # Updated: numbers (an additive upsert does this), a contact's points, a day moved to another
    # month.
    UsageDay.objects.filter(customer=dupont, tariff=drive).update(
        chats=F("chats") + 1, points=F("points") + 65
    )
    ContactMonth.objects.filter(contact="+3362").update(points=45)
    UsageDay.objects.filter(customer=lyon).update(day=date(2026, 9, 30))
    assert_usage_month_matches_the_summary()
    assert (
        not UsageMonth.objects.filter(customer=lyon, month=OCTOBER)
        .exclude(chats=0, points=0, contact_points=0)
        .exists()
    )

    # Deleted: a month row whose days and contacts are all gone goes too.
    UsageDay.objects.filter(customer=dupont, day__lt=date(2026, 11, 1)).delete()
    assert_usage_month_matches_the_summary()
    month = UsageMonth.objects.get(customer=dupont, month=OCTOBER)  # its contacts are left
    assert (month.chats, month.points, month.contact_points) == (0, 0, 75)
    ContactMonth.objects.all().delete()
    assert_usage_month_matches_the_summary()
    assert not UsageMonth.objects.filter(customer=dupont, month=OCTOBER).exists()
    assert not UsageMonth.objects.filter(
        customer=dupont, chats=0, points=0, contact_points=0
    ).exists()


def _chat(id_, code, tariff, actor, when, contact=None):
    return {
        "id": id_,
        "customer": code,
        "tariff": tariff,
        "actor": actor,
        "occurred_at": when,
        **({"contact": contact} if contact else {}),
    }


def _points_from_the_chats(customer, month: Month) -> int:
    """Every chat's points of tariffs charged per chat, plus each engaged contact's first chat's
    points, counted here from the chats not voided."""
    start, end = month.bounds(billing_tz())
    chats = ChatEvent.objects.filter(
        customer=customer, voided_at__isnull=True, occurred_at__gte=start, occurred_at__lt=end
    ).select_related("tariff")
    total, firsts = 0, {}
    for chat in chats:
        if chat.tariff.unit == "contact_month":
            key = (chat.tariff_id, chat.actor, chat.contact)
            if key not in firsts or (chat.occurred_at, chat.pk) < firsts[key][:2]:
                firsts[key] = (chat.occurred_at, chat.pk, chat.points)
        else:
            total += chat.points
    return total + sum(points for _at, _pk, points in firsts.values())


def test_the_dashboards_points_equal_the_chats_through_ingestion_and_voids(clock):
    clock.now = NOW
    dupont, lyon = CustomerFactory(code="garage-dupont"), CustomerFactory(code="lyon-auto")
    for customer in (dupont, lyon):
        subscribe(customer, "GROW", first_month=date(2026, 1, 1))
    events = [
        _chat("a1", "garage-dupont", "test_drive", "agent", "2026-11-01T00:30:00+01:00"),
        _chat("a2", "garage-dupont", "test_drive", "bot", "2026-11-19T10:00:00+01:00"),
        # 31 October 23:30 in Paris: October's, though 1 November already in some zones.
        _chat("a3", "garage-dupont", "test_drive", "agent", "2026-10-31T23:30:00+01:00"),
        _chat("c1", "garage-dupont", ENGAGED, "team", "2026-11-05T10:00:00+01:00", "+33611"),
        _chat("c2", "garage-dupont", ENGAGED, "team", "2026-11-06T10:00:00+01:00", "+33611"),
        _chat("c3", "garage-dupont", ENGAGED, "team", "2026-11-07T10:00:00+01:00", "+33622"),
        _chat("l1", "lyon-auto", "quote_request", "agent", "2026-11-10T10:00:00+01:00"),
    ]  # fmt: skip
    events_ingest(source="platform", events=events[:4], now=NOW)
    events_ingest(source="platform", events=events[4:], now=NOW)
    # An earlier chat of a contact already counted: its first chat changes.
    early = _chat("c0", "garage-dupont", ENGAGED, "team", "2026-11-02T10:00:00+01:00", "+33622")
    events_ingest(source="platform", events=[early], now=NOW)
    november = Month(2026, 11)
    points = points_by_customer(month=november)
    assert points == {c.pk: _points_from_the_chats(c, november) for c in (dupont, lyon)}
    assert points[dupont.pk] > 0 and points[lyon.pk] > 0
    assert_summary_matches_the_chats()

    # Voiding rebuilds the customer's month (deletes then inserts its rows): the totals follow.
    voided = ChatEvent.objects.filter(external_id__in=["a1", "c1", "c2", "l1"])
    events_void(events=voided, reason="test", user=UserFactory(username="staff", is_staff=True))
    points = points_by_customer(month=november)
    assert points == {dupont.pk: _points_from_the_chats(dupont, november)}
    assert not UsageMonth.objects.filter(customer=lyon).exists()  # its only chat voided
    assert_summary_matches_the_chats()


@pytest.mark.postgres
def test_truncating_the_summary_takes_its_sums_out(db):
    dupont = CustomerFactory(code="garage-dupont")
    drive = Tariff.objects.get(code="test_drive")
    engaged = Tariff.objects.get(code="contact_engaged")
    UsageDay.objects.bulk_create(
        [_day(dupont, date(2026, 10, 3), drive), _day(dupont, date(2026, 10, 3), engaged, "team")]
    )
    ContactMonth.objects.bulk_create([_contact(dupont, OCTOBER, engaged, "+3361", 30)])
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the foreign keys' checks done first
        cursor.execute("TRUNCATE billing_usageday")
    assert_usage_month_matches_the_summary()
    assert list(UsageMonth.objects.values_list("chats", "points", "contact_points")) == [(0, 0, 30)]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE billing_contactmonth")
    assert not UsageMonth.objects.exists()


def test_emptying_the_month_rows_first_then_the_summary_leaves_nothing(db):
    """Django's flush (a transactional test's teardown) deletes the tables in its own order:
    with the month rows gone first, deleting the summary rows has nothing to take from and
    makes no row (a negative row would outlive its customer)."""
    dupont = CustomerFactory(code="garage-dupont")
    drive = Tariff.objects.get(code="test_drive")
    engaged = Tariff.objects.get(code="contact_engaged")
    UsageDay.objects.bulk_create([_day(dupont, date(2026, 10, 1), drive, chats=2, points=130)])
    ContactMonth.objects.bulk_create([_contact(dupont, OCTOBER, engaged, "+3361", 30)])
    assert list(UsageMonth.objects.values_list("chats", "points", "contact_points")) == [
        (2, 130, 30)
    ]
    with connection.cursor() as cursor:  # not TRUNCATE: the row triggers are the ones at stake
        cursor.execute("DELETE FROM billing_usagemonth")
        cursor.execute("DELETE FROM billing_usageday")
        cursor.execute("DELETE FROM billing_contactmonth")
    assert UsageMonth.objects.count() == 0
