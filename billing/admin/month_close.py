"""The month close page (Invoices → Month close): a month's invoices and what needs attention,
and its actions, each one service: compute the drafts, issue the selected drafts (one task per
draft: a month close run, whose progress the page shows, refreshing itself until no draft waits),
retry the run's failed drafts.

Seeing the page takes the permission to view invoices; its actions, the one to issue them."""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext

from billing.errors import BillingError
from billing.invoicing.drafts import invoices_draft
from billing.invoicing.month_close import (
    month_close_latest,
    month_close_progress,
    month_close_retry,
    month_close_start,
    month_close_start_selected,
)
from billing.models import Invoice, InvoiceKind, InvoiceStatus, ItemState, MonthCloseRun
from billing.months import Month, current_month
from billing.months import today as billing_today
from billing.usage.selectors import subscriptions_in_force


def month_close_urls(model_admin: admin.ModelAdmin) -> list:
    view = partial(month_close_view, model_admin=model_admin)
    fragment = partial(month_close_progress_view, model_admin=model_admin)
    return [
        path("close/", model_admin.admin_site.admin_view(view), name="billing_invoice_close"),
        path(
            "close/progress/",
            model_admin.admin_site.admin_view(fragment),
            name="billing_invoice_close_progress",
        ),
    ]


