"""The billing admin as staff use it: plans, tariffs and their history, chat events."""

import datetime
import re
from datetime import UTC
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.catalog.tariffs import change_day, tariff_change
from billing.models import ChatEvent, Plan, Tariff, TariffRate
from billing.months import billing_tz, current_month, today
from billing.usage.validate import InvalidChatEvent
from tests.factories import CustomerFactory, record, subscribe

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "pw-12345678")


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def next_first():
    """The first day of next month: the earliest date a monthly tariff may change."""
    return current_month().next().first_day


def _chat_ids(response):
    return {event.external_id for event in response.context["cl"].result_list}


# --- every page loads, in French and in English ---------------------------------------------


@pytest.mark.parametrize("headers", [{}, EN], ids=["fr", "en"])
def test_billing_admin_pages_load_with_data_in_both_languages(
    staff, staff_user, paris, next_first, headers
):
    customer = CustomerFactory(code="garage-lyon")
    subscribe(customer, "GROW", first_month=current_month().previous().first_day)
    event = record(customer, "test_drive", "agent", paris(2026, 3, 2, 9, 0), external_id="a-1")
    record(
        customer,
        "contact_engaged",
        "team",
        paris(2026, 3, 2, 9, 5),
        contact="+33600000001",
        external_id="a-2",
    )
    test_drive = Tariff.objects.get(code="test_drive")
    rate = tariff_change(
        tariff=test_drive,
        points_agent=70,
        points_bot=40,
        points_team=None,
        effective_from=next_first,
        user=staff_user,
    )
    grow = Plan.objects.get(code="GROW")

    pages = {
        "admin:index": [],
        "admin:billing_plan_changelist": [],
        "admin:billing_plan_add": [],
        "admin:billing_plan_change": [grow.pk],
        "admin:billing_tariff_changelist": [],
        "admin:billing_tariff_add": [],
        "admin:billing_tariff_change": [test_drive.pk],
        "admin:billing_tariffrate_changelist": [],
        "admin:billing_tariffrate_change": [rate.pk],  # view only
        "admin:billing_chatevent_changelist": [],
        "admin:billing_chatevent_add": [],
        "admin:billing_chatevent_change": [event.pk],  # view only
    }
    language = "en" if headers else "fr"
    for name, args in pages.items():
        response = staff.get(reverse(name, args=args), **headers)
        assert (name, response.status_code) == (name, 200)
        assert (name, response.context["LANGUAGE_CODE"]) == (name, language)

    tariffs = staff.get(reverse("admin:billing_tariff_changelist"), **headers)
    assert tariffs.context["cl"].result_count == 15
    history = staff.get(reverse("admin:billing_tariffrate_changelist"), **headers)
    assert history.context["cl"].result_count == 16  # 15 first versions + 1 change
    events = staff.get(reverse("admin:billing_chatevent_changelist"), **headers)
    assert [(e.external_id, e.points) for e in events.context["cl"].result_list] == [
        ("a-2", 2),  # newest first
        ("a-1", 65),
    ]
    plans = staff.get(reverse("admin:billing_plan_changelist"), **headers)
    assert [p.code for p in plans.context["cl"].result_list] == [
        "BASE",
        "GROW",
        "SCALE",
        "ENTERPRISE",
    ]
    # The tariff history can be read, never written by hand.
    assert staff.get(reverse("admin:billing_tariffrate_add"), **headers).status_code == 403


# --- tariffs: changelist editing -------------------------------------------------------------


def _post_tariff_row(client, tariff, **changes):
    """POST the tariffs changelist with one edited row, as the list_editable form does."""
    row = {
        "points_agent": tariff.points_agent,
        "points_bot": tariff.points_bot,
        "points_team": tariff.points_team,
        "effective_from": tariff.effective_from,
    }
    row.update(changes)
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "form-0-id": str(tariff.pk),
        "_save": "Save",
    }
    for name, value in row.items():
        if isinstance(value, datetime.date):
            value = value.isoformat()
        data[f"form-0-{name}"] = "" if value is None else str(value)
    return client.post(reverse("admin:billing_tariff_changelist"), data, **EN)


def _rates(code):
    return list(
        TariffRate.objects.filter(tariff__code=code)
        .order_by("effective_from", "id")
        .values_list("effective_from", "points_agent", "points_bot", "points_team")
    )


