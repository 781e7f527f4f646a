"""The dealer portal: the monthly Chatpoint report, its CSV, the invoices and their PDFs.

Every page names its customer in the URL (`/dealers/<code>/…`) and is found among the customers
the user may see (selectors.portal_customers): another dealer's customer is a 404, exactly as a
customer that does not exist. The short URLs (`/report/`, `/report/YYYY-MM/`, `/invoices/`)
lead to the customer chosen last (remembered in the session), else the first.
"""

from __future__ import annotations

import csv
from dataclasses import asdict
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import get_language, gettext_lazy, ngettext, pgettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from billing.catalog.tariffs import tariffs_by_id
from billing.errors import InvalidMonth
from billing.formats import spreadsheet_text
from billing.invoicing.facturx import invoice_facturx_xml
from billing.labels import actor_label
from billing.models import Actor, Category, InvoiceStatus
from billing.months import Month, billing_tz, current_month
from billing.portal.chart import gauge, points_chart
from billing.portal.chats import ChatFilter, chat_rows_streamed, month_chats
from billing.portal.selectors import (
    invoices_of,
    portal_customers,
    report_months,
    report_page,
)
from billing.usage.alerts import (
    customer_alerts_set,
    thresholds,
    usage_alert_figures,
    usage_alerts_of,
)

SESSION_CUSTOMER = "portal_customer"
CSV_LINES_PER_CHUNK = 500  # lines sent together: few writes, still constant memory


# --- Customers ----------------------------------------------------------------------------------


def _customer(request, code: str):
    """The customer `code` if the user may see it, else 404 (never 403: whether another dealer
    exists is not the user's business). Remembered for the short URLs."""
    customer = get_object_or_404(portal_customers(request.user), code=code)
    if request.session.get(SESSION_CUSTOMER) != customer.code:
        request.session[SESSION_CUSTOMER] = customer.code
    return customer


def _chosen_customer(request):
    """The customer the short URLs lead to: the one chosen last, else the first one given to
    the user. Staff who have not opened a report yet have none: they start from the admin."""
    customers = portal_customers(request.user).order_by("code")
    code = request.session.get(SESSION_CUSTOMER)
    chosen = customers.filter(code=code).first() if code else None
    return chosen or customers.filter(accesses__user=request.user).first()


def _portal_context(request, customer, section: str) -> dict:
    return {
        "customer": customer,
        "customers": portal_customers(request.user).order_by("code").only("code", "legal_name"),
        "section": section,
    }


# --- Short URLs ---------------------------------------------------------------------------------


@login_required
@require_safe
def home(request):
    return short_report(request)


@login_required
@require_safe
def short_report(request, month: str | None = None):
    customer = _chosen_customer(request)
    if customer is None:
        if request.user.is_staff:
            return redirect("admin:index")
        return render(request, "billing/portal/no_customer.html", status=200)
    return redirect("portal:report", customer=customer.code, month=month or str(current_month()))


@login_required
@require_safe
def short_invoices(request):
    customer = _chosen_customer(request)
    if customer is None:
        return short_report(request)
    return redirect("portal:invoices", customer=customer.code)


# --- The report ---------------------------------------------------------------------------------


class ChatFilterForm(forms.Form):
    """The list's filters. A value that is not offered is an error naming it (and no filter)."""

    category = forms.ChoiceField(label=gettext_lazy("Category"), required=False)
    tariff = forms.ChoiceField(label=gettext_lazy("Tariff"), required=False)
    actor = forms.ChoiceField(label=gettext_lazy("Handled by"), required=False)

    def __init__(self, *args, tariffs, **kwargs):
        super().__init__(*args, **kwargs)
        everything = [("", _("All"))]
        self.fields["category"].choices = everything + list(Category.choices)
        self.fields["tariff"].choices = everything + sorted(
            ((tariff.code, tariff.description) for tariff in tariffs.values()),
            key=lambda choice: choice[1].lower(),
        )
        self.fields["actor"].choices = everything + [
            (value, actor_label(value)) for value in Actor.values
        ]
        for name, field in self.fields.items():
            field.error_messages["invalid_choice"] = _(
                "“%(value)s” is not one of the choices for “%(field)s”."
            ) % {"value": "%(value)s", "field": field.label}
            field.widget.attrs["id"] = f"filter-{name}"

    def chat_filter(self) -> ChatFilter:
        """The valid filters (a refused one is shown with its error and not applied)."""
        if not self.is_bound:
            return ChatFilter()
        self.is_valid()
        return ChatFilter(**self.cleaned_data)


