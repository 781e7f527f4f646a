"""Real concurrency on PostgreSQL: clients posting the same events at once store each one once."""

import json
import random
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client

from billing.invoicing import issue as issuing
from billing.invoicing.drafts import invoices_draft
from billing.invoicing.issue import invoice_issue
from billing.models import ChatEvent, Invoice
from billing.months import Month
from billing.usage.store import events_ingest
from billing.usage.tokens import api_token_create
from tests.factories import CustomerFactory, subscribe

from .summary_check import assert_summary_matches_the_chats

# The points of the billing rules' table, written out here as the oracle (not read from the code).
POINTS = {
    ("test_drive", "agent"): 65,
    ("test_drive", "bot"): 40,
    ("quote_request", "agent"): 65,
    ("crm_lead", "bot"): 6,
    ("contact_engaged", "team"): 2,
}


def universe(size, customers):
    rng = random.Random(2026)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    events = []
    for n in range(size):
        tariff, actor = rng.choice(sorted(POINTS))
        moment = start + timedelta(minutes=rng.randrange(60 * 24 * 50))
        event = {
            "id": f"chat-{n:05d}",
            "customer": rng.choice(customers),
            "tariff": tariff,
            "actor": actor,
            "occurred_at": moment.isoformat(),
        }
        if tariff == "contact_engaged":
            event["contact"] = f"+3360000{rng.randrange(500):04d}"
        events.append(event)
    return events


def run_clients(token, bodies_per_client):
    barrier = threading.Barrier(len(bodies_per_client))
    answers, failures = [], []

    def client_run(bodies):
        client = Client()
        try:
            barrier.wait()
            for body in bodies:
                response = client.post(
                    "/api/v1/chat-events",
                    json.dumps(body),
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {token}",
                )
                answers.append((response.status_code, response.json()))
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=client_run, args=(b,)) for b in bodies_per_client]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    return answers


@pytest.fixture
def customers():
    codes = ["garage-dupont", "lyon-automobiles", "nice-motors"]
    for code in codes:
        subscribe(CustomerFactory(code=code), "GROW", first_month=date(2026, 1, 1))
    return codes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_eight_clients_posting_overlapping_shuffled_batches_store_each_event_once(customers):
    token = api_token_create(source="chat-platform")[1]
    events = universe(2400, customers)
    shared, own = events[:720], events[720:]  # 30 % of the ids are sent by every client
    rng = random.Random(8)
    bodies_per_client = []
    for client_number in range(8):
        mine = shared + own[client_number::8]
        rng.shuffle(mine)
        bodies_per_client.append([{"events": mine[i : i + 150]} for i in range(0, len(mine), 150)])
    answers = run_clients(token, bodies_per_client)

    assert {status for status, _body in answers} == {200}
    assert all(body["rejected"] == [] for _status, body in answers)
    sent = sum(len(body["events"]) for bodies in bodies_per_client for body in bodies)
    assert sum(body["accepted"] for _s, body in answers) == len(events)
    assert sum(body["duplicates"] for _s, body in answers) == sent - len(events)
    assert ChatEvent.objects.count() == len(events)
    oracle = sum(POINTS[(event["tariff"], event["actor"])] for event in events)
    assert sum(ChatEvent.objects.values_list("points", flat=True)) == oracle
    # The batches also summed them for the reports (billing.usage.summary), each once.
    assert_summary_matches_the_chats()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_same_event_posted_20_times_at_once_is_stored_once(customers):
    token = api_token_create(source="chat-platform")[1]
    body = {"events": universe(1, customers)}
    answers = run_clients(token, [[body]] * 20)
    assert sorted((status, b["accepted"], b["duplicates"]) for status, b in answers) == [
        (200, 0, 1)
    ] * 19 + [(200, 1, 0)]
    assert ChatEvent.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_batch_that_waits_for_an_invoice_being_issued_is_received_after_it(monkeypatch):
    """A batch reads its clock once it holds its customers: one that waited for an issue in
    flight is received after the invoice's issued_at (so the invoice did not count it, and the
    late chats' list does), however long the issue took after locking the customer."""
    dealer = CustomerFactory(code="garage-dupont")
    subscribe(dealer, "BASE", first_month=date(2026, 1, 1))
    month = Month(2026, 11)
    invoices_draft(month=month)
    draft = Invoice.objects.get(customer=dealer, month=month.first_day)
    locked = threading.Event()
    real_next_number = issuing._next_number

    def slow_next_number(*args, **kwargs):  # the customer is locked; issued_at not read yet
        locked.set()
        # On until the batch waits for the customer's lock (whatever it read before that).
        with connection.cursor() as cursor:
            for _attempt in range(200):
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
                if cursor.fetchone()[0]:
                    break
                threading.Event().wait(0.05)
            else:
                raise AssertionError("the batch never waited for the customer's lock")
        return real_next_number(*args, **kwargs)

    monkeypatch.setattr(issuing, "_next_number", slow_next_number)
    results, errors = [], []

    def issue():
        try:
            invoice_issue(invoice=draft)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    def post():
        try:
            assert locked.wait(10)
            event = {
                "id": "chat-during-issue",
                "customer": "garage-dupont",
                "tariff": "test_drive",
                "actor": "agent",
                "occurred_at": "2026-11-20T10:00:00+01:00",
            }
            results.append(events_ingest(source="chat-platform", events=[event]))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue), threading.Thread(target=post)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(results) == 1
    assert (results[0].accepted, results[0].late) == (1, 1)
    chat = ChatEvent.objects.get(external_id="chat-during-issue")
    issued = Invoice.objects.get(pk=draft.pk)
    assert chat.late is True
    assert chat.received_at > issued.issued_at
