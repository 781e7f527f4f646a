"""The ingestion service: what is stored, what is refused and why, idempotency, late and
unbilled chats, voiding. Every refusal names the field, the value and the reason."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation

from billing.catalog.tariffs import tariff_change
from billing.invoicing.issue import invoice_cancel
from billing.models import ChatEvent, Invoice, Tariff
from billing.months import Month
from billing.usage.selectors import (
    customer_attention,
    events_unbilled,
    month_statement,
    month_usage,
)
from billing.usage.store import events_ingest, events_void
from billing.usage.validate import MAX_META_BYTES, InvalidChatEvent
from tests.factories import CustomerFactory, UserFactory, issued_invoice, subscribe
from tests.factories import chat_event as event

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
META_REFUSED = (
    "meta holds a NUL character, invalid Unicode, a number that is not finite, or is nested "
    "more than 32 deep."
)
NESTED_33 = {"a": 1}
for _level in range(32):
    NESTED_33 = {"a": NESTED_33}


@pytest.fixture
def dealer():
    customer = CustomerFactory(code="garage-dupont")
    subscribe(customer, "GROW", first_month=date(2026, 1, 1))
    return customer


def ingest(*events, source="platform", now=NOW):
    return events_ingest(source=source, events=list(events), now=now)


def errors_of(result):
    return {rejection.index: rejection.errors for rejection in result.rejected}


def test_a_valid_event_is_stored_priced_at_the_tariff_of_its_day(dealer):
    result = ingest(event(meta={"crm": "lead-77"}), event(id="chat-2", actor="bot"))
    assert (result.accepted, result.duplicates, result.rejected) == (2, 0, [])
    stored = ChatEvent.objects.get(source="platform", external_id="chat-1")
    assert (stored.customer, stored.tariff.code, stored.actor, stored.points) == (
        dealer,
        "test_drive",
        "agent",
        65,
    )
    assert stored.occurred_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert stored.metadata == {"crm": "lead-77"}
    assert stored.received_at == NOW
    assert ChatEvent.objects.get(external_id="chat-2").points == 40
    assert (stored.late, stored.voided_at) == (False, None)


def test_points_follow_the_tariff_version_of_the_chat_day(dealer, clock):
    clock.now = datetime(2026, 11, 10, 12, tzinfo=UTC)
    tariff_change(
        tariff=Tariff.objects.get(code="test_drive"),
        points_agent=70,
        points_bot=45,
        points_team=None,
        effective_from=date(2026, 11, 15),
    )
    result = ingest(
        event(id="before", occurred_at="2026-11-14T23:59:00+01:00"),
        event(id="from", occurred_at="2026-11-14T23:30:00Z"),  # 15 November in Paris
    )
    assert result.accepted == 2
    points = dict(ChatEvent.objects.values_list("external_id", "points"))
    assert points == {"before": 65, "from": 70}


def test_valid_events_are_stored_even_when_others_of_the_batch_are_refused(dealer):
    result = ingest(
        event(id="ok-1"),
        event(id="bad", customer="nobody"),
        event(id="ok-2", tariff="crm_lead", actor="bot"),
    )
    assert (result.accepted, result.duplicates) == (2, 0)
    assert [(r.index, r.id) for r in result.rejected] == [(1, "bad")]
    assert set(ChatEvent.objects.values_list("external_id", flat=True)) == {"ok-1", "ok-2"}


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"customer": "nobody"}, "customer", "'nobody' is not a known customer."),
        ({"tariff": "payment_lnk"}, "tariff", "'payment_lnk' is not a known tariff."),
        (
            {"tariff": "quote_request", "actor": "bot"},
            "tariff",
            "quote_request is not offered for bot",
        ),
        ({"actor": "robot"}, "actor", "'robot' is not an actor: use one of agent, bot, team."),
        (
            {"occurred_at": "2026-11-20T10:00:00"},
            "occurred_at",
            "'2026-11-20T10:00:00' has no time zone offset (such as +01:00 or Z).",
        ),
        (
            {"occurred_at": "20 Nov 2026 10:00"},
            "occurred_at",
            "'20 Nov 2026 10:00' is not an ISO 8601 date and time, such as "
            "2026-11-27T14:05:00+01:00.",
        ),
        (
            {"occurred_at": "2026-11-27T12:05:01Z"},
            "occurred_at",
            "'2026-11-27T12:05:01Z' is in the future: a chat is reported once it is completed.",
        ),
        (
            {"tariff": "contact_engaged", "actor": "team"},
            "contact",
            "contact_engaged is charged per contact: the contact is required.",
        ),
        ({"id": ""}, "id", "id is empty."),
        ({"id": "x" * 101}, "id", f"'{'x' * 57}…' is longer than 100 characters."),
        ({"id": 17}, "id", "17 is not text."),
        ({"meta": "note"}, "meta", "'note' is not a JSON object."),
        (
            {"meta": {"note": "x" * MAX_META_BYTES}},
            "meta",
            "4107 bytes: meta holds at most 4096 bytes of JSON.",
        ),
        ({"contact": "+33\x00600"}, "contact", "contact holds a NUL character or invalid Unicode."),
        ({"id": "chat-\ud800"}, "id", "id holds a NUL character or invalid Unicode."),
        ({"meta": {"note": "a\x00b"}}, "meta", META_REFUSED),
        ({"meta": {"a\x00": 1}}, "meta", META_REFUSED),
        ({"meta": {"x": float("inf")}}, "meta", META_REFUSED),
        ({"meta": NESTED_33}, "meta", META_REFUSED),
        (
            {"occurred_at": "0001-01-01T00:00:00+01:00"},
            "occurred_at",
            "'0001-01-01T00:00:00+01:00' is out of the billing years.",
        ),
        (
            {"occurred_at": "2021-12-31T10:00:00+01:00"},
            "tariff",
            "test_drive had no points yet on 2021-12-31 (they start on 2022-01-01)",
        ),
        (
            {"customr": "garage-dupont"},
            "customr",
            "customr is not a field of a chat event "
            "(fields: id, customer, tariff, actor, contact, occurred_at, meta).",
        ),
    ],
)
def test_each_refusal_names_the_field_the_value_and_the_reason(dealer, fields, field, message):
    result = ingest(event(**fields))
    assert result.accepted == 0
    assert errors_of(result) == {0: {field: message}}
    assert ChatEvent.objects.count() == 0


def test_a_backslash_and_u0000_written_as_text_is_fine(dealer):
    assert ingest(event(meta={"path": "C:\\u0000"})).accepted == 1


def test_a_missing_field_is_required():
    raw = event()
    del raw["occurred_at"]
    assert errors_of(ingest(raw)) == {0: {"occurred_at": "occurred_at is required."}}


def test_every_faulty_field_of_an_event_is_reported(dealer):
    result = ingest(event(customer="nobody", actor="robot", occurred_at="2026-11-20T10:00"))
    assert set(errors_of(result)[0]) == {"customer", "actor", "occurred_at"}


def test_five_minutes_ahead_of_our_clock_is_accepted(dealer):
    assert ingest(event(occurred_at="2026-11-27T12:05:00Z")).accepted == 1


def test_refusals_speak_the_active_language(dealer):
    with translation.override("fr"):
        result = ingest(event(customer="nobody", tariff="quote_request", actor="bot"))
    assert errors_of(result)[0] == {
        "customer": "'nobody' n'est pas un client connu.",
        "tariff": "quote_request n'est pas proposé pour bot",
    }


# --- Idempotency --------------------------------------------------------------------------------


def test_the_same_id_with_the_same_content_is_a_duplicate_and_changes_nothing(dealer):
    assert ingest(event(meta={"a": 1})).accepted == 1
    before = list(ChatEvent.objects.values())
    again = ingest(event(meta={"a": 1}), now=NOW + timedelta(hours=1))
    assert (again.accepted, again.duplicates, again.rejected) == (0, 1, [])
    assert list(ChatEvent.objects.values()) == before


def test_the_same_moment_written_with_another_offset_is_the_same_content(dealer):
    ingest(event(occurred_at="2026-11-20T10:00:00+01:00"))
    again = ingest(event(occurred_at="2026-11-20T09:00:00Z"))
    assert (again.accepted, again.duplicates) == (0, 1)


def test_the_same_id_with_other_content_is_refused_as_a_conflict(dealer):
    ingest(event())
    result = ingest(event(actor="bot", occurred_at="2026-11-21T10:00:00+01:00"))
    assert (result.accepted, result.duplicates) == (0, 0)
    assert errors_of(result) == {
        0: {
            "id": "'chat-1' conflicts with the chat event already received with this id "
            "(actor, occurred_at differ): an event is stored once and never changed."
        }
    }
    assert ChatEvent.objects.get().actor == "agent"


def test_an_id_is_per_source(dealer):
    ingest(event(), source="platform")
    assert ingest(event(), source="csv-2025").accepted == 1
    assert ChatEvent.objects.count() == 2


def test_a_repeated_id_within_a_batch_is_a_duplicate_or_a_conflict(dealer):
    result = ingest(event(), event(), event(actor="bot"))
    assert (result.accepted, result.duplicates) == (1, 1)
    assert list(errors_of(result)[2]) == ["id"]
    assert "(actor differ)" in errors_of(result)[2]["id"]
    assert ChatEvent.objects.count() == 1


def test_the_database_refuses_a_second_row_for_a_source_and_id(dealer):
    ingest(event())
    first = ChatEvent.objects.get()
    first.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        first.save()


# --- Unbilled, late, voided ----------------------------------------------------------------------


def test_a_chat_with_no_plan_in_force_is_stored_unbilled_until_a_subscription_covers_it():
    customer = CustomerFactory(code="garage-dupont")
    result = ingest(event())
    assert (result.accepted, result.unbilled) == (1, 1)
    assert events_unbilled(ChatEvent.objects.all()).count() == 1
    assert customer_attention(customer=customer) == {"late": 0, "unbilled": 1}
    subscribe(customer, "BASE", first_month=date(2026, 11, 1))
    assert events_unbilled(ChatEvent.objects.all()).count() == 0
    assert month_statement(customer=customer, month=Month(2026, 11)).points_used == 65


def test_unbilled_is_judged_on_the_billing_month_of_the_chat():
    customer = CustomerFactory(code="garage-dupont")
    subscribe(customer, "BASE", first_month=date(2026, 11, 1))
    # 31 October 23:30 UTC is 1 November in Paris: billed; 22:30 UTC is still October: unbilled.
    result = ingest(
        event(id="nov", occurred_at="2026-10-31T23:30:00Z"),
        event(id="oct", occurred_at="2026-10-31T22:30:00Z"),
    )
    assert result.unbilled == 1
    assert list(events_unbilled(ChatEvent.objects.all()).values_list("external_id", flat=True)) == [
        "oct"
    ]


def test_a_chat_of_an_invoiced_month_is_stored_late_and_the_issued_invoice_is_left_alone(dealer):
    issued_invoice(dealer, date(2026, 10, 1), NOW - timedelta(hours=1))
    Invoice.objects.create(customer=dealer, month=date(2026, 11, 1), status="draft")
    result = ingest(
        event(id="late", occurred_at="2026-10-31T10:00:00+01:00"),
        event(id="open", occurred_at="2026-11-02T10:00:00+01:00"),
    )
    assert (result.accepted, result.late) == (2, 1)
    assert dict(ChatEvent.objects.values_list("external_id", "late")) == {
        "late": True,
        "open": False,
    }
    assert customer_attention(customer=dealer) == {"late": 1, "unbilled": 0}


def test_a_voided_chat_is_kept_with_its_reason_and_no_longer_counts(dealer):
    staff = UserFactory(username="compta")
    ingest(event(id="a"), event(id="b"))
    assert month_usage(customer=dealer, month=Month(2026, 11)).points == 130
    voided = events_void(
        events=ChatEvent.objects.filter(external_id="a"), reason="Test chat", user=staff
    )
    assert voided == 1
    kept = ChatEvent.objects.get(external_id="a")
    assert (kept.void_reason, kept.voided_by, kept.voided_at is not None) == (
        "Test chat",
        staff,
        True,
    )
    assert month_usage(customer=dealer, month=Month(2026, 11)).points == 65
    # Voiding again keeps the first reason; re-sending the chat is still a duplicate.
    assert events_void(events=ChatEvent.objects.all(), reason="again", user=staff) == 1
    assert ChatEvent.objects.get(external_id="a").void_reason == "Test chat"
    assert ingest(event(id="a")).duplicates == 1


def test_voiding_needs_a_reason_and_the_database_holds_it(dealer):
    ingest(event())
    with pytest.raises(InvalidChatEvent, match="reason: Say why these chats are voided."):
        events_void(events=ChatEvent.objects.all(), reason="  ", user=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        ChatEvent.objects.update(voided_at=timezone.now(), void_reason="")


def test_meta_nested_32_deep_is_accepted(dealer):
    nested = {"a": 1}
    for _level in range(31):
        nested = {"a": nested}
    assert ingest(event(meta=nested)).accepted == 1


def test_a_source_is_a_short_lower_case_name(dealer):
    with pytest.raises(InvalidChatEvent, match="source: 'Legacy CRM': a source is 1 to 64"):
        ingest(event(), source="Legacy CRM")
    with pytest.raises(InvalidChatEvent, match="source: "):
        ingest(event(), source="x" * 65)
    assert ChatEvent.objects.count() == 0


# --- What both databases store, and retries of it ------------------------------------------------


def test_unusual_values_are_stored_alike_and_a_retry_is_a_duplicate(dealer):
    unusual = event(
        occurred_at="2026-11-20T10:00:00.5+01:00:30.25",
        meta={"big": 1e23, "zero": -0.0, "flag": True, "deep": [1.5, {"é": "ü"}]},
    )
    assert ingest(unusual).accepted == 1
    stored = ChatEvent.objects.get()
    assert stored.occurred_at == datetime(2026, 11, 20, 8, 59, 30, 250000, tzinfo=UTC)
    assert stored.metadata["flag"] is True
    assert stored.metadata["deep"] == [1.5, {"é": "ü"}]
    assert (ingest(unusual).duplicates, ingest(unusual).rejected) == (1, [])


# Texts that mean something in a PostgreSQL array literal (the batch's columns), in JSON or in
# SQL: each one stored as it was sent, on both databases.
TRICKY_TEXTS = [
    'say "hi"',
    "back\\slash\\",
    '\\"',
    "{braces}",
    "a,b",
    " padded ",
    "NULL",
    "null",
    "line\nbreak\ttab\r",
    "\x1f\x7f",
    "é𝄞",
    "'; DROP TABLE billing_chatevent; --",
]


def test_texts_with_quotes_backslashes_braces_and_commas_are_stored_as_sent(dealer):
    events = [
        event(
            id=text,
            contact=text,
            tariff="contact_engaged",
            actor="team",
            meta={text: [text, {"k": text}]},
        )
        for text in TRICKY_TEXTS
    ]
    assert ingest(*events).accepted == len(TRICKY_TEXTS)
    stored = {chat.external_id: chat for chat in ChatEvent.objects.all()}
    assert sorted(stored) == sorted(TRICKY_TEXTS)
    for text in TRICKY_TEXTS:
        assert stored[text].contact == text
        assert stored[text].metadata == {text: [text, {"k": text}]}
    retried = ingest(*events)
    assert (retried.accepted, retried.duplicates, retried.rejected) == (0, len(TRICKY_TEXTS), [])


def prepared_inserts():
    """The chat inserts prepared on this connection's server side: (with ON CONFLICT, runs)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement LIKE '%%ON CONFLICT (source, external_id)%%', "
            "generic_plans + custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%%INSERT INTO billing_chatevent%%' ORDER BY 1, 2"
        )
        return cursor.fetchall()


