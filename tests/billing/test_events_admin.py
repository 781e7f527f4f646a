"""Staff and the chats that came in: late and unbilled chats shown, voiding with a reason."""

from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from billing.models import ChatEvent
from billing.months import Month
from billing.usage.selectors import month_usage
from billing.usage.store import events_ingest
from tests.factories import CustomerFactory, UserFactory, issued_invoice, subscribe

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:billing_chatevent_changelist"


@pytest.fixture
def staff(client):
    user = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


@pytest.fixture
def dealer():
    customer = CustomerFactory(code="garage-dupont")
    subscribe(customer, "GROW", first_month=date(2026, 10, 1))
    issued_invoice(customer, date(2026, 10, 1), datetime(2026, 11, 2, tzinfo=UTC))
    return customer


def chat(external_id, occurred_at, customer="garage-dupont"):
    return {
        "id": external_id,
        "customer": customer,
        "tariff": "test_drive",
        "actor": "agent",
        "occurred_at": occurred_at,
    }


@pytest.fixture
def chats(dealer):
    CustomerFactory(code="no-plan")
    events_ingest(
        source="platform",
        events=[
            chat("late-1", "2026-10-30T10:00:00+01:00"),
            chat("now-1", "2026-11-20T10:00:00+01:00"),
            chat("now-2", "2026-11-21T10:00:00+01:00"),
            chat("sep-1", "2026-09-30T10:00:00+02:00"),  # before the subscription: unbilled
            chat("other-1", "2026-11-20T10:00:00+01:00", customer="no-plan"),
        ],
    )


def listed(client, **params):
    response = client.get(reverse(CHANGELIST), params, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return sorted(event.external_id for event in response.context["cl"].result_list)


def test_staff_filter_late_unbilled_and_voided_chats(client, staff, chats):
    assert listed(client, billing="late") == ["late-1"]
    assert listed(client, billing="unbilled") == ["other-1", "sep-1"]
    ChatEvent.objects.filter(external_id="now-2").update(
        voided_at=datetime(2026, 11, 25, tzinfo=UTC), void_reason="test"
    )
    assert listed(client, counted="voided") == ["now-2"]
    assert "now-2" not in listed(client, counted="yes")
    page = client.get(reverse(CHANGELIST), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "voided" in page and "late" in page


def test_the_customer_shows_its_late_and_unbilled_chats(client, staff, chats, dealer):
    page = client.get(
        reverse("admin:customers_customer_change", args=[dealer.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "1 late chat (its month was already invoiced)" in page
    assert "1 unbilled chat (no plan in force that month)" in page
    changelist = client.get(reverse("admin:customers_customer_changelist"))
    row = next(c for c in changelist.context["cl"].result_list if c.code == "garage-dupont")
    assert row.late_count == 1
    assert f"customer__id__exact={dealer.pk}&amp;billing=late" in changelist.content.decode()


def test_staff_void_chats_with_a_reason_after_confirming(client, staff, chats, dealer):
    url = reverse(CHANGELIST)
    selected = list(
        ChatEvent.objects.filter(external_id__in=["now-1", "now-2"]).values_list("pk", flat=True)
    )
    ask = client.post(
        url, {"action": "void_events", "_selected_action": selected}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert ask.status_code == 200
    assert "Void these chats" in ask.content.decode()
    assert ChatEvent.objects.filter(voided_at__isnull=False).count() == 0
    no_reason = client.post(
        url,
        {"action": "void_events", "_selected_action": selected, "confirm": "1", "reason": ""},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert no_reason.status_code == 200
    assert "This field is required." in no_reason.content.decode()
    done = client.post(
        url,
        {
            "action": "void_events",
            "_selected_action": selected,
            "confirm": "1",
            "reason": "Duplicate sent by the old connector",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert done.status_code == 302
    voided = ChatEvent.objects.filter(voided_at__isnull=False)
    assert sorted(voided.values_list("external_id", flat=True)) == ["now-1", "now-2"]
    assert {(e.void_reason, e.voided_by) for e in voided} == {
        ("Duplicate sent by the old connector", staff)
    }
    assert month_usage(customer=dealer, month=Month(2026, 11)).points == 0
    assert ChatEvent.objects.count() == 5  # kept, never deleted


def test_voiding_needs_its_own_permission(client, chats):
    clerk = UserFactory(username="clerk", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_chatevent"))
    client.force_login(clerk)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert "void_events" not in response.content.decode()
    clerk.user_permissions.add(Permission.objects.get(codename="void_chatevent"))
    assert "void_events" in client.get(reverse(CHANGELIST)).content.decode()


def test_the_add_form_reports_the_services_refusal_on_its_field(client, staff, dealer):
    response = client.post(
        reverse("admin:billing_chatevent_add"),
        {
            "source": "admin",
            "external_id": "typed-1",
            "customer": dealer.pk,
            "tariff": ChatEvent._meta.get_field("tariff")
            .related_model.objects.get(code="quote_request")
            .pk,
            "actor": "bot",
            "contact": "",
            "occurred_at_0": "2026-11-20",
            "occurred_at_1": "10:00:00",
            "metadata": "{}",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "tariff": ["quote_request is not offered for bot"]
    }
    assert ChatEvent.objects.count() == 0
