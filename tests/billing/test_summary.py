"""billing.usage.summary: the month's usage summed as chats arrive equals what the chats say,
through batches in any order, duplicates, voids, month edges in Paris time (DST) and same-moment
ties; the report reads it and gives the very numbers it gives reading the chats."""

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from billing.catalog.tariffs import tariffs_by_id
from billing.models import ChatEvent, Tariff
from billing.months import Month
from billing.portal.report import _read_month, _read_summary
from billing.usage.store import events_ingest, events_void
from tests.factories import CustomerFactory, UserFactory, subscribe

from .summary_check import assert_summary_matches_the_chats

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def offered():
    return [
        (tariff.code, actor)
        for tariff in Tariff.objects.order_by("code")
        for actor in ("agent", "bot", "team")
        if getattr(tariff, f"points_{actor}") is not None
    ]


def random_chats(codes, count, seed):
    """Chats over September-November 2026 (both DST changes are in range: 25 October), a few
    contacts chatting often, many at the same moment."""
    rng = random.Random(seed)
    pairs = offered()
    start = datetime(2026, 9, 28, tzinfo=UTC)
    moments = [start + timedelta(minutes=rng.randrange(0, 64 * 24 * 60, 30)) for _ in range(80)]
    chats = []
    for n in range(count):
        tariff, actor = rng.choice(pairs)
        chats.append(
            {
                "id": f"chat-{seed}-{n}",
                "customer": rng.choice(codes),
                "tariff": tariff,
                "actor": actor,
                "occurred_at": rng.choice(moments).isoformat(),
                **({"contact": f"+3360000{rng.randrange(12):02d}"} if actor == "team" else {}),
            }
        )
    return chats


def compare(customer, month):
    tariffs = tariffs_by_id()
    summary = _read_summary(customer=customer, month=month, tariffs=tariffs, until=NOW)
    chats = _read_month(customer=customer, month=month, tariffs=tariffs, until=NOW)
    assert summary.usage == chats.usage
    assert summary.days == chats.days
    return summary


def test_the_summary_follows_batches_duplicates_and_voids(clock):
    clock.now = NOW
    codes = ["garage-dupont", "lyon-auto"]
    customers = [CustomerFactory(code=code) for code in codes]
    for customer in customers:
        subscribe(customer, "GROW", first_month=date(2026, 1, 1))
    chats = random_chats(codes, 600, seed=7)
    rng = random.Random(3)
    for _ in range(2):  # everything twice, in another order and other batches: duplicates
        rng.shuffle(chats)
        for start in range(0, len(chats), 97):
            events_ingest(source="platform", events=chats[start : start + 97], now=NOW)
    assert ChatEvent.objects.count() == 600
    assert_summary_matches_the_chats()
    for customer in customers:
        for month in (Month(2026, 9), Month(2026, 10), Month(2026, 11)):
            compare(customer, month)

    staff = UserFactory(username="staff", is_staff=True)
    voided = ChatEvent.objects.filter(pk__in=ChatEvent.objects.order_by("?")[:60].values("pk"))
    assert events_void(events=voided, reason="test", user=staff) == 60
    assert_summary_matches_the_chats()
    for customer in customers:
        for month in (Month(2026, 10), Month(2026, 11)):
            compare(customer, month)


def test_a_contacts_first_chat_is_the_earliest_then_the_smallest_id(clock):
    clock.now = NOW
    customer = CustomerFactory(code="garage-dupont")
    subscribe(customer, "BASE", first_month=date(2026, 1, 1))
    same = "2026-10-10T10:00:00+02:00"

    def chat(id_, when):
        return {
            "id": id_,
            "customer": "garage-dupont",
            "tariff": "contact_engaged",
            "actor": "team",
            "contact": "+33611",
            "occurred_at": when,
        }

    events_ingest(source="platform", events=[chat("late-b", same)], now=NOW)
    events_ingest(source="platform", events=[chat("late-a", same)], now=NOW)  # a larger id
    events_ingest(source="platform", events=[chat("early", "2026-10-09T10:00:00+02:00")], now=NOW)
    first = ChatEvent.objects.get(external_id="early")
    assert_summary_matches_the_chats()
    from billing.models import ContactMonth

    assert ContactMonth.objects.get().first_id == first.pk
    events_void(
        events=ChatEvent.objects.filter(pk=first.pk),
        reason="test",
        user=UserFactory(username="staff", is_staff=True),
    )
    assert ContactMonth.objects.get().first_id == ChatEvent.objects.get(external_id="late-b").pk
    assert_summary_matches_the_chats()
