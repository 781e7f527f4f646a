"""The dealer portal's URLs. Every URL here is walked by tests/portal/test_isolation.py (as the
right dealer, another dealer and anonymous): a URL added without its case fails it."""

from django.urls import path, register_converter

from billing.portal import views


class MonthConverter:
    regex = r"[0-9]{4}-[0-9]{2}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return str(value)


class CustomerCodeConverter(MonthConverter):
    regex = r"[a-z0-9][a-z0-9_.-]*"  # Customer.code's validator


class InvoiceNumberConverter(MonthConverter):
    regex = r"[A-Za-z0-9][A-Za-z0-9._-]*"


register_converter(MonthConverter, "month")
register_converter(CustomerCodeConverter, "customer")
register_converter(InvoiceNumberConverter, "number")

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("report/", views.short_report, name="short_report"),
    path("report/<month:month>/", views.short_report, name="short_report_month"),
    path("invoices/", views.short_invoices, name="short_invoices"),
    path("dealers/<customer:customer>/report/", views.report_index, name="report_index"),
    path("dealers/<customer:customer>/report/<month:month>/", views.report, name="report"),
    path(
        "dealers/<customer:customer>/report/<month:month>/chats.csv",
        views.report_csv,
        name="report_csv",
    ),
    path("dealers/<customer:customer>/invoices/", views.invoices, name="invoices"),
    path(
        "dealers/<customer:customer>/invoices/<number:number>.pdf",
        views.invoice_pdf,
        name="invoice_pdf",
    ),
]
