"""Staff and invoices in the admin: month close page, issuing, PDF bytes, credit notes."""

from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from billing.models import Invoice, Payment, PaymentKind
from billing.usage.store import events_ingest
from tests.factories import CustomerFactory, UserFactory, subscribe

pytestmark = pytest.mark.django_db
CLOSE = "admin:billing_invoice_close"


@pytest.fixture
def staff(client, clock):
    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    user = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


@pytest.fixture
def dealers():
    for code, plan in (("garage-dupont", "GROW"), ("petit-garage", "BASE")):
        subscribe(CustomerFactory(code=code), plan, first_month=date(2026, 1, 1))
    events_ingest(
        source="platform",
        events=[
            {
                "id": f"c{n}",
                "customer": "petit-garage",
                "tariff": "test_drive",
                "actor": "agent",
                "occurred_at": "2026-10-10T10:00:00+02:00",
            }
            for n in range(5)
        ],
        now=datetime(2026, 11, 1, tzinfo=UTC),
    )


def test_month_close_page_computes_drafts_and_issues_the_selected_ones(
    client, staff, dealers, django_capture_on_commit_callbacks
):
    page = client.get(reverse(CLOSE), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert page.context["month"].first_day == date(2026, 10, 1)  # last month by default
    assert "No invoice for this month yet" in page.content.decode()
    assert "Month close: October 2026" in page.content.decode()  # the month as people say it
    french = client.get(reverse(CLOSE), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Clôture du mois\xa0: octobre 2026" in french
    url = reverse(CLOSE) + "?month=2026-10"
    assert client.post(url, {"do": "draft"}).status_code == 302
    assert client.post(url, {"do": "draft"}).status_code == 302
    drafts = Invoice.objects.filter(status="draft").order_by("customer__code")
    assert [d.customer.code for d in drafts] == ["garage-dupont", "petit-garage"]
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "€135.00" in html  # petit-garage: 325 points on BASE: 99 + 75 × 0.18 = 112.50 + VAT
    petit = drafts.get(customer__code="petit-garage")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"do": "issue", "invoice": [petit.pk]})
    petit.refresh_from_db()
    assert (petit.number, petit.status) == ("F2026-00001", "issued")
    assert Invoice.objects.get(customer__code="garage-dupont").status == "draft"
    pdf = client.get(reverse("admin:billing_invoice_pdf", args=[petit.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="F2026-00001.pdf"'
    assert pdf.content == bytes(petit.pdf)


def test_invoices_are_read_only_and_never_deleted(client, staff, dealers):
    client.post(reverse(CLOSE) + "?month=2026-10", {"do": "draft"})
    invoice = Invoice.objects.first()
    change = reverse("admin:billing_invoice_change", args=[invoice.pk])
    assert client.get(change).status_code == 200
    assert client.post(change, {"total": "1.00"}).status_code == 403
    delete = reverse("admin:billing_invoice_delete", args=[invoice.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:billing_invoice_add")).status_code == 403


def test_staff_cancel_an_issued_invoice_with_a_credit_note(client, staff, dealers):
    url = reverse(CLOSE) + "?month=2026-10"
    client.post(url, {"do": "draft"})
    client.post(url, {"do": "issue", "invoice": list(Invoice.objects.values_list("pk", flat=True))})
    invoice = Invoice.objects.get(customer__code="petit-garage")
    changelist = reverse("admin:billing_invoice_changelist")
    ask = client.post(
        changelist,
        {"action": "cancel_with_credit_note", "_selected_action": [invoice.pk]},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert ask.status_code == 200 and "Issue the credit notes" in ask.content.decode()
    assert not Invoice.objects.filter(kind="credit_note").exists()
    client.post(
        changelist,
        {"action": "cancel_with_credit_note", "_selected_action": [invoice.pk], "confirm": "1"},
    )
    note = Invoice.objects.get(kind="credit_note")
    assert (note.number, note.credited_invoice, note.total) == (
        "AV2026-00001",
        invoice,
        -invoice.total,
    )
    invoice.refresh_from_db()
    assert invoice.status == "cancelled"


def test_issuing_needs_its_permission(client, dealers, clock):
    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    clerk = UserFactory(username="clerk", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    client.force_login(clerk)
    url = reverse(CLOSE) + "?month=2026-10"
    assert client.get(url).status_code == 200
    assert client.post(url, {"do": "draft"}).status_code == 403
    assert Invoice.objects.count() == 0


def test_staff_record_the_day_a_payment_arrived(client, staff, dealers):
    url = reverse(CLOSE) + "?month=2026-10"
    client.post(url, {"do": "draft"})
    client.post(url, {"do": "issue", "invoice": list(Invoice.objects.values_list("pk", flat=True))})
    invoice = Invoice.objects.get(customer__code="petit-garage")
    changelist = reverse("admin:billing_invoice_changelist")
    ask = client.post(changelist, {"action": "record_payment", "_selected_action": [invoice.pk]})
    assert ask.status_code == 200
    future = client.post(
        changelist,
        {
            "action": "record_payment",
            "_selected_action": [invoice.pk],
            "confirm": "1",
            "paid_on": "2026-12-01",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "A payment is recorded once it is received." in future.content.decode()
    client.post(
        changelist,
        {
            "action": "record_payment",
            "_selected_action": [invoice.pk],
            "confirm": "1",
            "paid_on": "2026-11-02",
        },
    )
    invoice.refresh_from_db()
    assert invoice.paid_on == date(2026, 11, 2)
    # A payment by hand of the whole balance: the accounting export books it in the bank journal.
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.amount, payment.kind, payment.paid_on) == (
        invoice.total,
        PaymentKind.MANUAL,
        date(2026, 11, 2),
    )
    assert payment.recorded_by == staff
    # Asked again, nothing more is recorded: nothing is due.
    client.post(
        changelist,
        {
            "action": "record_payment",
            "_selected_action": [invoice.pk],
            "confirm": "1",
            "paid_on": "2026-11-03",
        },
    )
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_issuing_drafts_recomputed_meanwhile_says_so(client, staff, dealers):
    url = reverse(CLOSE) + "?month=2026-10"
    client.post(url, {"do": "draft"})
    old = list(Invoice.objects.values_list("pk", flat=True))
    client.post(url, {"do": "draft"})  # the drafts are replaced
    response = client.post(
        url, {"do": "issue", "invoice": old}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "2 selected drafts no longer exist" in response.content.decode()
    assert not Invoice.objects.filter(status="issued").exists()


def test_an_issued_invoice_shows_its_frozen_parties_and_detail(client, staff, dealers):
    url = reverse(CLOSE) + "?month=2026-10"
    client.post(url, {"do": "draft"})
    client.post(url, {"do": "issue", "invoice": list(Invoice.objects.values_list("pk", flat=True))})
    invoice = Invoice.objects.get(customer__code="petit-garage")
    page = client.get(
        reverse("admin:billing_invoice_change", args=[invoice.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "Chatpoints SAS" in page and invoice.buyer["legal_name"] in page
    assert "test_drive" in page and reverse("admin:billing_invoice_pdf", args=[invoice.pk]) in page