@pytest.mark.postgres
def test_the_batch_statement_is_prepared_once_per_connection_and_django_s_are_not(dealer):
    """The insert is parsed and planned once per connection (Django's connections prepare
    nothing, which would ignore prepare=True): the next batch executes the prepared statement;
    other queries stay unprepared."""
    assert prepared_inserts() == []  # a connection of its own, or rolled back (DEALLOCATE ALL)
    ingest(event(id="chat-1"))
    ingest(event(id="chat-2"))
    assert prepared_inserts() == [(False, 2)]
    # Stored already: back to the savepoint, and the statement with ON CONFLICT, prepared too;
    # the plain one stays prepared for the next batch. It ran for the retry (and failed), then
    # once with no rows, then for chat-3.
    assert ingest(event(id="chat-2")).duplicates == 1
    assert ingest(event(id="chat-3")).accepted == 1
    assert prepared_inserts() == [(False, 5), (True, 1)]
    assert connection.connection.prepare_threshold is None


@pytest.mark.postgres
def test_batches_sent_again_leave_one_prepared_statement_behind_at_most(dealer):
    """A connection whose first batch is sent again: the plain insert's first run fails (psycopg
    forgets it, the server keeps it), so it is prepared again by a run of no rows; the batches
    after it reuse that one instead of each leaving one more on the server."""
    ChatEvent.objects.create(
        source="platform",
        external_id="chat-1",
        customer=dealer,
        tariff=Tariff.objects.get(code="test_drive"),
        actor="agent",
        occurred_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        points=65,
    )
    assert prepared_inserts() == []
    for _attempt in range(3):
        assert ingest(event(id="chat-1")).duplicates == 1
    assert prepared_inserts() == [(False, 1), (False, 5), (True, 3)]