def month_close_view(request: HttpRequest, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """GET: the page. POST: one action, then back to the page of the month."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    month = _month(request)
    if request.method == "POST":
        if not model_admin.has_issue_permission(request):
            raise PermissionDenied
        action = ACTIONS.get(request.POST.get("do"))
        if action is not None:
            action(request, month)
            return redirect(f"{reverse('admin:billing_invoice_close')}?month={month}")
    return month_close_page(request, month, model_admin=model_admin)


def _month(request: HttpRequest) -> Month:
    """The month asked for, last month by default (a month is closed once it has ended)."""
    try:
        return Month.parse(request.GET.get("month") or str(current_month().previous()))
    except BillingError as error:
        messages.error(request, str(error))
        return current_month().previous()


# --- the two actions ----------------------------------------------------------------------------


def compute_drafts(request: HttpRequest, month: Month) -> None:
    try:
        report = invoices_draft(month=month)
    except BillingError as error:
        messages.error(request, str(error))
        return
    messages.success(
        request,
        gettext("%(created)d drafts created, %(refreshed)d refreshed.")
        % {"created": report.created, "refreshed": report.refreshed},
    )
    for warning in report.attention.messages():
        messages.warning(request, warning)


def issue_selected(request: HttpRequest, month: Month) -> None:
    """One task per selected draft (month_close_start); the page then shows the run's progress.
    Without a broker the tasks have run by now: the result is told at once."""
    selected = request.POST.getlist("invoice")
    ids = [int(value) for value in selected if value.isdigit()]
    run = month_close_start(month=month, invoice_ids=ids, user=request.user)
    progress = month_close_progress(run=run)
    gone = len(selected) - progress.total  # recomputed or issued meanwhile, or no id at all
    if gone:
        messages.warning(
            request,
            gettext(
                "%(count)d selected drafts no longer exist (recomputed or issued meanwhile): "
                "check the page and issue again."
            )
            % {"count": gone},
        )
    _tell_started(request, run, progress)


def issue_all(request: HttpRequest, month: Month) -> None:
    """Every draft of the month, on every page of the list (month_close_start)."""
    run = month_close_start(month=month, user=request.user)
    _tell_started(request, run, month_close_progress(run=run))


def _tell_started(request: HttpRequest, run: MonthCloseRun, progress) -> None:
    if progress.done:
        tell_run(request, run)
    else:
        messages.info(
            request,
            ngettext(
                "%(count)d draft is being issued: the page shows its progress.",
                "%(count)d drafts are being issued: the page shows their progress.",
                progress.total,
            )
            % {"count": progress.total},
        )


def retry_failed(request: HttpRequest, month: Month) -> None:
    """Send the failed drafts of the month's latest run to the workers again."""
    run = month_close_latest(month=month)
    count = month_close_retry(run=run) if run is not None else 0
    if not count:
        messages.warning(request, gettext("No failed draft to retry."))
        return
    if month_close_progress(run=run).done:
        tell_run(request, run)
    else:
        messages.info(
            request,
            ngettext(
                "%(count)d failed draft sent again.",
                "%(count)d failed drafts sent again.",
                count,
            )
            % {"count": count},
        )


def issue_invoices(request: HttpRequest, invoices: QuerySet[Invoice]) -> None:
    """The invoice list's action "Issue the selected drafts": the month close's path (one run per
    month, one task per draft, month_close_start_selected), so it never blocks. Without a broker
    the result is told at once; with one, a link to each month's progress."""
    runs = month_close_start_selected(invoices=invoices, user=request.user)
    if not runs:
        messages.warning(request, gettext("No draft among the selected invoices."))
    for run in runs:
        progress = month_close_progress(run=run)
        if progress.done:
            tell_run(request, run)
            continue
        month = Month.of(run.month)
        url = f"{reverse('admin:billing_invoice_close')}?month={month}"
        messages.info(
            request,
            format_html(
                '{} <a href="{}">{}</a>',
                ngettext(
                    "%(count)d draft of %(month)s is being issued.",
                    "%(count)d drafts of %(month)s are being issued.",
                    progress.total,
                )
                % {"count": progress.total, "month": month},
                url,
                gettext("See the progress on the month close page"),
            ),
        )


def tell_run(request: HttpRequest, run: MonthCloseRun) -> None:
    items = list(run.items.select_related("customer").order_by("customer__code"))
    issued = sorted(item.number for item in items if item.state == ItemState.ISSUED)
    refused = [item.reason for item in items if item.state == ItemState.FAILED]
    if issued:
        messages.success(
            request,
            ngettext("Issued %(numbers)s.", "Issued %(count)d invoices: %(numbers)s.", len(issued))
            % {"count": len(issued), "numbers": ", ".join(issued)},
        )
    for message in refused:
        messages.error(request, message)


ACTIONS = {
    "draft": compute_drafts,
    "issue": issue_selected,
    "issue_all": issue_all,
    "retry": retry_failed,
}


# --- the page -------------------------------------------------------------------------------------


# Rows of the page's list: a month of 5,000 dealers is 25 pages, each rendered in a fraction of a
# second (all of them at once took seconds); "issue every draft" covers the pages not shown.
PAGE_SIZE = 200


def month_close_page(
    request: HttpRequest, month: Month, *, model_admin: admin.ModelAdmin
) -> TemplateResponse:
    rows = (
        Invoice.objects.filter(month=month.first_day)
        .select_related("customer")
        .order_by("customer__code", "kind", "id")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    invoices = list(page.object_list)
    # The plan's name in the page's language (an invoice keeps it in its own language).
    plans = {
        s.customer_id: s.plan.name
        for s in subscriptions_in_force(month=month).filter(
            customer_id__in={invoice.customer_id for invoice in invoices}
        )
    }
    for invoice in invoices:
        invoice.plan_label = plans.get(invoice.customer_id, invoice.plan_name)
    drafts = [invoice for invoice in invoices if invoice.status == InvoiceStatus.DRAFT]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("Month close: %(month)s") % {"month": date_format(month.first_day, "F Y")},
        "opts": model_admin.model._meta,
        "previous": month.previous(),
        "next": month.next(),
        "invoices": invoices,
        "page": page,
        "drafts": drafts,
        "month_drafts": rows.filter(kind=InvoiceKind.INVOICE, status=InvoiceStatus.DRAFT).count()
        if page.has_other_pages()
        else len(drafts),
        "no_email": {i.customer_id for i in drafts if not i.customer.billing_email_list},
        "month_over": month.next().first_day <= billing_today(),
        **_progress_context(request, month, model_admin=model_admin),
    }
    return TemplateResponse(request, "admin/billing/invoice/close.html", context)


def _progress_context(request: HttpRequest, month: Month, *, model_admin) -> dict:
    """The latest run of the month: its counts (one query), its failures with their reasons;
    the page polls them (month_close_progress_view) while drafts wait."""
    run = month_close_latest(month=month)
    progress = month_close_progress(run=run) if run is not None else None
    return {
        "month": month,
        "can_issue": model_admin.has_issue_permission(request),
        "run": run,
        "progress": progress,
        "failed": list(run.items.filter(state=ItemState.FAILED).select_related("customer")[:200])
        if progress and progress.failed
        else [],
        "refresh_seconds": 3 if progress and not progress.done else None,
    }


def month_close_progress_view(request: HttpRequest, *, model_admin) -> HttpResponse:
    """The progress box alone (a few queries, whatever the month's size): what the page fetches
    every few seconds while drafts wait, instead of the whole page and its thousands of rows."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    context = _progress_context(request, _month(request), model_admin=model_admin)
    return TemplateResponse(request, "admin/billing/invoice/close_progress.html", context)