def test_tariff_change_in_changelist_is_scheduled_and_never_retroactive(
    staff, staff_user, paris, next_first
):
    customer = CustomerFactory(code="garage-lyon")
    subscribe(customer, "GROW", first_month=current_month().first_day)
    now = datetime.datetime.now(tz=UTC)
    before = record(customer, "test_drive", "agent", now, external_id="before-change")
    test_drive = Tariff.objects.get(code="test_drive")
    rates_before = TariffRate.objects.count()

    response = _post_tariff_row(staff, test_drive, points_agent=70, effective_from=next_first)

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:billing_tariff_changelist")
    assert TariffRate.objects.count() == rates_before + 1
    new = TariffRate.objects.filter(tariff=test_drive).latest("id")
    assert (new.effective_from, new.points_agent, new.points_bot, new.points_team) == (
        next_first,
        70,
        40,
        None,
    )
    assert new.changed_by == staff_user
    assert _rates("test_drive") == [
        (datetime.date(2022, 1, 1), 65, 40, None),
        (next_first, 70, 40, None),
    ]
    test_drive.refresh_from_db()
    assert (test_drive.points_agent, test_drive.points_bot, test_drive.effective_from) == (
        70,
        40,
        next_first,
    )
    # The changelist row shows the newest version.
    page = staff.get(reverse("admin:billing_tariff_changelist"), **EN)
    index = [t.code for t in page.context["cl"].result_list].index("test_drive")
    html = page.content.decode()
    assert re.search(rf'name="form-{index}-points_agent" value="70"', html)
    shown = next_first.strftime("%d/%m/%Y")  # English in day-month order
    assert re.search(rf'name="form-{index}-effective_from" value="{shown}"', html)

    # Never retroactive: stored chats keep their points, today costs 65, the new date 70.
    before.refresh_from_db()
    assert before.points == 65
    assert record(customer, "test_drive", "agent", now).points == 65
    eve = next_first - datetime.timedelta(days=1)
    last_evening = paris(eve.year, eve.month, eve.day, 23, 59)
    first_minute = paris(next_first.year, next_first.month, 1, 0, 0)
    later = first_minute + datetime.timedelta(hours=1)  # chats are recorded once they happened
    assert record(customer, "test_drive", "agent", last_evening, now=later).points == 65
    assert record(customer, "test_drive", "agent", first_minute, now=later).points == 70
    assert record(customer, "test_drive", "bot", first_minute, now=later).points == 40
    assert list(ChatEvent.objects.order_by("id").values_list("points", flat=True)) == [
        65,
        65,
        65,
        70,
        40,
    ]


@pytest.mark.parametrize("days", [0, -1, -400], ids=["today", "yesterday", "last-year"])
def test_tariff_change_effective_today_or_earlier_is_refused(staff, days):
    test_drive = Tariff.objects.get(code="test_drive")
    effective = today() + datetime.timedelta(days=days)
    rates_before = TariffRate.objects.count()

    response = _post_tariff_row(staff, test_drive, points_agent=70, effective_from=effective)

    assert response.status_code == 200
    expected = (
        f"effective from {effective.isoformat()}: a tariff change takes effect after today "
        f"({change_day().isoformat()}), never retroactively."
    )
    form = response.context["cl"].formset.forms[0]
    assert form.errors["effective_from"] == [expected]
    assert expected in response.content.decode()
    assert TariffRate.objects.count() == rates_before
    test_drive.refresh_from_db()
    assert (test_drive.points_agent, test_drive.effective_from) == (65, datetime.date(2022, 1, 1))
    assert _rates("test_drive") == [(datetime.date(2022, 1, 1), 65, 40, None)]


def test_changing_points_without_a_new_date_is_refused(staff):
    """Keeping the old effective date would reprice every chat since 2022."""
    test_drive = Tariff.objects.get(code="test_drive")

    response = _post_tariff_row(staff, test_drive, points_agent=70)

    assert response.status_code == 200
    assert response.context["cl"].formset.forms[0].errors["effective_from"] == [
        f"effective from 2022-01-01: a tariff change takes effect after today "
        f"({change_day().isoformat()}), never retroactively."
    ]
    assert _rates("test_drive") == [(datetime.date(2022, 1, 1), 65, 40, None)]


