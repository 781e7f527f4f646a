"""The month close page (Invoices → Month close): a month's invoices and what needs attention,
and its two actions, each one service: compute the drafts, issue the selected drafts.

Seeing the page takes the permission to view invoices; its actions, the one to issue them."""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext, ngettext

from billing.errors import BillingError
from billing.invoicing.drafts import invoices_draft
from billing.invoicing.issue import IssueReport, invoices_issue_selected
from billing.models import Invoice, InvoiceStatus
from billing.months import Month, current_month
from billing.months import today as billing_today
from billing.usage.selectors import subscriptions_in_force


def month_close_urls(model_admin: admin.ModelAdmin) -> list:
    view = partial(month_close_view, model_admin=model_admin)
    return [path("close/", model_admin.admin_site.admin_view(view), name="billing_invoice_close")]


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
    selected = request.POST.getlist("invoice")
    ids = [int(value) for value in selected if value.isdigit()]
    report = invoices_issue_selected(month=month, invoice_ids=ids)
    gone = report.gone + len(selected) - len(ids)  # a value that is no id is no draft either
    if gone:
        messages.warning(
            request,
            gettext(
                "%(count)d selected drafts no longer exist (recomputed or issued meanwhile): "
                "check the page and issue again."
            )
            % {"count": gone},
        )
    tell_issued(request, report)


ACTIONS = {"draft": compute_drafts, "issue": issue_selected}


def tell_issued(request: HttpRequest, report: IssueReport) -> None:
    """The numbers issued, then one error per draft refused (also the invoice list's action)."""
    if report.issued:
        numbers = [invoice.number for invoice in report.issued]
        messages.success(
            request,
            ngettext("Issued %(numbers)s.", "Issued %(count)d invoices: %(numbers)s.", len(numbers))
            % {"count": len(numbers), "numbers": ", ".join(numbers)},
        )
    for message in report.refused:
        messages.error(request, message)


# --- the page -------------------------------------------------------------------------------------


def month_close_page(
    request: HttpRequest, month: Month, *, model_admin: admin.ModelAdmin
) -> TemplateResponse:
    invoices = list(
        Invoice.objects.filter(month=month.first_day)
        .select_related("customer")
        .order_by("customer__code", "kind", "id")
    )
    # The plan's name in the page's language (an invoice keeps it in its own language).
    plans = {s.customer_id: s.plan.name for s in subscriptions_in_force(month=month)}
    for invoice in invoices:
        invoice.plan_label = plans.get(invoice.customer_id, invoice.plan_name)
    drafts = [invoice for invoice in invoices if invoice.status == InvoiceStatus.DRAFT]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("Month close: %(month)s") % {"month": month},
        "opts": model_admin.model._meta,
        "month": month,
        "previous": month.previous(),
        "next": month.next(),
        "invoices": invoices,
        "drafts": drafts,
        "no_email": {i.customer_id for i in drafts if not i.customer.billing_email_list},
        "month_over": month.next().first_day <= billing_today(),
        "can_issue": model_admin.has_issue_permission(request),
    }
    return TemplateResponse(request, "admin/billing/invoice/close.html", context)
