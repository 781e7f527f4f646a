"""The dealer portal's URLs. Every URL here is walked by tests/billing/test_portal_isolation.py
(as the right dealer, another dealer and anonymous): a URL added without its case fails it."""

from django.urls import path, register_converter

from . import views


class MonthConverter:
    regex = r"[0-9]{4}-[0-9]{2}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return str(value)


register_converter(MonthConverter, "month")

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("report/", views.short_report, name="short_report"),
    path("report/<month:month>/", views.short_report, name="short_report_month"),
    path("invoices/", views.short_invoices, name="short_invoices"),
    path("dealers/<str:customer>/report/", views.report_index, name="report_index"),
    path("dealers/<str:customer>/report/<month:month>/", views.report, name="report"),
    path(
        "dealers/<str:customer>/report/<month:month>/chats.csv",
        views.report_csv,
        name="report_csv",
    ),
    path("dealers/<str:customer>/invoices/", views.invoices, name="invoices"),
    path(
        "dealers/<str:customer>/invoices/<str:number>.pdf",
        views.invoice_pdf,
        name="invoice_pdf",
    ),
]