def test_contact_tariff_changes_only_on_the_first_of_a_month(staff, next_first):
    contact_engaged = Tariff.objects.get(code="contact_engaged")
    second = next_first + datetime.timedelta(days=1)
    rates_before = TariffRate.objects.count()

    refused = _post_tariff_row(staff, contact_engaged, points_team=3, effective_from=second)

    assert refused.status_code == 200
    expected = (
        f"effective from {second.isoformat()}: contact_engaged is charged per contact per month, "
        "so its points change on the first day of a month."
    )
    assert refused.context["cl"].formset.forms[0].errors["effective_from"] == [expected]
    assert expected in refused.content.decode()
    assert TariffRate.objects.count() == rates_before

    accepted = _post_tariff_row(staff, contact_engaged, points_team=3, effective_from=next_first)

    assert accepted.status_code == 302
    assert _rates("contact_engaged") == [
        (datetime.date(2022, 1, 1), None, None, 2),
        (next_first, None, None, 3),
    ]


# --- tariff change page: the history inline -------------------------------------------------


def _history_column(html, column):
    return re.findall(rf'<td class="field-{column}">\s*<p>(.*?)</p>', html)


def test_tariff_page_shows_history_with_what_changed(staff, staff_user, next_first):
    test_drive = Tariff.objects.get(code="test_drive")
    url = reverse("admin:billing_tariff_change", args=[test_drive.pk])
    _post_tariff_row(staff, test_drive, points_agent=70, effective_from=next_first)

    response = staff.get(url, **EN)

    html = response.content.decode()
    assert response.status_code == 200
    rates = [admin_form.original for admin_form in response.context["inline_admin_formsets"][0]]
    assert [(r.effective_from, r.points_agent) for r in rates] == [
        (next_first, 70),  # newest first
        (datetime.date(2022, 1, 1), 65),
    ]
    assert _history_column(html, "what_changed") == ["agent: 65 → 70", "first version"]
    assert _history_column(html, "points_agent") == ["70", "65"]
    assert _history_column(html, "changed_by") == [
        f'<a href="/admin/auth/user/{staff_user.pk}/change/">staff</a>',
        "-",  # the first versions were loaded by a migration
    ]
    # Points and the history are only changed through a new version: no input for the rates.
    assert 'name="rates-0-points_agent"' not in html


@pytest.fixture
def test_drive_with_five_versions(staff_user):
    test_drive = Tariff.objects.get(code="test_drive")
    month = current_month().next()
    for points_agent, points_bot in ((70, 40), (75, None), (75, None), (80, 45)):
        tariff_change(
            tariff=test_drive,
            points_agent=points_agent,
            points_bot=points_bot,
            points_team=None,
            effective_from=month.first_day,
            user=staff_user,
            # each change made the day before it takes effect, once the previous one is in force
            today=month.first_day - datetime.timedelta(days=1),
        )
        month = month.next()
    return test_drive


def test_history_says_what_changed_in_every_version(staff, test_drive_with_five_versions):
    url = reverse("admin:billing_tariff_change", args=[test_drive_with_five_versions.pk])

    html = staff.get(url, **EN).content.decode()

    assert _history_column(html, "what_changed") == [
        "agent: 75 → 80; bot: not offered → 45",
        "—",  # a version that repeats the previous points
        "agent: 70 → 75; bot: 40 → not offered",
        "agent: 65 → 70",
        "first version",
    ]


def test_history_inline_queries_do_not_depend_on_the_number_of_versions(
    staff, test_drive_with_five_versions
):
    video_call = Tariff.objects.get(code="video_call")  # one version
    staff.get(reverse("admin:billing_tariff_change", args=[video_call.pk]))  # warm caches

    with CaptureQueriesContext(connection) as one_version:
        response = staff.get(reverse("admin:billing_tariff_change", args=[video_call.pk]), **EN)
    assert len(response.context["inline_admin_formsets"][0].formset.forms) == 1
    url = reverse("admin:billing_tariff_change", args=[test_drive_with_five_versions.pk])
    with CaptureQueriesContext(connection) as five_versions:
        response = staff.get(url, **EN)
    assert len(response.context["inline_admin_formsets"][0].formset.forms) == 5

    assert len(five_versions.captured_queries) == len(one_version.captured_queries)


# --- adding a tariff -------------------------------------------------------------------------


