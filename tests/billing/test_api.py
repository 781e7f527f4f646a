"""POST /api/v1/chat-events: authentication, the document, the answers, the schema."""

import json
import re
import subprocess
import sys
from datetime import date

import pytest
from django.conf import settings
from django.urls import reverse

from billing.models import ApiToken, ChatEvent
from billing.usage.tokens import api_token_authenticate, api_token_create
from billing.usage.validate import MAX_BATCH
from tests.factories import CustomerFactory, UserFactory, subscribe

pytestmark = pytest.mark.django_db
URL = "/api/v1/chat-events"


@pytest.fixture
def dealer():
    customer = CustomerFactory(code="garage-dupont")
    subscribe(customer, "GROW", first_month=date(2026, 1, 1))
    return customer


@pytest.fixture
def token():
    return api_token_create(source="chat-platform")[1]


def event(**fields):
    return {
        "id": "chat-1",
        "customer": "garage-dupont",
        "tariff": "test_drive",
        "actor": "agent",
        "occurred_at": "2026-11-20T10:00:00+01:00",
        **fields,
    }


def post(client, body, token=None, language="en", raw=False):
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    data = body if raw else json.dumps(body)
    return client.post(URL, data, content_type="application/json", **headers)


def test_a_batch_is_stored_and_answered_with_counts_and_reasons(client, dealer, token):
    response = post(
        client,
        {
            "events": [
                event(),
                event(id="chat-2", tariff="quote_request", actor="bot"),
                event(id="chat-3", tariff="contact_engaged", actor="team", contact="+33600000001"),
                event(),
            ]
        },
        token,
    )
    assert response.status_code == 200
    assert response.json() == {
        "accepted": 2,
        "duplicates": 1,
        "rejected": [
            {
                "index": 1,
                "id": "chat-2",
                "errors": {"tariff": "quote_request is not offered for bot"},
            }
        ],
    }
    stored = ChatEvent.objects.order_by("external_id")
    assert [(e.source, e.external_id, e.points) for e in stored] == [
        ("chat-platform", "chat-1", 65),
        ("chat-platform", "chat-3", 2),
    ]
    again = post(client, {"events": [event()]}, token)
    assert again.json() == {"accepted": 0, "duplicates": 1, "rejected": []}


