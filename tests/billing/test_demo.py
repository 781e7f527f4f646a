from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from billing.demo import DEALERS, load_demo
from billing.models import ChatEvent, Subscription, TariffRate
from billing.months import Month
from billing.usage import month_statement
from customers.models import Customer

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def test_demo_data_is_idempotent_and_shows_every_plan():
    first = load_demo(now=NOW)
    counts = (
        Customer.objects.count(),
        Subscription.objects.count(),
        ChatEvent.objects.count(),
        TariffRate.objects.count(),
        get_user_model().objects.count(),
    )
    second = load_demo(now=NOW)
    assert first["new_events"] == counts[2] > 5000
    assert second["new_events"] == 0
    assert counts == (
        Customer.objects.count(),
        Subscription.objects.count(),
        ChatEvent.objects.count(),
        TariffRate.objects.count(),
        get_user_model().objects.count(),
    )
    assert ChatEvent.objects.filter(occurred_at__gt=NOW).count() == 0

    over = under = 0
    plans = set()
    for customer in Customer.objects.all():
        for month in (Month(2026, 10), Month(2026, 11)):  # last month and the current one
            statement = month_statement(customer=customer, month=month)
            assert statement.points_used > 0
            plans.add(statement.plan)
        over += statement.overage_points > 0
        under += statement.overage_points == 0
    assert plans == {"BASE", "GROW", "SCALE", "ENTERPRISE"}
    assert over and under
    for customer in Customer.objects.all():
        customer.full_clean()  # staff can open and save every demo dealer


def test_running_later_adds_only_the_new_chats():
    load_demo(now=NOW)
    before = ChatEvent.objects.count()
    result = load_demo(now=datetime(2026, 11, 28, 18, 0, tzinfo=UTC))
    assert result["new_events"] == ChatEvent.objects.count() - before > 0


def test_command_prints_the_logins(capsys):
    call_command("load_demo")
    out = capsys.readouterr().out
    assert "login admin  password chatpoints-admin" in out
    dealer_logins = [dealer.login for dealer in DEALERS if dealer.login]
    assert len(dealer_logins) == 2
    for user, password in dealer_logins:
        assert f"login {user}  password {password}" in out
        assert get_user_model().objects.get(username=user).check_password(password)


def test_a_tariff_staff_stopped_offering_is_skipped():
    from datetime import timedelta

    from billing.models import Tariff
    from billing.tariffs import tariff_change

    load_demo(now=NOW)
    tariff_change(
        tariff=Tariff.objects.get(code="mql_to_sql"),
        points_agent=None,
        points_bot=None,
        points_team=None,
        effective_from=(NOW + timedelta(days=1)).date(),
        today=NOW.date(),
    )
    later = NOW + timedelta(days=3)
    assert load_demo(now=later)["new_events"] > 0
    stopped = ChatEvent.objects.filter(
        tariff__code="mql_to_sql", occurred_at__gte=NOW + timedelta(days=1, hours=1)
    )
    assert not stopped.exists()