def test_adding_a_tariff_creates_its_first_version_and_prices_chats(staff, staff_user):
    url = reverse("admin:billing_tariff_add")
    form_page = staff.get(url, **EN).content.decode()
    assert 'name="rates-TOTAL_FORMS"' in form_page
    data = {
        "code": "payment_link",
        "category": "other",
        "unit": "chat",
        "description_fr": "Lien de paiement envoyé par le chatbot",
        "description_en": "Payment link sent by the chatbot",
        "points_agent": "",
        "points_bot": "5",
        "points_team": "",
        "effective_from": today().isoformat(),
        "rates-TOTAL_FORMS": "0",
        "rates-INITIAL_FORMS": "0",
        "rates-MIN_NUM_FORMS": "0",
        "rates-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }

    response = staff.post(url, data, **EN)

    assert response.status_code == 302
    tariff = Tariff.objects.get(code="payment_link")
    assert (tariff.category, tariff.unit, tariff.description_en) == (
        "other",
        "chat",
        "Payment link sent by the chatbot",
    )
    assert (tariff.points_agent, tariff.points_bot, tariff.points_team) == (None, 5, None)
    rate = TariffRate.objects.get(tariff=tariff)
    assert (rate.effective_from, rate.points_agent, rate.points_bot, rate.points_team) == (
        today(),
        None,
        5,
        None,
    )
    assert rate.changed_by == staff_user

    customer = CustomerFactory(code="garage-lyon")
    chat = record(customer, "payment_link", "bot", datetime.datetime.now(tz=UTC))
    assert (chat.tariff_id, chat.points) == (tariff.pk, 5)
    with pytest.raises(InvalidChatEvent, match="payment_link is not offered for agent"):
        record(customer, "payment_link", "agent", datetime.datetime.now(tz=UTC))


def test_editing_a_tariff_description_adds_no_version(staff, staff_user):
    test_drive = Tariff.objects.get(code="test_drive")
    rate = TariffRate.objects.get(tariff=test_drive)
    data = {
        "category": "sales_leads",
        "description_fr": "Rendez-vous pour un essai routier",
        "description_en": "Test drive booking",
        "points_agent": "65",
        "points_bot": "40",
        "points_team": "",
        "effective_from": "2022-01-01",
        "rates-TOTAL_FORMS": "1",
        "rates-INITIAL_FORMS": "1",
        "rates-MIN_NUM_FORMS": "0",
        "rates-MAX_NUM_FORMS": "1000",
        "rates-0-id": str(rate.pk),
        "rates-0-tariff": str(test_drive.pk),
        "_save": "Save",
    }

    response = staff.post(reverse("admin:billing_tariff_change", args=[test_drive.pk]), data, **EN)

    assert response.status_code == 302
    test_drive.refresh_from_db()
    assert (test_drive.description_en, test_drive.points_agent, test_drive.code) == (
        "Test drive booking",
        65,
        "test_drive",
    )
    assert _rates("test_drive") == [(datetime.date(2022, 1, 1), 65, 40, None)]


def test_tariff_page_keeps_code_and_unit_read_only(staff):
    contact_engaged = Tariff.objects.get(code="contact_engaged")
    response = staff.get(reverse("admin:billing_tariff_change", args=[contact_engaged.pk]), **EN)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="code"' not in html
    assert 'name="unit"' not in html
    assert 'name="points_team"' in html


# --- chat events -----------------------------------------------------------------------------


@pytest.fixture
def month_edge_events():
    """Chats either side of the Paris month boundaries (CET, UTC+1, from 25 October 2026)."""
    customer = CustomerFactory(code="garage-edge")
    subscribe(customer, "GROW", first_month=datetime.date(2026, 10, 1))
    for external_id, moment in (
        ("oct-mid", datetime.datetime(2026, 10, 15, 10, 0, tzinfo=UTC)),
        ("oct-last-evening", datetime.datetime(2026, 10, 31, 22, 30, tzinfo=UTC)),  # 23:30 Paris
        ("nov-first-night", datetime.datetime(2026, 10, 31, 23, 30, tzinfo=UTC)),  # 00:30, 1 Nov
        ("nov-last-evening", datetime.datetime(2026, 11, 30, 22, 59, tzinfo=UTC)),
        ("dec-first-night", datetime.datetime(2026, 11, 30, 23, 0, tzinfo=UTC)),  # 00:00, 1 Dec
    ):
        record(
            customer,
            "test_drive",
            "agent",
            moment,
            external_id=external_id,
            now=datetime.datetime(2027, 1, 1, tzinfo=UTC),
        )
    return customer


@pytest.mark.parametrize("headers", [{}, EN], ids=["fr", "en"])
def test_chat_events_filtered_by_billing_month_in_paris(staff, month_edge_events, headers):
    url = reverse("admin:billing_chatevent_changelist")

    november = staff.get(url, {"month": "2026-11"}, **headers)
    october = staff.get(url, {"month": "2026-10"}, **headers)
    december = staff.get(url, {"month": "2026-12"}, **headers)
    everything = staff.get(url, **headers)

    assert {r.status_code for r in (november, october, december, everything)} == {200}
    assert _chat_ids(november) == {"nov-first-night", "nov-last-evening"}
    assert _chat_ids(october) == {"oct-mid", "oct-last-evening"}
    assert _chat_ids(december) == {"dec-first-night"}
    assert len(_chat_ids(everything)) == 5
    assert "nov-first-night" in november.content.decode()
    assert "nov-first-night" not in october.content.decode()


def test_chat_event_filter_with_an_invalid_month_shows_nothing(staff, month_edge_events):
    response = staff.get(reverse("admin:billing_chatevent_changelist"), {"month": "2026-13"})

    assert response.status_code == 200
    assert _chat_ids(response) == set()


def yesterday():
    """A day whose 10:30 has passed, whatever the hour the suite runs."""
    return today() - datetime.timedelta(days=1)


def _chat_payload(customer, tariff, actor, day, time="10:30:00", **extra):
    return {
        "source": "admin",
        "external_id": "manual-1",
        "customer": str(customer.pk),
        "tariff": str(Tariff.objects.get(code=tariff).pk),
        "actor": actor,
        "contact": "",
        "occurred_at_0": day.isoformat(),
        "occurred_at_1": time,
        "metadata": "{}",
        "_save": "Save",
        **extra,
    }


def test_adding_a_chat_prices_it_with_the_tariff_of_its_day(staff, staff_user, next_first, clock):
    customer = CustomerFactory(code="garage-lyon")
    tariff_change(
        tariff=Tariff.objects.get(code="test_drive"),
        points_agent=70,
        points_bot=40,
        points_team=None,
        effective_from=next_first,
        user=staff_user,
    )
    url = reverse("admin:billing_chatevent_add")
    form_page = staff.get(url, **EN).content.decode()
    assert 'name="points"' not in form_page  # the points are computed, never typed

    day = yesterday()
    response = staff.post(
        url, _chat_payload(customer, "test_drive", "agent", day, points="999"), **EN
    )
    clock.now = datetime.datetime.combine(next_first, datetime.time(12), tzinfo=billing_tz())
    staff.force_login(staff_user)  # a month later, yesterday's session may have expired
    later = staff.post(
        url,
        _chat_payload(customer, "test_drive", "agent", next_first, external_id="manual-2"),
        **EN,
    )

    assert (response.status_code, later.status_code) == (302, 302)
    assert list(
        ChatEvent.objects.order_by("occurred_at").values_list(
            "source", "external_id", "customer__code", "tariff__code", "actor", "points"
        )
    ) == [
        ("admin", "manual-1", "garage-lyon", "test_drive", "agent", 65),
        ("admin", "manual-2", "garage-lyon", "test_drive", "agent", 70),
    ]
    # The admin's date and time are read in the billing time zone.
    assert ChatEvent.objects.get(external_id="manual-1").occurred_at == datetime.datetime.combine(
        day, datetime.time(10, 30), tzinfo=billing_tz()
    )


def test_adding_a_chat_with_a_tariff_not_offered_for_the_actor_is_refused(staff):
    customer = CustomerFactory(code="garage-lyon")

    response = staff.post(
        reverse("admin:billing_chatevent_add"),
        _chat_payload(customer, "quote_request", "bot", yesterday()),
        **EN,
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["tariff"] == [
        "quote_request is not offered for bot"
    ]
    assert "quote_request is not offered for bot" in response.content.decode()
    assert ChatEvent.objects.count() == 0


def test_adding_a_chat_with_an_external_id_already_stored_is_refused(staff, paris):
    customer = CustomerFactory(code="garage-lyon")
    record(customer, "test_drive", "agent", paris(2026, 3, 2, 9), source="admin", external_id="x")

    response = staff.post(
        reverse("admin:billing_chatevent_add"),
        _chat_payload(customer, "video_call", "bot", yesterday(), external_id="x"),
        **EN,
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Chat event with this Source and External id already exists."
    ]
    assert list(ChatEvent.objects.values_list("tariff__code", "points")) == [("test_drive", 65)]


def test_stored_chat_is_read_only_and_cannot_be_deleted(staff, paris):
    customer = CustomerFactory(code="garage-lyon")
    chat = record(
        customer,
        "workshop_appointment",
        "bot",
        paris(2026, 3, 2, 9, 15),
        contact="+33600000002",
        external_id="evt-42",
    )
    change_url = reverse("admin:billing_chatevent_change", args=[chat.pk])

    response = staff.get(change_url, **EN)

    html = response.content.decode()
    assert response.status_code == 200
    for field in ("source", "external_id", "customer", "tariff", "actor", "contact", "points"):
        assert f'name="{field}"' not in html
    assert 'name="occurred_at_0"' not in html
    readonly = re.findall(r'<div class="readonly">(.*?)</div>', html, re.S)
    assert "evt-42" in readonly
    assert "40" in readonly
    assert "+33600000002" in readonly
    assert 'class="deletelink"' not in html

    assert staff.get(reverse("admin:billing_chatevent_delete", args=[chat.pk])).status_code == 403
    assert staff.post(reverse("admin:billing_chatevent_delete", args=[chat.pk])).status_code == 403
    chat.refresh_from_db()
    assert (chat.external_id, chat.tariff.code, chat.points) == (
        "evt-42",
        "workshop_appointment",
        40,
    )


def test_saving_a_stored_chat_page_changes_nothing_and_never_errors(staff, paris):
    customer = CustomerFactory(code="garage-lyon")
    chat = record(customer, "test_drive", "agent", paris(2026, 3, 2, 9, 15), external_id="e-1")
    staff.raise_request_exception = False

    response = staff.post(
        reverse("admin:billing_chatevent_change", args=[chat.pk]),
        {"_save": "Save", "points": "1", "external_id": "changed"},
        **EN,
    )

    assert response.status_code in (302, 403)  # saved as is, or refused: never a 500
    assert list(ChatEvent.objects.values_list("external_id", "points")) == [("e-1", 65)]


def test_adding_a_contact_chat_without_contact_shows_the_field_error(staff):
    customer = CustomerFactory(code="garage-lyon")
    staff.raise_request_exception = False

    response = staff.post(
        reverse("admin:billing_chatevent_add"),
        _chat_payload(customer, "contact_engaged", "team", yesterday()),
        **EN,
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["contact"] == [
        "contact_engaged is charged per contact: the contact is required."
    ]
    assert ChatEvent.objects.count() == 0


# --- plans -----------------------------------------------------------------------------------


def test_plan_terms_are_read_only_and_plans_cannot_be_deleted(staff):
    grow = Plan.objects.get(code="GROW")
    url = reverse("admin:billing_plan_change", args=[grow.pk])

    page = staff.get(url, **EN)

    html = page.content.decode()
    assert page.status_code == 200
    for field in ("code", "is_custom", "monthly_fee", "included_points", "price_per_extra_point"):
        assert f'name="{field}"' not in html
    readonly = re.findall(r'<div class="readonly">(.*?)</div>', html, re.S)
    assert {"GROW", "499.00", "3000", "0.1400"} <= set(readonly)
    assert 'name="name_en"' in html

    response = staff.post(
        url,
        {
            "name_fr": "Croissance",
            "name_en": "Growth",
            "monthly_fee": "1.00",
            "included_points": "999999",
            "price_per_extra_point": "0.0001",
            "_save": "Save",
        },
        **EN,
    )

    assert response.status_code == 302
    grow.refresh_from_db()
    assert (grow.name_en, grow.monthly_fee, grow.included_points, grow.price_per_extra_point) == (
        "Growth",
        Decimal("499.00"),
        3000,
        Decimal("0.1400"),
    )
    assert 'class="deletelink"' not in html
    assert staff.get(reverse("admin:billing_plan_delete", args=[grow.pk])).status_code == 403
    assert staff.post(reverse("admin:billing_plan_delete", args=[grow.pk])).status_code == 403
    assert Plan.objects.filter(code="GROW").exists()
