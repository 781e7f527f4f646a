"""The accounting export page (Invoices → Accounting export): a period's FEC, or its invoices
and credit notes as CSV, downloaded (billing.accounting builds both). It changes nothing; seeing
it takes the permissions to view invoices and payments (the FEC holds both)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from billing.accounting.fec import ENCODING, AccountingError, fec_filename, fec_lines, period_check
from billing.accounting.invoices_csv import invoices_csv_filename, invoices_csv_lines
from billing.errors import BillingError
from billing.months import current_month

_DAY = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")  # HTML: ISO, always


class PeriodForm(forms.Form):
    start = forms.DateField(label=_("First day"), widget=_DAY)
    end = forms.DateField(
        label=_("Last day"),
        widget=_DAY,
        help_text=_("Included. The closing date of the period: the FEC's file name carries it."),
    )

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end"):
            try:
                period_check(data["start"], data["end"])
            except AccountingError as error:
                self.add_error(error.field, str(error))
        return data


def accounting_urls(model_admin: admin.ModelAdmin) -> list:
    view = require_safe(partial(accounting_export_view, model_admin=model_admin))
    return [
        path(
            "accounting-export/",
            model_admin.admin_site.admin_view(view),
            name="billing_invoice_accounting_export",
        )
    ]


def _download(kind: str, start, end) -> HttpResponse:
    if kind == "csv":
        body = "".join(invoices_csv_lines(start=start, end=end)).encode("utf-8")
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        filename = invoices_csv_filename(start, end)
    else:
        body = "".join(fec_lines(start=start, end=end)).encode(ENCODING)
        response = HttpResponse(body, content_type="text/plain; charset=utf-8")
        filename = fec_filename(end)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def accounting_export_view(request: HttpRequest, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """GET: the form; GET with `download` (fec or csv) and a valid period: the file."""
    if not (
        model_admin.has_view_permission(request) and request.user.has_perm("billing.view_payment")
    ):
        raise PermissionDenied
    kind = request.GET.get("download")
    last_month = current_month().previous()
    initial = {
        "start": last_month.first_day,
        "end": last_month.next().first_day - timedelta(days=1),
    }
    form = PeriodForm(request.GET if kind else None, initial=initial)
    if kind and form.is_valid():
        try:
            return _download(kind, form.cleaned_data["start"], form.cleaned_data["end"])
        except BillingError as error:
            messages.error(request, str(error))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("Accounting export"),
        "opts": model_admin.model._meta,
        "form": form,
    }
    return TemplateResponse(request, "admin/billing/invoice/accounting.html", context)
