"""Tariff versions: at most one change waits to take effect, and replacing it never reprices."""

import re
from datetime import date

import pytest
from django.urls import reverse

from billing.catalog.tariffs import TariffBook, tariff_change
from billing.models import Tariff, TariffRate
from billing.months import current_month

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 20)


def change(code, bot, effective_from, today=TODAY):
    return tariff_change(
        tariff=Tariff.objects.get(code=code),
        points_agent=None,
        points_bot=bot,
        points_team=None,
        effective_from=effective_from,
        today=today,
    )


def test_postponing_a_scheduled_change_moves_it():
    reminder = Tariff.objects.get(code="whatsapp_reminder")
    first = change("whatsapp_reminder", 2, date(2026, 12, 1))
    second = change("whatsapp_reminder", 2, date(2027, 1, 1))  # postponed a month
    first.refresh_from_db()
    assert first.cancelled_at is not None and second.cancelled_at is None
    assert TariffBook().price(reminder.code, "bot", date(2026, 12, 15)).points == 1
    assert TariffBook().price(reminder.code, "bot", date(2027, 1, 1)).points == 2
    book = TariffBook()
    assert book.price("whatsapp_reminder", "bot", date(2026, 12, 15)).points == 1
    assert book.price("whatsapp_reminder", "bot", date(2027, 1, 1)).points == 2
    reminder.refresh_from_db()
    assert (reminder.points_bot, reminder.effective_from) == (2, date(2027, 1, 1))
    assert TariffRate.objects.filter(tariff=reminder).count() == 3  # nothing deleted


def test_a_change_in_force_is_never_cancelled():
    change("crm_lead", 7, date(2026, 12, 1))
    change("crm_lead", 8, date(2027, 1, 1), today=date(2026, 12, 5))  # December's is in force
    assert (
        TariffRate.objects.filter(tariff__code="crm_lead", cancelled_at__isnull=False).count() == 0
    )
    book = TariffBook()
    assert [
        book.price("crm_lead", "bot", day).points
        for day in (date(2026, 11, 30), date(2026, 12, 1), date(2027, 1, 1))
    ] == [6, 7, 8]


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("s", "s@x.example", "pw-123456"))
    return client


def test_the_list_shows_the_points_in_force_today_beside_the_scheduled_change(staff):
    next_first = current_month().next().first_day
    tariff_change(
        tariff=Tariff.objects.get(code="whatsapp_reminder"),
        points_agent=None,
        points_bot=2,
        points_team=None,
        effective_from=next_first,
    )
    html = staff.get(reverse("admin:billing_tariff_changelist"), HTTP_ACCEPT_LANGUAGE="en")
    row = next(line for line in html.content.decode().split("<tr") if ">whatsapp_reminder<" in line)
    assert "agent — · bot 1 · team —" in row  # in force today
    assert re.search(r'name="form-\d+-points_bot" value="2"', row)  # the scheduled change


def test_the_history_marks_a_replaced_change_cancelled(staff):
    reminder = Tariff.objects.get(code="whatsapp_reminder")
    following = current_month().next()
    for effective_from in (following.first_day, following.next().first_day):
        tariff_change(
            tariff=reminder,
            points_agent=None,
            points_bot=2,
            points_team=None,
            effective_from=effective_from,
        )
    html = staff.get(
        reverse("admin:billing_tariff_change", args=[reminder.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert html.count("replaced before it took effect") == 1
    assert html.count("bot: 1 → 2") == 1  # the version in force compares with the one before
    assert "first version" in html


def test_a_change_a_chat_may_already_be_priced_with_is_never_replaced(clock):
    """Chats may be stamped up to 5 minutes ahead of our clock: at 23:57 on 30 November a chat
    of 00:01 on 1 December is priced with December's change, so that change stays."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from tests.factories import CustomerFactory, record, subscribe

    paris = ZoneInfo("Europe/Paris")
    customer = CustomerFactory()
    subscribe(customer, "GROW")
    clock.now = datetime(2026, 11, 20, 9, 0, tzinfo=paris)
    engaged = Tariff.objects.get(code="contact_engaged")
    tariff_change(
        tariff=engaged,
        points_agent=None,
        points_bot=None,
        points_team=3,
        effective_from=date(2026, 12, 1),
    )
    clock.now = datetime(2026, 11, 30, 23, 57, tzinfo=paris)
    early = record(
        customer,
        "contact_engaged",
        "team",
        datetime(2026, 12, 1, 0, 1, tzinfo=paris),
        contact="early",
    )
    assert early.points == 3
    tariff_change(  # meant to postpone December's change: too late, it is settled
        tariff=engaged,
        points_agent=None,
        points_bot=None,
        points_team=3,
        effective_from=date(2027, 1, 1),
    )
    assert TariffRate.objects.filter(tariff=engaged, cancelled_at__isnull=False).count() == 0
    assert TariffBook().price("contact_engaged", "team", date(2026, 12, 15)).points == 3


def test_codes_cannot_differ_only_by_case():
    from django.core.exceptions import ValidationError

    from billing.models import Plan

    tariff = Tariff(
        code="CRM_LEAD",
        category="other",
        description_fr="x",
        description_en="x",
        points_bot=6,
        effective_from=date(2026, 12, 1),
    )
    with pytest.raises(ValidationError) as refused:
        tariff.full_clean()
    assert refused.value.message_dict["code"] == [
        "Use lower-case letters, digits and underscores only."
    ]
    with pytest.raises(ValidationError) as refused:
        Plan(code="grow2027", name_fr="x", name_en="x", is_custom=True).full_clean()
    assert refused.value.message_dict["code"] == ["Use capital letters, digits and underscores."]


def test_the_cached_book_follows_every_change_of_the_tariff_tables():
    """tariff_book() reuses the process's book (PostgreSQL) only while no tariff nor version was
    written: a change, a new tariff, an edit of a tariff's unit each give a book that shows it."""
    from billing.catalog.tariffs import tariff_book
    from billing.models import Unit

    day = date(2027, 1, 15)
    first = tariff_book()
    assert first.price("whatsapp_reminder", "bot", day).points == 1
    assert (tariff_book() is first) == _pg()  # PostgreSQL: the same book while nothing changed
    change("whatsapp_reminder", 5, date(2027, 1, 1))
    assert tariff_book().price("whatsapp_reminder", "bot", day).points == 5
    reminder = Tariff.objects.get(code="whatsapp_reminder")
    assert tariff_book().tariff("whatsapp_reminder").unit == reminder.unit == Unit.CHAT
    Tariff.objects.filter(pk=reminder.pk).update(unit=Unit.CONTACT_MONTH)
    assert tariff_book().tariff("whatsapp_reminder").unit == Unit.CONTACT_MONTH
    new = Tariff.objects.create(
        code="brand_new",
        category=reminder.category,
        description_fr="Nouveau",
        description_en="New",
        points_bot=3,
        effective_from=date(2026, 1, 1),
    )
    TariffRate.objects.create(tariff=new, effective_from=date(2026, 1, 1), points_bot=3)
    assert tariff_book().price("brand_new", "bot", day).points == 3
    TariffRate.objects.filter(tariff=new).delete()
    with pytest.raises(Exception, match="no points yet"):
        tariff_book().price("brand_new", "bot", day)


def _pg() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"
