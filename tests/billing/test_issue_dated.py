"""Issuing on a given moment (what the demo does for its past months): numbers and issue dates
still go up together, and nothing is dated in the future."""

from datetime import UTC, date, datetime

import pytest

from billing.invoicing.content import InvoiceError
from billing.invoicing.drafts import invoices_draft
from billing.invoicing.issue import invoice_cancel, invoice_issue
from billing.models import Invoice, InvoiceSequence
from billing.months import Month
from tests.factories import CustomerFactory, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _placeholder_pdfs(monkeypatch):
    monkeypatch.setattr(
        "billing.invoicing.facturx.invoice_facturx_pdf",
        lambda invoice, lines: f"%PDF-1.4 {invoice.number}".encode(),
    )


def drafts(month):
    invoices_draft(month=month)
    return list(Invoice.objects.filter(status="draft", month=month.first_day).order_by("id"))


def test_an_invoice_issued_on_a_past_day_is_dated_that_day(clock):
    clock.now = datetime(2026, 11, 20, 10, tzinfo=UTC)
    for code in ("a", "b", "c"):
        subscribe(CustomerFactory(code=code), "BASE", first_month=date(2026, 1, 1))
    first, second, third = drafts(Month(2026, 9))
    on_the_1st = datetime(2026, 10, 1, 7, tzinfo=UTC)
    issued = invoice_issue(invoice=first, now=on_the_1st)
    assert (issued.number, issued.issued_at, issued.issue_date, issued.due_date) == (
        "F2026-00001",
        on_the_1st,
        date(2026, 10, 1),
        date(2026, 10, 31),
    )
    note = invoice_cancel(invoice=issued, now=datetime(2026, 10, 10, 7, tzinfo=UTC))
    assert (note.number, note.issue_date) == ("AV2026-00001", date(2026, 10, 10))

    # Before the last of the series, or in the future: refused, and the number given back.
    with pytest.raises(InvoiceError, match="cannot be dated 1 October 2026"):
        invoice_issue(invoice=second, now=datetime(2026, 9, 30, 22, 30, tzinfo=UTC))  # Paris: 1 Oct
    with pytest.raises(InvoiceError, match="cannot be dated 21 November 2026"):
        invoice_issue(invoice=second, now=datetime(2026, 11, 21, 10, tzinfo=UTC))
    assert InvoiceSequence.objects.get(series="F", year=2026).last == 1
    assert invoice_issue(invoice=second, now=on_the_1st).number == "F2026-00002"  # same moment
    assert invoice_issue(invoice=third).issue_date == date(2026, 11, 20)  # now by default
