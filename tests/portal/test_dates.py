"""Dates in day-month order in both languages (config/formats/): the English pages, PDF, e-mail
and admin say `30 November 2026` and `30/11/2026`, never the American `Nov. 30, 2026` or
`11/30/2026`; French unchanged."""

import io
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django import forms
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader

from billing.invoicing.drafts import invoices_draft
from billing.invoicing.emails import invoice_send
from billing.invoicing.issue import invoice_issue
from billing.models import Invoice
from billing.months import Month
from tests.factories import CustomerFactory, UserFactory, subscribe

from .conftest import OCTOBER

pytestmark = pytest.mark.django_db


def pdf_text(invoice) -> str:
    reader = PdfReader(io.BytesIO(bytes(invoice.pdf)))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def portal(client, user, name, language, **kwargs):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(reverse(f"portal:{name}", kwargs=kwargs))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    "language, in_pdf, in_email",
    [
        (
            "en",
            ["Issue date 31 October 2026", "Due date 30 November 2026", "by 30 November 2026."],
            "due on 30 November 2026.",
        ),
        (
            "fr",
            ["Date d'émission 31 octobre 2026", "Date d'échéance 30 novembre 2026"],
            "30 novembre 2026.",
        ),
    ],
)
def test_the_pdf_and_e_mail_say_30_november_2026(clock, settings, language, in_pdf, in_email):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    clock.now = datetime(2026, 10, 31, 10, tzinfo=UTC)  # September issued: due in 30 days
    dealer = CustomerFactory(
        code="dublin-motors", country="IE", vat_number="IE6388047V", language=language
    )
    subscribe(dealer, "GROW", first_month=date(2026, 1, 1))
    invoices_draft(month=Month(2026, 9))
    invoice = invoice_issue(invoice=Invoice.objects.get(customer=dealer, status="draft"))
    text = pdf_text(invoice)
    for expected in in_pdf:
        assert expected in text, expected
    assert not re.search(r"\b(Oct|Nov)\. \d", text)
    invoice_send(invoice_id=invoice.pk)
    assert in_email in mail.outbox[-1].body


def test_the_english_invoices_page_reads_day_month_and_the_french_too(client, dealers):
    dupont = dealers["dupont"]  # October issued on 3 November 2026, due on 3 December
    assert (dupont.invoice.issue_date, dupont.invoice.due_date) == (
        date(2026, 11, 3),
        date(2026, 12, 3),
    )
    english = portal(client, dupont.user, "invoices", "en", customer="garage-dupont")
    assert ">03/11/2026<" in english and "Due on 03/12/2026" in english
    assert "11/03/2026" not in english and "12/03/2026" not in english
    french = portal(client, dupont.user, "invoices", "fr", customer="garage-dupont")
    assert ">03/11/2026<" in french and "03/12/2026" in french


def test_the_report_lists_chats_day_month_in_both_languages(client, dealers):
    user = dealers["dupont"].user
    for language in ("en", "fr"):
        html = portal(
            client, user, "report", language, customer="garage-dupont", month=str(OCTOBER)
        )
        shown = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', html)
        assert shown
        for moment, text in shown:
            local = datetime.fromisoformat(moment).astimezone(ZoneInfo("Europe/Paris"))
            assert text == local.strftime("%d/%m/%Y %H:%M"), (language, moment, text)


def test_the_english_admin_lists_issue_dates_day_month(client, dealers):
    staff = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.get(reverse("admin:billing_invoice_changelist"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert "3 November 2026" in html and "Nov. 3, 2026" not in html


def test_english_forms_take_day_month_or_iso_never_month_day():
    field = forms.DateField()
    with translation.override("en"):
        assert field.clean("30/11/2026") == date(2026, 11, 30)
        assert field.clean("2026-11-30") == date(2026, 11, 30)
        assert field.clean("01/11/2026") == date(2026, 11, 1)  # 1 November, not 11 January
        with pytest.raises(forms.ValidationError):
            field.clean("11/30/2026")
        assert field.widget.format_value(date(2026, 11, 1)) == "01/11/2026"


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_admin_payment_date_is_iso_for_the_browser_date_picker(clock, language):
    from billing.admin.invoices import PaymentForm

    clock.now = datetime(2026, 11, 30, 10, tzinfo=UTC)
    with translation.override(language):
        html = str(PaymentForm()["paid_on"])
    assert 'type="date"' in html and 'value="2026-11-30"' in html