def _month(customer, value: str, months: list[Month] | None = None) -> Month:
    """The month of the URL if the customer has a report for it, else 404."""
    try:
        month = Month.parse(value)
    except InvalidMonth as error:
        raise Http404(str(error)) from None
    if month not in (months if months is not None else report_months(customer=customer)):
        raise Http404(_("There is no report for %(month)s.") % {"month": month})
    return month


@login_required
@require_safe
def report_index(request, customer: str):
    """The month picker's target (`?month=YYYY-MM`), else the current month."""
    customer = _customer(request, customer)
    month = request.GET.get("month") or str(current_month())
    try:
        month = str(Month.parse(month))
    except InvalidMonth as error:
        raise Http404(str(error)) from None
    return redirect("portal:report", customer=customer.code, month=month)


@login_required
@require_safe
def report(request, customer: str, month: str):
    customer = _customer(request, customer)
    now = timezone.now()
    months = report_months(customer=customer, now=now)
    month = _month(customer, month, months)
    tariffs = tariffs_by_id()
    form = ChatFilterForm(request.GET or None, tariffs=tariffs)
    chat_filter = form.chat_filter()
    shown = report_page(
        customer=customer,
        month=month,
        chat_filter=chat_filter,
        page_number=request.GET.get("page"),
        now=now,
        tariffs=tariffs,
    )
    data = shown.report
    query = {name: value for name, value in asdict(chat_filter).items() if value}
    context = {
        **_portal_context(request, customer, "report"),
        "report": data,
        "month": month,
        "months": months,
        "previous_month": month.previous() if month.previous() in months else None,
        "next_month": month.next() if month.next() in months else None,
        "form": form,
        "filtered": bool(query),
        "page": shown.page,
        "rows": shown.rows,
        "count": shown.count,
        "filtered_points": shown.filtered_points,
        "filter_query": urlencode(query),
        "actor_labels": {value: actor_label(value) for value in Actor.values},
        "category_labels": dict(Category.choices),
        "tariff_labels": {tariff.code: tariff.description for tariff in data.tariffs.values()},
        "chart": _chart(data),
        "gauge": gauge(used=data.points_used, included=data.statement.included_points)
        if data.statement
        else None,
        # The usage alert of the month in progress, the same figures the e-mail gives.
        "alert": usage_alert_figures(report=data) if data.is_current else None,
    }
    return render(request, "billing/portal/report.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def usage_alerts(request, customer: str):
    """The dealer's usage alerts: those sent, and the switch to turn the e-mails off or on (the
    dealer's own users, or staff who may change customers)."""
    customer = _customer(request, customer)
    may_change = customer.accesses.filter(user=request.user).exists() or request.user.has_perm(
        "customers.change_customer"
    )
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied
        customer_alerts_set(customer=customer, enabled=request.POST.get("enabled") == "1")
        return redirect("portal:usage_alerts", customer=customer.code)
    context = {
        **_portal_context(request, customer, "alerts"),
        "alerts": usage_alerts_of(customer=customer),
        "thresholds": thresholds(),
        "may_change": may_change,
    }
    return render(request, "billing/portal/alerts.html", context)


def _chart(data):
    included = data.statement.included_points if data.statement else None
    projection = data.projection.points if data.projection else None
    return points_chart(
        days=data.days,
        month=data.month,
        included=included,
        projected=projection,
    )


class _Echo:
    """A file-like object whose write returns the line: csv.writer feeding a generator."""

    def write(self, value):
        return value


@login_required
@require_safe
def report_csv(request, customer: str, month: str):
    """The month's chats as CSV, streamed: the page's rows and totals, in the user's language
    (semicolon-separated in French, as spreadsheets there expect; commas in English)."""
    customer = _customer(request, customer)
    month = _month(customer, month)
    tariffs = tariffs_by_id()
    form = ChatFilterForm(request.GET or None, tariffs=tariffs)
    if form.is_bound and not form.is_valid():
        messages = "; ".join(
            f"{form.fields[name].label}: {' '.join(errors)}" for name, errors in form.errors.items()
        )
        return HttpResponse(messages, status=400, content_type="text/plain; charset=utf-8")
    chats = month_chats(customer=customer, month=month, chat_filter=form.chat_filter())
    french = (get_language() or "fr").startswith("fr")
    delimiter = ";" if french else ","
    filename = f"chatpoints-{slugify(customer.code)}-{month}.csv"
    response = StreamingHttpResponse(
        _csv_lines(chats, tariffs, delimiter, get_language()),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _csv_lines(chats, tariffs, delimiter, language):
    # Streamed after the view has returned (maybe on another thread): in the request's language.
    with translation.override(language):
        yield from _csv_lines_translated(chats, tariffs, delimiter)


def _csv_lines_translated(chats, tariffs, delimiter):
    writer = csv.writer(_Echo(), delimiter=delimiter, lineterminator="\r\n")
    yield "\ufeff"  # the BOM: spreadsheets then read UTF-8
    columns = {
        "occurred_at": _("Date and time"),
        "category": _("Category"),
        "tariff_code": _("Tariff code"),
        "tariff": _("Tariff"),
        "actor": _("Handled by"),
        "contact": _("Contact"),
        "points": _("Points"),
        "source": _("Source"),
        "external_id": _("Chat id"),
    }
    yield writer.writerow(columns.values())
    categories = dict(Category.choices)
    # Labels are looked up once, not per row (a month can hold 100,000 chats).
    tariff_columns = {
        tariff.id: (
            str(categories.get(tariff.category, tariff.category)),
            tariff.code,
            spreadsheet_text(tariff.description),
        )
        for tariff in tariffs.values()
    }
    actors = {value: actor_label(value) for value in Actor.values}
    total_chats = total_points = 0
    lines = []
    for row in chat_rows_streamed(chats=chats, tariffs=tariffs):
        total_chats += 1
        total_points += row.points
        lines.append(
            writer.writerow(
                [
                    row.occurred_at.isoformat(sep=" ", timespec="seconds"),
                    *tariff_columns[row.tariff.id],
                    actors.get(row.actor, row.actor),
                    spreadsheet_text(row.contact),
                    row.points,
                    spreadsheet_text(row.source),
                    spreadsheet_text(row.external_id),
                ]
            )
        )
        if len(lines) == CSV_LINES_PER_CHUNK:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)
    # The totals under their own columns: the points under Points, the chats counted under
    # Chat id (every field present, so a spreadsheet keeps the columns aligned).
    totals = dict.fromkeys(columns, "")
    totals["occurred_at"] = pgettext("sum of a list", "Total")
    totals["points"] = total_points
    totals["external_id"] = ngettext("%(count)s chat", "%(count)s chats", total_chats) % {
        "count": total_chats
    }
    yield writer.writerow(totals.values())


# --- Invoices -----------------------------------------------------------------------------------


@login_required
@require_safe
def invoices(request, customer: str):
    customer = _customer(request, customer)
    context = {
        **_portal_context(request, customer, "invoices"),
        "invoices": list(invoices_of(customer)),
        "today": timezone.now().astimezone(billing_tz()).date(),
        "Status": InvoiceStatus,
    }
    return render(request, "billing/portal/invoices.html", context)


@login_required
@require_safe
def invoice_pdf(request, customer: str, number: str):
    """The PDF stored when the invoice (or credit note) was issued: those bytes, unchanged."""
    customer = _customer(request, customer)
    invoice = get_object_or_404(
        invoices_of(customer).defer(None).only("number", "pdf"), number=number
    )
    if not invoice.pdf:
        raise Http404(_("The PDF of %(number)s is not available.") % {"number": number})
    response = HttpResponse(bytes(invoice.pdf), content_type="application/pdf")
    disposition = "inline" if request.GET.get("inline") else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{invoice.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_safe
def invoice_xml(request, customer: str, number: str):
    """The e-invoice alone: the Factur-X XML the stored PDF carries, those bytes."""
    customer = _customer(request, customer)
    invoice = get_object_or_404(
        invoices_of(customer).defer(None).only("number", "pdf"), number=number
    )
    xml = invoice_facturx_xml(invoice)
    if xml is None:
        raise Http404(_("The e-invoice of %(number)s is not available.") % {"number": number})
    response = HttpResponse(xml, content_type="application/xml")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.xml"'
    response["Cache-Control"] = "private, no-store"
    return response
