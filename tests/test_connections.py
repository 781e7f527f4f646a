"""Kept database connections (CONN_MAX_AGE) are checked before a request reuses them: after
PostgreSQL dropped one (a restart, a failover, an idle timeout), the next request opens a new one
instead of answering 500 (CONN_HEALTH_CHECKS)."""

import json
import time

import psycopg
import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import Client

from billing.usage.tokens import api_token_create

pytestmark = pytest.mark.postgres


def _close_old_connections(**kwargs):
    close_old_connections()


@pytest.fixture
def client_as_in_production():
    """The test client with Django's connection handling around each request, as under gunicorn
    (the test client turns it off: it keeps its test's connection whatever happens)."""
    request_started.connect(_close_old_connections)
    request_finished.connect(_close_old_connections)
    yield Client(raise_request_exception=False)
    request_started.disconnect(_close_old_connections)
    request_finished.disconnect(_close_old_connections)


def terminate(pid: int) -> None:
    """Drop a connection as PostgreSQL does when it restarts: from another connection."""
    database = connection.settings_dict
    with psycopg.connect(
        dbname=database["NAME"],
        user=database["USER"],
        password=database["PASSWORD"] or None,
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        autocommit=True,
    ) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        for _ in range(100):  # pg_terminate_backend only signals the backend: wait for its end
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                return
            time.sleep(0.05)
    raise AssertionError(f"backend {pid} still there")


def test_a_dropped_connection_is_replaced_before_the_next_request(
    transactional_db, django_db_serialized_rollback, client_as_in_production
):
    # Serialized like every other transactional test: a flush that re-creates the content types
    # followed by a serialized test's restore would insert them twice.
    client = client_as_in_production
    connection.close()  # the next one is opened with the settings as configured
    _stored, token = api_token_create(source="chat-platform")

    def post():
        return client.post(
            "/api/v1/chat-events",
            json.dumps({"events": []}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    assert connection.settings_dict["CONN_MAX_AGE"] > 0  # connections are kept between requests
    assert post().status_code == 200
    kept = connection.connection.info.backend_pid
    assert post().status_code == 200
    assert connection.connection.info.backend_pid == kept  # the same connection, reused

    terminate(kept)
    response = post()
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 0, "duplicates": 0, "rejected": []}
    assert connection.connection.info.backend_pid != kept
