"""Schemathesis against our own OpenAPI schema: no 5xx, answers match the schema, and a body
that breaks the schema is refused (400/413) or every event in it is rejected.

Schemathesis's own `negative_data_rejection` check expects a 4xx for any schema-violating body;
this API answers 200 to a well-formed batch and lists each refused event (so that the valid
events of a batch are stored), so the test checks that rule itself: such a request stores
nothing and its answer rejects the events."""

from datetime import date

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection

from billing.models import ChatEvent
from billing.usage.tokens import api_token_create
from tests.factories import CustomerFactory, subscribe

with override_settings(ALLOWED_HOSTS=["localhost"]):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture
def _keep_the_test_connection():
    """Requests go through the WSGI app, not Django's test client: as the test client does, keep
    Django from closing the test's database connection (and its transaction) after each one."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(db, settings, _keep_the_test_connection):
    settings.ALLOWED_HOSTS = ["localhost"]
    subscribe(CustomerFactory(code="garage-dupont"), "GROW", first_month=date(2026, 1, 1))
    return api_token_create(source="schemathesis")[1]


@schema.parametrize()
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_keeps_to_its_schema(case, token):
    before = ChatEvent.objects.count()
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"}, excluded_checks=[negative_data_rejection]
    )
    assert response.status_code < 500
    if case.meta.generation.mode == GenerationMode.NEGATIVE:
        if response.status_code == 200:
            body = response.json()
            assert body["accepted"] == 0 and body["rejected"], (case.body, body)
            assert ChatEvent.objects.count() == before
        else:
            assert response.status_code in (400, 401, 405, 413, 415), (case.body, response.text)
