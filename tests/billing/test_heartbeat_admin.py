"""The ingestion silences in the admin: listed per source with when staff were e-mailed and when
the source sent again, filtered by state, source and e-mail; read only."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from billing.models import HeartbeatSilence
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/billing/heartbeatsilence/"


@pytest.fixture
def silences():
    def at(day, hour):
        return datetime(2026, 11, day, hour, tzinfo=UTC)

    return [
        HeartbeatSilence.objects.create(
            source="chat-platform",
            last_event_at=at(2, 8),
            noticed_at=at(2, 11),
            alerted_at=at(2, 11),
            ended_at=at(2, 15),
        ),
        HeartbeatSilence.objects.create(
            source="chat-platform", last_event_at=at(9, 9), noticed_at=at(9, 12), alerted_at=None
        ),
        HeartbeatSilence.objects.create(
            source="legacy-crm", last_event_at=None, noticed_at=at(5, 10), alerted_at=at(5, 10)
        ),
    ]


@pytest.fixture
def viewer(client):
    user = UserFactory(username="ops", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="billing", codename="view_heartbeatsilence")
    )
    client.force_login(user)
    return user


def rows(client, **query):
    response = client.get(LIST, query, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_the_silences_are_listed_newest_first_with_their_state(client, viewer, silences):
    assert reverse("admin:billing_heartbeatsilence_changelist") == LIST
    ended, open_unsent, open_sent = silences
    assert rows(client) == [open_unsent, open_sent, ended]
    html = client.get(LIST, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Silences des sources" in html
    assert html.count("silencieuse") >= 2 and "terminée" in html
    assert "/admin/billing/chatevent/?source=legacy-crm" in html


def test_filters_by_state_source_and_e_mail(client, viewer, silences):
    ended, open_unsent, open_sent = silences
    assert rows(client, state="open") == [open_unsent, open_sent]
    assert rows(client, state="ended") == [ended]
    assert rows(client, source="chat-platform") == [open_unsent, ended]
    assert rows(client, alerted_at__isempty="1") == [open_unsent]
    assert rows(client, q="legacy") == [open_sent]


def test_read_only(client, viewer, silences):
    silence = silences[0]
    change = reverse("admin:billing_heartbeatsilence_change", args=[silence.pk])
    assert client.get(change).status_code == 200
    assert client.post(change, {"source": "other"}).status_code == 403
    assert client.get(reverse("admin:billing_heartbeatsilence_add")).status_code == 403
    delete = reverse("admin:billing_heartbeatsilence_delete", args=[silence.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert HeartbeatSilence.objects.get(pk=silence.pk).source == "chat-platform"


def test_staff_without_the_permission_do_not_see_it(client, silences):
    client.force_login(UserFactory(username="clerk", is_staff=True))
    assert client.get(LIST).status_code == 403
