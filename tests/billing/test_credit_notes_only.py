"""Only a credit note cancels an invoice (the model and the database say so), and PostgreSQL
never truncates the invoice tables (DOMAIN.md rule 8)."""

import pytest
from django.db import IntegrityError, connection, transaction

from billing.errors import BillingError
from billing.invoicing.issue import invoice_cancel
from billing.models import Invoice, InvoiceLine, InvoiceSequence
from customers.models import Customer

from .test_invoicing import ISSUE_DAY, grow_3234, issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(clock):
    clock.now = ISSUE_DAY
    return issue(grow_3234())


def status_of(invoice):
    return Invoice.objects.values_list("status", flat=True).get(pk=invoice.pk)


def test_the_model_refuses_to_cancel_without_a_credit_note(invoice):
    invoice.status = "cancelled"
    with pytest.raises(BillingError, match="Only a credit note cancels F2026-00001"):
        invoice.save(update_fields=["status"])
    assert status_of(invoice) == "issued"


def test_the_database_refuses_to_cancel_without_a_credit_note(invoice):
    refused = pytest.raises(IntegrityError, match="invoice_cancelled_by_credit_note")
    with refused, transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(status="cancelled")
    assert status_of(invoice) == "issued"


def test_a_draft_credit_note_does_not_cancel(invoice):
    draft_note = Invoice.objects.create(
        customer=invoice.customer,
        month=invoice.month,
        kind="credit_note",
        credited_invoice=invoice,
    )
    assert draft_note.status == "draft"
    invoice.status = "cancelled"
    with pytest.raises(BillingError):
        invoice.save(update_fields=["status"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(status="cancelled")
    assert status_of(invoice) == "issued"


def test_no_invoice_is_written_cancelled_from_the_start(invoice):
    fields = {
        "customer": invoice.customer,
        "month": invoice.month,
        "status": "cancelled",
        "issued_at": invoice.issued_at,
        "issue_date": invoice.issue_date,
        "series": "X",
        "year": 2026,
        "sequence": 1,
        "number": "X2026-00001",
    }
    with pytest.raises(BillingError):
        Invoice(**fields).save()
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.bulk_create([Invoice(**fields)])
    assert not Invoice.objects.filter(number="X2026-00001").exists()


def test_a_credit_note_cancels(invoice):
    note = invoice_cancel(invoice=invoice)
    assert status_of(invoice) == "cancelled"
    assert (note.kind, note.status, note.credited_invoice_id) == (
        "credit_note",
        "issued",
        invoice.pk,
    )
    assert note.number == "AV2026-00001"
    # Paid or e-mailed afterwards: a cancelled invoice stays cancelled (no second note needed).
    invoice.refresh_from_db()
    invoice.email_status = "sent"
    invoice.save(update_fields=["email_status"])
    assert status_of(invoice) == "cancelled"


# --- TRUNCATE (PostgreSQL) ------------------------------------------------------------------------


def truncate(statement):
    """Run TRUNCATE as production would: without the test suite's permission (tests/conftest.py)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's rows: no pending checks
        cursor.execute("SET LOCAL chatpoints.allow_truncate = off")
        cursor.execute(statement)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE billing_invoice CASCADE",
        "TRUNCATE billing_invoiceline",
        "TRUNCATE billing_invoicesequence",
        "TRUNCATE customers_customer CASCADE",
        "TRUNCATE billing_invoiceline, billing_invoice RESTART IDENTITY CASCADE",
    ],
)
def test_postgresql_never_truncates_the_invoice_tables(invoice, statement):
    with pytest.raises(IntegrityError, match="is never truncated"):
        truncate(statement)
    assert Invoice.objects.filter(pk=invoice.pk, status="issued").exists()
    assert InvoiceLine.objects.filter(invoice=invoice).count() == 2
    assert InvoiceSequence.objects.exists() and Customer.objects.exists()


@pytest.mark.postgres
def test_only_a_session_that_says_so_may_truncate(invoice):
    """The test suite's own flushes (TRUNCATE between transactional tests) need it."""

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL chatpoints.allow_truncate = on")
        cursor.execute("TRUNCATE billing_invoiceline, billing_invoice CASCADE")
        assert not Invoice.objects.exists()
        raise RolledBack
    assert Invoice.objects.filter(pk=invoice.pk).exists()
