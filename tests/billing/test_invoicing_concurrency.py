"""Real concurrency on PostgreSQL: invoices issued from parallel threads get gapless numbers;
the PDF is rendered after the number is committed, so a failed rendering loses no number."""

import threading
from datetime import UTC, date, datetime

import pytest
from django.db import connection

from billing.invoicing import pdf as pdf
from billing.invoicing.drafts import invoices_draft
from billing.invoicing.issue import invoice_issue
from billing.models import Invoice, InvoiceSequence
from billing.months import Month
from tests.factories import CustomerFactory, subscribe


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_55_invoices_issued_in_parallel_get_exactly_1_to_55_and_failed_pdfs_leave_no_gap(
    clock, monkeypatch
):
    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    for n in range(55):
        subscribe(CustomerFactory(code=f"dealer-{n:02d}"), "BASE", first_month=date(2026, 1, 1))
    invoices_draft(month=Month(2026, 10))
    drafts = list(Invoice.objects.select_related("customer").order_by("customer__code"))
    failing = {draft.pk for draft in drafts[::11]}  # 5 PDFs fail after the number is committed
    real_pdf = pdf.invoice_pdf

    def pdf_or_fail(invoice, lines, **options):
        if invoice.pk in failing:
            raise RuntimeError("rendering failed")
        return real_pdf(invoice, lines, **options)

    monkeypatch.setattr(pdf, "invoice_pdf", pdf_or_fail)
    barrier = threading.Barrier(len(drafts))
    outcomes, errors = [], []

    def issue(draft):
        try:
            barrier.wait()
            outcomes.append(invoice_issue(invoice=draft).number)
        except RuntimeError:
            outcomes.append("failed")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=issue, args=(draft,)) for draft in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    numbers = sorted(outcomes)
    assert numbers == [f"F2026-{n:05d}" for n in range(1, 56)]
    assert sorted(Invoice.objects.filter(status="issued").values_list("sequence", flat=True)) == (
        list(range(1, 56))
    )
    assert InvoiceSequence.objects.get(series="F", year=2026).last == 55
    assert Invoice.objects.filter(status="draft").count() == 0
    assert set(Invoice.objects.filter(pdf__isnull=True).values_list("pk", flat=True)) == failing