def test_messages_follow_the_accept_language_header_french_by_default(client, dealer, token):
    body = {"events": [event(customer="nobody")]}
    english = post(client, body, token, language="en").json()["rejected"][0]["errors"]
    french = post(client, body, token, language="fr").json()["rejected"][0]["errors"]
    default = client.post(
        URL, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert english == {"customer": "'nobody' is not a known customer."}
    assert french == {"customer": "'nobody' n'est pas un client connu."}
    assert default.json()["rejected"][0]["errors"] == french


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer cp_not-a-token", "Basic dXNlcjpwYXNz", "cp_missing-the-scheme"],
)
def test_without_a_valid_token_the_answer_is_401(client, dealer, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.post(
        URL,
        json.dumps({"events": [event()]}),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
        **headers,
    )
    assert response.status_code == 401
    assert response.json() == {
        "detail": "A valid API token is required: Authorization: Bearer <token>."
    }
    assert response["WWW-Authenticate"] == "Bearer"
    assert ChatEvent.objects.count() == 0


def test_a_revoked_token_gets_401(client, dealer):
    stored, raw = api_token_create(source="chat-platform")
    assert post(client, {"events": []}, raw).status_code == 200
    ApiToken.objects.filter(pk=stored.pk).update(revoked_at="2026-11-27T10:00:00Z")
    response = post(client, {"events": [event()]}, raw)
    assert response.status_code == 401
    assert ChatEvent.objects.count() == 0


def test_tokens_are_stored_hashed_and_their_use_is_recorded(dealer):
    stored, raw = api_token_create(source="chat-platform")
    assert raw.startswith("cp_") and len(raw) > 40
    assert raw not in stored.key_hash and stored.prefix == raw[:10]
    assert not ApiToken.objects.filter(key_hash=raw).exists()
    assert api_token_authenticate(raw) == stored
    assert ApiToken.objects.get().last_used_at is not None
    assert api_token_authenticate(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("{", "The body is not JSON"),
        ("[]", 'The body is a JSON object {"events": [ … ]}, each event a JSON object.'),
        ('{"event": []}', 'The body is a JSON object {"events": [ … ]}'),
        ('{"events": {}}', 'The body is a JSON object {"events": [ … ]}'),
        ('{"events": [1]}', 'The body is a JSON object {"events": [ … ]}'),
        ('{"events": [], "more": 1}', 'The body is a JSON object {"events": [ … ]}'),
        (b"\xff\xfe", "The body is not JSON"),
        ('{"events": [{"meta": {"x": NaN}}]}', "NaN is not a JSON number"),
        ('{"events": [{"meta": {"x": 1e400}}]}', "1e400 is not a JSON number"),
        ('{"events": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
)
def test_a_body_that_is_not_such_a_document_is_a_400(client, token, body, detail):
    response = post(client, body, token, raw=True)
    assert response.status_code == 400
    assert detail in response.json()["detail"]


def test_a_body_that_is_not_sent_as_json_is_a_415(client, token):
    response = client.post(
        URL,
        json.dumps({"events": []}),
        content_type="text/plain",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 415
    assert response.json() == {
        "detail": "Send the body as JSON, with Content-Type: application/json (not text/plain)."
    }


def test_more_than_1000_events_is_a_413_and_stores_nothing(client, dealer, token):
    events = [event(id=f"chat-{n}") for n in range(MAX_BATCH + 1)]
    response = post(client, {"events": events}, token)
    assert response.status_code == 413
    assert response.json() == {
        "detail": "1001 events: a batch holds at most 1000; send them in parts."
    }
    assert ChatEvent.objects.count() == 0
    assert post(client, {"events": events[:MAX_BATCH]}, token).json()["accepted"] == MAX_BATCH


def test_a_body_bigger_than_any_batch_is_a_413_unread(client, token):
    response = client.post(
        URL,
        "x",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT_LANGUAGE="en",
        CONTENT_LENGTH="99999999",
    )
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The body has 99999999 bytes")


def test_the_openapi_schema_and_the_docs_page(client):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/chat-events"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["events"]["maxItems"] == 1000
    event_schema = body["properties"]["events"]["items"]
    assert event_schema["required"] == ["id", "customer", "tariff", "actor", "occurred_at"]
    assert event_schema["properties"]["actor"]["enum"] == ["agent", "bot", "team"]
    assert set(operation["responses"]) == {"200", "400", "401", "413", "415"}
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "/api/v1/openapi.json" in page
    # Served from our own static files: the docs work offline.
    assert not re.search(r"(src|href)=\"https?://", page)


def test_create_api_token_prints_the_token_once_and_it_works(tmp_path, client, dealer):
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path),
        "DEBUG": "1",
        "ENV_FILE": "/dev/null",
    }
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    made = subprocess.run(
        [*manage, "create_api_token", "chat-platform"], env=env, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    raw = made.stdout.strip()
    assert re.fullmatch(r"cp_[A-Za-z0-9_-]{43}", raw)
    assert "chat-platform" in made.stderr
    bad = subprocess.run(
        [*manage, "create_api_token", "Chat Platform"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "'Chat Platform': source:" in bad.stderr


def test_staff_create_a_token_in_the_admin_and_see_it_once(client):
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:billing_apitoken_add"),
        {"source": "chat-platform"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = re.search(r'value="(cp_[^"]+)"', response.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert api_token_authenticate(raw) == token
    assert token.created_by.username == "boss"
    page = client.get(reverse("admin:billing_apitoken_change", args=[token.pk])).content.decode()
    assert raw not in page and token.prefix in page
    client.post(
        reverse("admin:billing_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert api_token_authenticate(raw) is None
    assert ApiToken.objects.get().revoked_at is not None
