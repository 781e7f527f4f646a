"""Month close at scale: *issue* fans out one task per draft and records where each one stands.

month_close_start makes a run (one item per draft, waiting) and enqueues `billing.month_close_issue`
for each item once the run is committed; each task issues its draft (billing.invoicing.issue) and
writes the item down: issued with its number, or failed with the reason. A task is idempotent: an
item already issued, or a draft issued by a task that died before writing its item, is written
down as issued without issuing anything again. Without a broker the tasks run one after another
in the calling process (as issuing did before)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from billing.errors import BillingError
from billing.invoicing.drafts import CloseReport, invoices_draft
from billing.invoicing.issue import invoice_issue, invoice_pdf_store
from billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    ItemState,
    MonthCloseItem,
    MonthCloseRun,
)
from billing.months import Month, current_month
from config.celery import app


@dataclass(frozen=True)
class Progress:
    run: MonthCloseRun
    issued: int
    failed: int
    waiting: int

    @property
    def total(self) -> int:
        return self.issued + self.failed + self.waiting

    @property
    def done(self) -> bool:
        return self.waiting == 0


def _dispatch(item_ids: list[int]) -> None:
    task = app.tasks["billing.month_close_issue"]
    for item_id in item_ids:
        task.apply_async(kwargs={"item_id": item_id})


def month_close_start(
    *, month: Month, invoice_ids: list[int] | None = None, user=None
) -> MonthCloseRun:
    """A run over the month's drafts (those of `invoice_ids` only, when given), one task each.

    The tasks are sent once the run is committed (a worker then finds every item); the caller is
    not inside a transaction (a request, a command). Returns at once with a broker; without one,
    once every draft has been tried."""
    drafts = Invoice.objects.filter(
        month=month.first_day, kind=InvoiceKind.INVOICE, status=InvoiceStatus.DRAFT
    )
    if invoice_ids is not None:
        drafts = drafts.filter(pk__in=invoice_ids)
    with transaction.atomic():
        run = MonthCloseRun.objects.create(month=month.first_day, started_by=user)
        MonthCloseItem.objects.bulk_create(
            [
                MonthCloseItem(run=run, customer_id=customer_id, invoice_id=invoice_id)
                for invoice_id, customer_id in drafts.order_by("customer__code").values_list(
                    "pk", "customer_id"
                )
            ]
        )
        item_ids = list(run.items.order_by("customer__code").values_list("pk", flat=True))
    _dispatch(item_ids)
    return run


def month_close_start_selected(*, invoices: QuerySet[Invoice], user=None) -> list[MonthCloseRun]:
    """The drafts among `invoices` (any months: the invoice list's selection) issued the month
    close's way: one run per month (month order), one task per draft. Returns at once with a
    broker; without one, once every draft has been tried."""
    by_month: dict = defaultdict(list)
    drafts = invoices.filter(kind=InvoiceKind.INVOICE, status=InvoiceStatus.DRAFT).order_by()
    for invoice_id, first_day in drafts.values_list("pk", "month"):
        by_month[first_day].append(invoice_id)
    return [
        month_close_start(month=Month.of(first_day), invoice_ids=ids, user=user)
        for first_day, ids in sorted(by_month.items())
    ]


def month_close_retry(*, run: MonthCloseRun) -> int:
    """Put the run's failed items back to waiting and send their tasks again; how many."""
    with transaction.atomic():
        item_ids = list(
            run.items.select_for_update()
            .filter(state=ItemState.FAILED)
            .values_list("pk", flat=True)
        )
        MonthCloseItem.objects.filter(pk__in=item_ids).update(state=ItemState.WAITING, reason="")
    _dispatch(item_ids)
    return len(item_ids)


def _write(item: MonthCloseItem, state: str, *, number: str = "", reason: str = "") -> None:
    MonthCloseItem.objects.filter(pk=item.pk).update(state=state, number=number, reason=reason)
    item.state, item.number, item.reason = state, number, reason


def month_close_item_issue(*, item_id: int) -> MonthCloseItem:
    """Issue one item's draft and write the item down (issued with its number, failed with the
    reason). Safe to run twice: nothing is issued twice, no number is lost."""
    item = MonthCloseItem.objects.select_related("customer").get(pk=item_id)
    if item.state == ItemState.ISSUED:
        return item
    invoice = (
        Invoice.objects.filter(pk=item.invoice_id)
        .only("status", "number", "kind", "customer_id")
        .order_by()  # not the model's ordering: no join with the customer
        .first()
    )
    if invoice is None:
        _write(
            item,
            ItemState.FAILED,
            reason=_(
                "The draft no longer exists (recomputed meanwhile): run the month close again."
            ),
        )
        return item
    if invoice.status != InvoiceStatus.DRAFT:
        if invoice.number:  # issued by an earlier delivery of this task, or by a clerk
            # A delivery killed after the number was committed may have left the PDF or the
            # e-mail undone: both are done once (invoice_pdf_store, invoice_send).
            invoice_pdf_store(invoice_id=invoice.pk)
            _write(item, ItemState.ISSUED, number=invoice.number)
        else:
            _write(item, ItemState.FAILED, reason=str(invoice))
        return item
    try:
        issued = invoice_issue(invoice=invoice)
    except (BillingError, Invoice.DoesNotExist) as error:
        _write(item, ItemState.FAILED, reason=f"{item.customer.code}: {error}")
        return item
    _write(item, ItemState.ISSUED, number=issued.number)
    return item


def month_close_progress(*, run: MonthCloseRun) -> Progress:
    """Counts per state: one query."""
    counts = run.items.aggregate(
        issued=Count("pk", filter=Q(state=ItemState.ISSUED)),
        failed=Count("pk", filter=Q(state=ItemState.FAILED)),
        waiting=Count("pk", filter=Q(state=ItemState.WAITING)),
    )
    return Progress(run=run, **counts)


def month_close_latest(*, month: Month) -> MonthCloseRun | None:
    return MonthCloseRun.objects.filter(month=month.first_day).first()


def month_close_scheduled(
    *, month: Month | None = None
) -> tuple[CloseReport, MonthCloseRun | None]:
    """The job of the 1st (beat, or `close_month_scheduled` from cron): the drafts of the month
    that ended; issued too only when MONTH_CLOSE_AUTO_ISSUE says so (else a clerk decides)."""
    month = month or current_month().previous()
    report = invoices_draft(month=month)
    run = month_close_start(month=month) if settings.MONTH_CLOSE_AUTO_ISSUE else None
    return report, run
