"""Usage alerts: a month crossing 80 % then 100 % of its included points sends exactly two
e-mails, in the customer's language, even when the hourly job runs twice at once; none after the
dealer turned them off; the portal shows the same figures as a banner, staff see them on the
customer's admin page."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from billing.models import UsageAlert
from billing.usage.alerts import usage_alerts_send
from billing.usage.store import events_ingest
from customers.models import CustomerAccess
from tests.factories import CustomerFactory, UserFactory, subscribe

NOW = datetime(2026, 11, 20, 11, tzinfo=UTC)


def bot_chats(code, first, count):
    """BASE includes 250 points; a bot's test drive is 40 points: 5 chats are 80 %, 7 are 112 %."""
    return [
        {
            "id": f"{code}-{n}",
            "customer": code,
            "tariff": "test_drive",
            "actor": "bot",
            "occurred_at": f"2026-11-{2 + n:02d}T10:00:00+01:00",
        }
        for n in range(first, first + count)
    ]


def dealer(code="garage-dupont", **fields):
    customer = CustomerFactory(code=code, billing_emails=f"compta@{code}.example", **fields)
    subscribe(customer, "BASE", first_month=date(2026, 1, 1))
    return customer


def chats(customer, first, count):
    result = events_ingest(
        source="platform", events=bot_chats(customer.code, first, count), now=NOW
    )
    assert result.accepted == count


def run_job(capture):
    with capture(execute=True):
        return usage_alerts_send(now=NOW)


@pytest.fixture
def now(clock):
    clock.now = NOW
    return NOW


@pytest.mark.django_db
def test_80_then_100_percent_send_exactly_two_e_mails_in_french(
    now, django_capture_on_commit_callbacks
):
    dupont = dealer(language="fr")
    chats(dupont, 0, 4)  # 160 points: 64 %
    assert run_job(django_capture_on_commit_callbacks) == 0
    chats(dupont, 4, 1)  # 200 points: 80 %
    assert run_job(django_capture_on_commit_callbacks) == 1
    assert run_job(django_capture_on_commit_callbacks) == 0  # the next hour: nothing again
    assert len(mail.outbox) == 1
    first = mail.outbox[0]
    assert first.to == ["compta@garage-dupont.example"]
    assert first.subject == "Chatpoints novembre 2026 : 80 % de vos points inclus utilisés"
    assert "a utilisé 200 de ses 250 points inclus en novembre 2026" in first.body
    # 200 points in 19.5 of the month's 30 days: 307.7, rounded.
    assert "Au rythme actuel, le mois finira vers 308 points." in first.body
    assert "Extra" not in first.body and "supplémentaires" not in first.body
    chats(dupont, 5, 2)  # 280 points: 112 %
    assert run_job(django_capture_on_commit_callbacks) == 1
    assert run_job(django_capture_on_commit_callbacks) == 0
    assert len(mail.outbox) == 2
    second = mail.outbox[1]
    assert second.subject == "Chatpoints novembre 2026 : 100 % de vos points inclus utilisés"
    # 30 extra points at 0.18 € = 5,40 €; the projection: 280 points in 19.5 of 30 days.
    assert "Points supplémentaires à ce jour : 30, 5,40\xa0€ HT." in second.body
    assert "Au rythme actuel, le mois finira vers 431 points." in second.body
    # BASE at 280 points: 99 € + 5,40 €, cheaper than GROW's fee: the plan comparison says so.
    assert "Votre forfait est le moins cher pour l'usage de ce mois." in second.body
    assert sorted(UsageAlert.objects.values_list("threshold", "email_status", "points_used")) == [
        (80, "sent", 200),
        (100, "sent", 280),
    ]


