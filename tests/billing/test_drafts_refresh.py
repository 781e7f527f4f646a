"""Month close, refreshing drafts: a refreshed draft says exactly what a draft created from
nothing would say (its lines added, changed and removed as the usage moves), a draft issued or
deleted while the drafts are computed is handled, and Python's cyclic garbage collector is
paused during the close and set back after it."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from billing.invoicing import drafts as drafts_module
from billing.invoicing.content import InvoiceError
from billing.invoicing.drafts import invoices_draft
from billing.models import ChatEvent, Invoice, InvoiceLine
from billing.months import Month
from billing.usage.store import events_ingest, events_void
from tests.factories import CustomerFactory, subscribe

pytestmark = pytest.mark.django_db

OCTOBER = Month(2026, 10)
RECEIVED = datetime(2026, 11, 2, 9, tzinfo=UTC)
SKIPPED_FIELDS = {"id", "computed_at"}


def chats(code, count, *, start=0):
    return [
        {
            "id": f"{code}-{n}",
            "customer": code,
            "tariff": "test_drive",  # 65 points, agent
            "actor": "agent",
            "occurred_at": "2026-10-15T10:00:00+02:00",
        }
        for n in range(start, start + count)
    ]


def ingest(code, count, *, start=0):
    events = chats(code, count, start=start)
    assert events_ingest(source="platform", events=events, now=RECEIVED).accepted == count


def snapshot() -> dict:
    """Each draft of October, by customer code: every column but its id and computed_at, and
    its lines (position, kind, description, quantity, unit price, amount)."""
    fields = [f.attname for f in Invoice._meta.concrete_fields if f.name not in SKIPPED_FIELDS]
    drafts = {}
    for invoice in Invoice.objects.filter(month=OCTOBER.first_day).select_related("customer"):
        drafts[invoice.customer.code] = (
            {name: getattr(invoice, name) for name in fields},
            list(
                invoice.lines.order_by("position").values_list(
                    "position", "kind", "description", "quantity", "unit_price", "amount"
                )
            ),
        )
    return drafts


def created_from_nothing() -> dict:
    """What the month close writes when no draft exists yet (rolled back)."""
    with transaction.atomic():
        InvoiceLine.objects.filter(invoice__month=OCTOBER.first_day).delete()
        Invoice.objects.filter(month=OCTOBER.first_day).delete()
        assert invoices_draft(month=OCTOBER).created == 2
        expected = snapshot()
        transaction.set_rollback(True)
    return expected


def test_a_refreshed_draft_says_what_a_new_one_would(clock):
    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    subscribe(CustomerFactory(code="grower"), "GROW", first_month=date(2026, 1, 1))
    subscribe(CustomerFactory(code="steady"), "BASE", first_month=date(2026, 1, 1))
    ingest("grower", 40)  # 2,600 points: within GROW's 3,000
    ingest("steady", 2)  # 130 points: within BASE's 250
    assert invoices_draft(month=OCTOBER).created == 2
    first = snapshot()
    assert [line[1] for line in first["grower"][1]] == ["plan_fee"]

    ingest("grower", 10, start=40)  # 3,250 points: 250 extra
    report = invoices_draft(month=OCTOBER)
    assert (report.created, report.refreshed) == (0, 2)
    grown = snapshot()
    assert grown == created_from_nothing()
    assert [line[1:] for line in grown["grower"][1]] == [
        (
            "plan_fee",
            "Plan Croissance — octobre 2026",
            1,
            Decimal("499.0000"),
            Decimal("499.00"),
        ),
        (
            "overage",
            "Plan Croissance — Chatpoints supplémentaires",
            250,
            Decimal("0.1400"),
            Decimal("35.00"),
        ),
    ]
    assert grown["grower"][0]["net_total"] == Decimal("534.00")
    assert grown["steady"] == first["steady"]
    voided = ChatEvent.objects.filter(external_id__in=[f"grower-{n}" for n in range(40, 50)])
    assert events_void(events=voided, reason="Doublons", user=None) == 10
    report = invoices_draft(month=OCTOBER)
    assert (report.created, report.refreshed) == (0, 2)
    shrunk = snapshot()
    assert shrunk == created_from_nothing()
    assert shrunk["grower"][1] == first["grower"][1]  # the extra line is gone
    assert InvoiceLine.objects.count() == 2


def _during_the_aggregate(monkeypatch, action):
    """Run `action` while invoices_draft computes (after it read the month's drafts)."""
    real = drafts_module.usage_rows_by_customer

    def aggregate(**kwargs):
        action()
        return real(**kwargs)

    monkeypatch.setattr(drafts_module, "usage_rows_by_customer", aggregate)


def test_a_draft_deleted_meanwhile_is_created_again(clock, monkeypatch):
    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    subscribe(CustomerFactory(code="grower"), "GROW", first_month=date(2026, 1, 1))
    subscribe(CustomerFactory(code="steady"), "BASE", first_month=date(2026, 1, 1))
    ingest("grower", 50)
    invoices_draft(month=OCTOBER)
    expected = snapshot()

    def delete_one():
        InvoiceLine.objects.filter(invoice__customer__code="grower").delete()
        Invoice.objects.filter(customer__code="grower").delete()

    _during_the_aggregate(monkeypatch, delete_one)
    report = invoices_draft(month=OCTOBER)
    assert report.created + report.refreshed == 2
    assert snapshot() == expected
    assert Invoice.objects.count() == 2


def test_a_draft_issued_meanwhile_refuses_the_month_close(clock, monkeypatch):
    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    subscribe(CustomerFactory(code="grower"), "GROW", first_month=date(2026, 1, 1))
    subscribe(CustomerFactory(code="steady"), "BASE", first_month=date(2026, 1, 1))
    ingest("grower", 50)
    invoices_draft(month=OCTOBER)
    before = snapshot()

    def issue_one():
        Invoice.objects.filter(customer__code="grower").update(
            status="issued",
            number="F2026-00001",
            series="F",
            year=2026,
            sequence=1,
            issued_at=clock.now,
            issue_date=clock.now.date(),
        )

    _during_the_aggregate(monkeypatch, issue_one)
    with pytest.raises(InvoiceError, match="was issued while the drafts were being computed"):
        invoices_draft(month=OCTOBER)
    after = snapshot()
    assert after["steady"] == before["steady"]  # nothing written: the close is refused whole
    assert after["grower"][0]["status"] == "issued"
    assert after["grower"][1] == before["grower"][1]


def test_the_cyclic_garbage_collector_is_paused_during_the_close_and_set_back(clock, monkeypatch):
    import gc

    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    subscribe(CustomerFactory(code="grower"), "GROW", first_month=date(2026, 1, 1))
    seen = []
    _during_the_aggregate(monkeypatch, lambda: seen.append(gc.isenabled()))
    assert gc.isenabled()
    invoices_draft(month=OCTOBER)
    assert (seen, gc.isenabled()) == ([False], True)

    def fail():
        raise RuntimeError("the database went away")

    _during_the_aggregate(monkeypatch, fail)
    with pytest.raises(RuntimeError):
        invoices_draft(month=OCTOBER)
    assert gc.isenabled()
    gc.disable()  # a caller that paused it keeps it paused
    try:
        monkeypatch.undo()
        invoices_draft(month=OCTOBER)
        assert not gc.isenabled()
    finally:
        gc.enable()
