"""The ingestion heartbeat: a silent source goes red and staff are e-mailed once per silence; it
is green again when it sends. Business time only (by default Monday to Saturday, 8:00 to 20:00,
Paris)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from billing.models import ApiToken, HeartbeatSilence
from billing.months import business_seconds
from billing.usage.heartbeat import heartbeat_check, heartbeat_sources
from billing.usage.tokens import api_token_create
from tests.factories import CustomerFactory, UserFactory, record, subscribe

PARIS = ZoneInfo("Europe/Paris")
WORKDAYS = frozenset(range(1, 7))


def at(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


# --- business time (pure) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "minutes"),
    [
        (at(2026, 11, 16, 9), at(2026, 11, 16, 11, 30), 150),  # a Monday morning
        (at(2026, 11, 16, 6), at(2026, 11, 16, 8, 30), 30),  # before opening: from 8:00
        (at(2026, 11, 21, 19), at(2026, 11, 23, 8, 30), 90),  # Saturday 19:00 to Monday 8:30
        (at(2026, 11, 16, 21), at(2026, 11, 17, 7), 0),  # a night
        (at(2026, 10, 24, 19), at(2026, 10, 26, 9), 120),  # over the change to winter time
        (at(2026, 11, 16, 12), at(2026, 11, 16, 11), 0),  # backwards: none
    ],
)
def test_business_seconds(start, end, minutes):
    assert business_seconds(start, end, tz=PARIS, hours=(8, 20), days=WORKDAYS) == minutes * 60


# --- the heartbeat --------------------------------------------------------------------------------


@pytest.fixture
def platform(db, clock):
    clock.now = at(2026, 11, 8, 7)  # Sunday 8 November
    token, _secret = api_token_create(source="platform")
    # (ApiToken.created_at's default is the real clock's function, not the test's.)
    ApiToken.objects.filter(pk=token.pk).update(created_at=clock.now)
    customer = CustomerFactory(code="garage-dupont")
    subscribe(customer, "GROW")
    return customer


def beat(now):
    return {b.source: b for b in heartbeat_sources(now=now)}["platform"]


def test_counts_against_the_same_hour_and_day_a_week_before(platform, clock):
    week_before = (at(2026, 11, 8, 10, 30), at(2026, 11, 8, 11), at(2026, 11, 9, 10, 10))
    for moment in (*week_before, at(2026, 11, 9, 10, 40), at(2026, 11, 10, 9)):
        clock.now = moment
        record(platform, "test_drive", "agent", moment - timedelta(minutes=5), source="platform")
    for moment in (at(2026, 11, 16, 9, 30), at(2026, 11, 16, 10, 5)):
        clock.now = moment
        record(platform, "test_drive", "agent", moment - timedelta(minutes=5), source="platform")
    now = at(2026, 11, 16, 10, 50)
    figures = beat(now)
    assert figures.last_at == at(2026, 11, 16, 10, 5)
    assert (figures.last_hour, figures.week_before_hour) == (1, 2)  # 9:50-10:50 vs a week before
    # The last 24 hours: two; a week before, the 24 hours to 9 November 10:50: three (8 November
    # 10:30 is before them, 10 November after).
    assert (figures.last_day, figures.week_before_day) == (2, 3)
    assert not figures.silent


def test_a_silent_source_goes_red_is_emailed_once_and_green_again(platform, clock, settings):
    settings.HEARTBEAT_EMAILS = ["ops@chatpoints.example"]
    clock.now = at(2026, 11, 9, 9)
    record(platform, "test_drive", "agent", at(2026, 11, 9, 8, 55), source="platform")
    assert not beat(at(2026, 11, 9, 11)).silent  # two hours exactly: not longer
    assert heartbeat_check(now=at(2026, 11, 9, 11)).silent == []
    late = at(2026, 11, 9, 11, 1)
    assert beat(late).silent
    report = heartbeat_check(now=late)
    assert (report.silent, report.alerted) == (["platform"], ["platform"])
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@chatpoints.example"]
    assert "platform" in mail.outbox[0].subject
    for minutes in (5, 30, 300):  # checks go on: no second e-mail for the same silence
        assert heartbeat_check(now=late + timedelta(minutes=minutes)).alerted == []
    assert len(mail.outbox) == 1
    assert HeartbeatSilence.objects.get().alerted_at == late
    # It sends again: green, the silence ends.
    clock.now = at(2026, 11, 9, 16)
    record(platform, "test_drive", "agent", at(2026, 11, 9, 15, 59), source="platform")
    report = heartbeat_check(now=at(2026, 11, 9, 16, 1))
    assert (report.silent, report.ended) == ([], ["platform"])
    assert HeartbeatSilence.objects.get().ended_at == at(2026, 11, 9, 16, 1)
    # Silent again later: a new silence, one more e-mail.
    assert heartbeat_check(now=at(2026, 11, 9, 18, 30)).alerted == ["platform"]
    assert len(mail.outbox) == 2
    assert HeartbeatSilence.objects.count() == 2


def test_nights_and_sundays_are_not_silence(platform, clock):
    clock.now = at(2026, 11, 14, 19)  # a Saturday evening
    record(platform, "test_drive", "agent", at(2026, 11, 14, 18, 59), source="platform")
    assert not beat(at(2026, 11, 16, 8, 30)).silent  # Monday 8:30: 1 h 30 of business time
    assert heartbeat_check(now=at(2026, 11, 16, 8, 30)).alerted == []
    assert beat(at(2026, 11, 16, 9, 1)).silent


def test_a_mail_that_fails_is_tried_again(platform, clock, monkeypatch):
    import billing.usage.heartbeat as heartbeat

    def broken(*args, **kwargs):
        raise OSError("SMTP down")

    monkeypatch.setattr(heartbeat, "send_mail", broken)
    assert heartbeat_check(now=at(2026, 11, 9, 12)).alerted == []
    assert HeartbeatSilence.objects.get().alerted_at is None
    monkeypatch.undo()
    assert heartbeat_check(now=at(2026, 11, 9, 12, 5)).alerted == ["platform"]
    assert len(mail.outbox) == 1


def test_the_command(platform, clock):
    clock.now = at(2026, 11, 9, 12)
    out = StringIO()
    call_command("check_heartbeat", stdout=out)
    assert "platform is silent. Staff e-mailed." in out.getvalue()
    assert len(mail.outbox) == 1


def test_the_dashboard_shows_the_silent_source_red(platform, clock, client):
    clock.now = at(2026, 11, 9, 12)
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    html = client.get(reverse("admin:index")).content.decode()
    assert '<tr class="silent">' in html and "platform" in html
    clock.now = at(2026, 11, 9, 12, 30)
    record(platform, "test_drive", "agent", at(2026, 11, 9, 12, 29), source="platform")
    html = client.get(reverse("admin:index")).content.decode()
    assert '<tr class="sending">' in html and '<tr class="silent">' not in html


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_checks_email_once(clock):
    clock.now = at(2026, 11, 9, 7)
    for n in range(3):
        api_token_create(source=f"source-{n}")
    ApiToken.objects.update(created_at=clock.now)
    now = at(2026, 11, 9, 12)
    barrier = threading.Barrier(4)
    errors = []

    def check():
        try:
            barrier.wait()
            heartbeat_check(now=now)
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sources = ("source-0", "source-1", "source-2")
    assert sorted(s for message in mail.outbox for s in sources if s in message.subject) == [
        "source-0",
        "source-1",
        "source-2",
    ]
    assert HeartbeatSilence.objects.filter(ended_at=None).count() == 3


def test_utc_moment_is_a_paris_business_hour():
    # 2026-11-16 07:30 UTC is 08:30 in Paris: business time has started.
    start = datetime(2026, 11, 16, 7, tzinfo=UTC)
    assert business_seconds(start, start + timedelta(hours=1), tz=PARIS, hours=(8, 20),
                            days=WORKDAYS) == 3600  # fmt: skip