@pytest.mark.django_db
def test_an_english_customer_gets_english_and_a_jump_past_both_thresholds_one_e_mail(
    now, django_capture_on_commit_callbacks
):
    lyon = dealer("lyon-auto", language="en")
    chats(lyon, 0, 7)  # 112 % at once
    assert run_job(django_capture_on_commit_callbacks) == 1
    assert [m.subject for m in mail.outbox] == [
        "Chatpoints November 2026: 100 % of your included points used"
    ]
    assert "Extra points so far: 30, €5.40 excl. VAT." in mail.outbox[0].body
    assert sorted(UsageAlert.objects.values_list("threshold", "email_status")) == [
        (80, "covered"),
        (100, "sent"),
    ]


@pytest.mark.django_db
def test_no_e_mail_after_the_dealer_turned_alerts_off_in_the_portal(
    now, client, django_capture_on_commit_callbacks
):
    dupont = dealer()
    user = UserFactory(username="dupont")
    CustomerAccess.objects.create(user=user, customer=dupont)
    client.force_login(user)
    url = reverse("portal:usage_alerts", kwargs={"customer": dupont.code})
    assert client.post(url, {"enabled": "0"})["Location"] == url
    dupont.refresh_from_db()
    assert dupont.usage_alerts is False
    chats(dupont, 0, 7)
    assert run_job(django_capture_on_commit_callbacks) == 0
    assert mail.outbox == [] and not UsageAlert.objects.exists()
    assert "Aucun e-mail n’est envoyé" in client.get(url).content.decode() or (
        "Aucun e-mail n'est envoyé" in client.get(url).content.decode()
    )
    client.post(url, {"enabled": "1"})
    dupont.refresh_from_db()
    assert dupont.usage_alerts is True


@pytest.mark.django_db
def test_another_dealer_cannot_switch_them(now, client):
    dupont, lyon = dealer(), dealer("lyon-auto")
    user = UserFactory(username="lyon")
    CustomerAccess.objects.create(user=user, customer=lyon)
    client.force_login(user)
    url = reverse("portal:usage_alerts", kwargs={"customer": dupont.code})
    assert client.post(url, {"enabled": "0"}).status_code == 404
    dupont.refresh_from_db()
    assert dupont.usage_alerts is True
    client.logout()
    response = client.post(url, {"enabled": "0"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_the_report_shows_the_same_alert_as_a_banner(now, client):
    dupont = dealer()
    user = UserFactory(username="dupont")
    CustomerAccess.objects.create(user=user, customer=dupont)
    client.force_login(user)
    url = reverse("portal:report", kwargs={"customer": dupont.code, "month": "2026-11"})
    chats(dupont, 0, 4)
    assert 'data-testid="usage-alert"' not in client.get(url).content.decode()
    chats(dupont, 4, 3)
    page = client.get(url).content.decode()
    assert 'data-testid="usage-alert"' in page
    assert "112 % des points inclus utilisés : 280 sur 250." in page.replace("\u202f", " ")
    assert "5,40" in page


@pytest.mark.django_db
def test_staff_see_the_alerts_sent_on_the_customer_page(
    now, admin_client, django_capture_on_commit_callbacks
):
    dupont = dealer()
    chats(dupont, 0, 5)
    run_job(django_capture_on_commit_callbacks)
    page = admin_client.get(reverse("admin:customers_customer_change", args=[dupont.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert "Alertes de consommation envoyées" in content or "usage alerts sent" in content
    assert "80" in content


@pytest.mark.django_db
def test_the_hourly_command_runs_the_job(now, django_capture_on_commit_callbacks, capsys):
    dupont = dealer()
    chats(dupont, 0, 5)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_usage_alerts")
    assert len(mail.outbox) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_jobs_at_once_send_each_threshold_once(clock):
    clock.now = NOW
    dupont = dealer()
    sent = []

    def twice():
        barrier = threading.Barrier(2)

        def job():
            try:
                barrier.wait()
                sent.append(usage_alerts_send(now=NOW))
            finally:
                connection.close()

        threads = [threading.Thread(target=job) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    chats(dupont, 0, 5)
    twice()
    chats(dupont, 5, 2)
    twice()
    assert sorted(sent) == [0, 0, 1, 1]
    assert len(mail.outbox) == 2
    assert sorted(UsageAlert.objects.values_list("threshold", flat=True)) == [80, 100]