def test_true_and_1_are_different_content(dealer):
    ingest(event(meta={"flag": True}))
    assert list(errors_of(ingest(event(meta={"flag": 1})))[0]) == ["id"]


def test_repeats_in_a_batch_are_judged_against_what_is_stored(dealer):
    ingest(event(actor="bot"))
    both_conflict = ingest(event(), event())
    assert (both_conflict.duplicates, sorted(errors_of(both_conflict))) == (0, [0, 1])
    one_each = ingest(event(), event(actor="bot"))
    assert (one_each.duplicates, sorted(errors_of(one_each))) == (1, [0])
    assert ChatEvent.objects.get().actor == "bot"


def test_a_batch_that_lost_a_deadlock_is_retried(dealer, monkeypatch):
    from django.db import OperationalError

    from billing.usage import store as module

    real_store, calls = module._store, []

    class Deadlock(Exception):
        sqlstate = "40P01"

    def store_once_deadlocked(*args):
        calls.append(1)
        if len(calls) == 1:
            try:
                raise Deadlock
            except Deadlock as cause:
                raise OperationalError("deadlock detected") from cause
        return real_store(*args)

    monkeypatch.setattr(module, "_store", store_once_deadlocked)
    assert ingest(event()).accepted == 1
    assert len(calls) == 2


# --- An issued invoice's month does not move ----------------------------------------------------


def test_late_chats_and_later_voids_leave_an_issued_month_as_it_was_invoiced(dealer, clock):
    october = Month(2026, 10)
    ingest(*[event(id=f"oct-{n}", occurred_at="2026-10-15T10:00:00+02:00") for n in range(3)])
    invoice = issued_invoice(dealer, date(2026, 10, 1), NOW)
    assert month_statement(customer=dealer, month=october).points_used == 195
    later = NOW + timedelta(hours=1)
    late = ingest(event(id="oct-late", occurred_at="2026-10-31T10:00:00+01:00"), now=later)
    assert late.late == 1
    clock.now = later + timedelta(minutes=1)
    events_void(events=ChatEvent.objects.filter(external_id="oct-0"), reason="test", user=None)
    assert month_statement(customer=dealer, month=october).points_used == 195
    # A credit note cancels the invoice: the month counts the late chat, not the voided one.
    invoice_cancel(invoice=invoice)
    assert month_statement(customer=dealer, month=october).points_used == 195 - 65 + 65
    assert month_usage(customer=dealer, month=october).lines[0].chats == 3
