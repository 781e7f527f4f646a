"""POST /api/v1/chat-events under stress: what a body may cost is bounded before it is parsed,
and nothing after the commit turns a stored batch into an error."""

import contextlib
import json
import tracemalloc

import pytest
from django.db import OperationalError, connection
from django.test import Client

from billing.models import ChatEvent
from billing.usage import store as ingest
from billing.usage.api import MAX_BODY_BYTES, MAX_BODY_VALUES, json_values
from billing.usage.validate import MAX_BATCH, MAX_META_BYTES

from .test_api import URL, dealer, event, post, token  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


# --- What a body may cost -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("{}", 1),
        ('{"events": []}', 3),  # 2 values, a key and an empty array
        ('{"a": [1, 2, {"b": "x,y:[{"}]}', 7),  # 6 values and 2 keys
        ('["a\\"[,", 1]', 2),  # an escaped quote does not end the string
        ('["\\\\", ",:[{"]', 2),  # an escaped backslash does not escape the quote after it
        ('"' + ",:[{" * 10 + '"', 1),  # the string itself
    ],
)
def test_json_values_counts_the_signs_outside_strings(text, count):
    assert json_values(text, limit=count) == count
    assert json_values(text, limit=10_000) >= count  # the fast count: strings' signs too


def test_json_values_stops_early_and_bounds_what_json_would_build():
    assert json_values("[" + "{}," * 1000 + "{}]", limit=10) > 10
    assert json_values('"a,"' * 1000, limit=10) == 11  # strings back to back: not JSON
    assert json_values('["abc,,,,,,', limit=0) == 1  # unterminated: json.loads stops there
    assert json_values('["\\x,,,,", 1, 2]', limit=0) == 1  # a bad escape: likewise


def test_the_largest_valid_event_fits_the_byte_bound(dealer, token, client):  # noqa: F811
    largest = event(
        id="0" + "😀" * 99,
        customer="garage-dupont".ljust(32, "x")[:32],
        tariff="contact_engaged",
        actor="team",
        contact="😀" * 200,
        occurred_at="2026-11-20T10:00:00.123456+01:00:00.123456",
        meta={"text": "é" * ((MAX_META_BYTES - len('{"text":""}')) // 2)},
    )
    written = json.dumps(largest, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(written) * MAX_BATCH < MAX_BODY_BYTES
    # And such a batch is read (events of an unknown customer, refused one by one, not as a body).
    response = post(client, {"events": [largest] * 3}, token)
    assert response.status_code == 200
    assert response.json()["rejected"][0]["errors"].keys() == {"customer"}


def test_a_body_of_tiny_objects_is_refused_before_it_is_parsed(client, token):  # noqa: F811
    """16 MB of `{},` made 5.5 million dicts (a worker from 74 to 483 MB) before its 413."""
    unit = b"{},"
    count = (MAX_BODY_BYTES - len(b'{"events":[]}')) // len(unit)
    body = b'{"events":[' + unit * (count - 1) + b"{}]}"
    assert len(body) <= MAX_BODY_BYTES and count > 5 * MAX_BODY_VALUES
    tracemalloc.start()
    try:
        response = post(client, body, token, raw=True)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"The body holds more than {MAX_BODY_VALUES} JSON values (objects, arrays, "
        "strings, numbers and keys): a batch holds at most that many, 250 an event on average; "
        "send fewer events per call."
    }
    # The body read (twice: the test client's copy), its text: no parsed object. Parsing it
    # would take over 100 MB (a dict is 64 bytes and more).
    assert peak < 4 * len(body), f"{peak / 1e6:.1f} MB"


@pytest.mark.parametrize(
    "unit",
    [b"[],", b'"ab",', b"1.5,", b"10,", b'{"k":1},'],
)
def test_every_kind_of_tiny_value_counts(client, token, unit):  # noqa: F811
    count = MAX_BODY_VALUES + 10
    body = b'{"events":[{"meta":{"a":[' + unit * count + b"0]}}]}"
    response = post(client, body, token, raw=True)
    assert response.status_code == 413
    assert "JSON values" in response.json()["detail"]


def test_signs_inside_strings_do_not_count(client, dealer, token):  # noqa: F811
    """A batch whose texts are full of commas and colons is counted exactly, and stored."""
    events = [event(id=f"chat-{n}", meta={"note": ",:[{" * 1000, "n": n}) for n in range(100)]
    body = json.dumps({"events": events})
    assert sum(body.count(sign) for sign in ",:[{") > MAX_BODY_VALUES
    response = post(client, body, token, raw=True)
    assert response.status_code == 200
    assert response.json()["accepted"] == 100


def test_a_body_over_the_bytes_bound_is_refused_unparsed(client, token):  # noqa: F811
    body = b'{"events":["' + b"x" * MAX_BODY_BYTES + b'"]}'
    response = client.post(
        URL,
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"The body has {len(body)} bytes: a batch holds at most {MAX_BODY_BYTES} bytes."
    }


# --- Nothing after the commit ---------------------------------------------------------------------


def test_a_stored_batch_is_answered_200_whatever_fails_after_its_commit(
    dealer,  # noqa: F811
    token,  # noqa: F811
    monkeypatch,
):
    """4 batches of 400 were stored, then answered 500 (the unbilled count read after the
    commit on a connection that had dropped): the sender counted them as failed."""
    real_store = ingest._store
    after_commit = contextlib.ExitStack()

    def connection_lost(execute, sql, params, many, context):
        raise OperationalError("server closed the connection unexpectedly")

    def store_then_lose_the_connection(*args):
        stored = real_store(*args)
        after_commit.enter_context(connection.execute_wrapper(connection_lost))
        return stored

    monkeypatch.setattr(ingest, "_store", store_then_lose_the_connection)
    client = Client(raise_request_exception=False)
    events = [event(id=f"chat-{n}") for n in range(400)]
    events += [event(id="chat-x", customer="garage-sans-abonnement")]  # refused, not stored
    with after_commit:
        response = post(client, {"events": events}, token)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["accepted"], body["duplicates"], len(body["rejected"])) == (400, 0, 1)
    assert ChatEvent.objects.count() == 400


def test_the_unbilled_count_is_still_given(dealer):  # noqa: F811
    from tests.factories import CustomerFactory

    CustomerFactory(code="sans-abonnement")
    result = ingest.events_ingest(
        source="platform",
        events=[event(id="a"), event(id="b", customer="sans-abonnement")],
    )
    assert (result.accepted, result.unbilled) == (2, 1)
