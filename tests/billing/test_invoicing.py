"""Invoices: amounts read back from the PDF in both languages, VAT treatments, gapless numbers,
final issued invoices, month close, credit notes, e-mail."""

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import IntegrityError, transaction
from pypdf import PdfReader

from billing.errors import BillingError
from billing.invoicing.content import InvoiceError
from billing.invoicing.drafts import invoices_draft
from billing.invoicing.emails import invoice_send
from billing.invoicing.issue import invoice_cancel, invoice_issue, invoice_pdf_store
from billing.models import Invoice, InvoiceLine, InvoiceSequence
from billing.months import Month
from billing.usage.store import events_ingest
from tests.factories import CustomerFactory, subscribe

pytestmark = pytest.mark.django_db

OCTOBER = Month(2026, 10)
RECEIVED = datetime(2026, 11, 2, 9, tzinfo=UTC)
ISSUE_DAY = datetime(2026, 11, 3, 10, tzinfo=UTC)


def pdf_text(invoice) -> str:
    reader = PdfReader(io.BytesIO(bytes(invoice.pdf)))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def chats(code, tariff, actor, count, *, prefix=None, contact=None, day=15):
    prefix = prefix or f"{code}-{tariff}-{actor}"
    return [
        {
            "id": f"{prefix}-{n}",
            "customer": code,
            "tariff": tariff,
            "actor": actor,
            "occurred_at": f"2026-10-{day:02d}T10:00:00+02:00",
            **({"contact": f"{contact}-{n}"} if contact else {}),
        }
        for n in range(count)
    ]


def grow_3234(code="garage-dupont", **customer):
    """A GROW customer who used 3,234 points in October 2026 (the billing rules' worked example)."""
    dealer = CustomerFactory(code=code, **customer)
    subscribe(dealer, "GROW", first_month=date(2026, 1, 1))
    events = chats(code, "test_drive", "agent", 48)  # 3,120
    events += chats(code, "crm_lead", "bot", 9)  # 54
    events += chats(code, "contact_engaged", "team", 30, contact="+336")  # 30 contacts: 60
    assert events_ingest(source="platform", events=events, now=RECEIVED).accepted == 87
    return dealer


@pytest.fixture
def today(clock):
    clock.now = ISSUE_DAY
    return clock


def draft_of(customer):
    return Invoice.objects.get(customer=customer, month=OCTOBER.first_day, status="draft")


def issue(customer):
    invoices_draft(month=OCTOBER)
    return invoice_issue(invoice=draft_of(customer))


# --- Amounts, in the database and in the PDF -----------------------------------------------------


def test_the_grow_month_of_3234_points_in_french(today):
    dealer = grow_3234(language="fr")
    invoice = issue(dealer)
    assert (invoice.number, invoice.issue_date, invoice.due_date) == (
        "F2026-00001",
        date(2026, 11, 3),
        date(2026, 12, 3),
    )
    lines = list(invoice.lines.values_list("description", "quantity", "unit_price", "amount"))
    assert lines == [
        ("Plan Croissance — octobre 2026", 1, Decimal("499.0000"), Decimal("499.00")),
        ("Plan Croissance — Chatpoints supplémentaires", 234, Decimal("0.1400"), Decimal("32.76")),
    ]
    assert (invoice.net_total, invoice.vat_rate, invoice.vat_amount, invoice.total) == (
        Decimal("531.76"),
        Decimal("20.00"),
        Decimal("106.35"),
        Decimal("638.11"),
    )
    text = pdf_text(invoice)
    for expected in (
        "FACTURE",
        "F2026-00001",
        "Plan Croissance — octobre 2026 1 499,00 € 499,00 €",
        "Plan Croissance — Chatpoints supplémentaires 234 0,1400 € 32,76 €",
        "Total HT 531,76 €",
        "TVA 20,00 % 106,35 €",
        "Total TTC 638,11 €",
        "3 234 points utilisés = 3 000 inclus dans le plan Croissance",
        "+ 234 Chatpoints supplémentaires",
        "40,00 €",
        "Date d'échéance 3 décembre 2026",
        "page 1 / ",
    ):
        assert expected in text, expected
    assert "Autoliquidation" not in text


def test_the_same_month_in_english(today):
    dealer = grow_3234(language="en")
    text = pdf_text(issue(dealer))
    for expected in (
        "INVOICE",
        "Plan Grow — October 2026 1 €499.00 €499.00",
        "Plan Grow — extra Chatpoints 234 €0.1400 €32.76",
        "Net total €531.76",
        "VAT 20.00 % €106.35",
        "Total incl. VAT €638.11",
        "3,234 points used = 3,000 included in plan Grow",
        "Due date 3 December 2026",
    ):
        assert expected in text, expected


def test_the_chatpoints_section_adds_up_to_the_invoiced_quantity(today):
    dealer = grow_3234()
    invoice = issue(dealer)
    detail = {(line["tariff"], line["actor"]): line for line in invoice.usage}
    assert {key: (v["chats"], v["points"]) for key, v in detail.items()} == {
        ("test_drive", "agent"): (48, 3120),
        ("crm_lead", "bot"): (9, 54),
        ("contact_engaged", "team"): (30, 60),
    }
    assert invoice.engaged_contacts == 30
    total = sum(line["points"] for line in invoice.usage)
    assert total == invoice.points_used == 3234
    assert total == invoice.lines.get(position=2).quantity + min(total, invoice.included_points)


def test_a_month_within_quota_has_one_line(today):
    dealer = CustomerFactory(code="petit-garage")
    subscribe(dealer, "GROW", first_month=date(2026, 1, 1))
    events_ingest(
        source="platform", events=chats("petit-garage", "test_drive", "agent", 10), now=RECEIVED
    )
    invoice = issue(dealer)
    assert invoice.lines.count() == 1
    assert (invoice.net_total, invoice.vat_amount, invoice.total) == (
        Decimal("499.00"),
        Decimal("99.80"),
        Decimal("598.80"),
    )
    text = pdf_text(invoice)
    assert "Chatpoints supplémentaires" not in text and "Total TTC 598,80 €" in text
    assert "650 points utilisés, dans les 3 000 inclus dans le plan Croissance" in text


def test_an_eu_business_customer_gets_reverse_charge(today):
    dealer = grow_3234(code="bavaria-cars", country="DE", vat_number="DE123456789", language="en")
    invoice = issue(dealer)
    assert (invoice.vat_treatment, invoice.vat_rate, invoice.vat_amount, invoice.total) == (
        "reverse_charge",
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("531.76"),
    )
    text = pdf_text(invoice)
    assert "Autoliquidation — reverse charge" in text
    assert "VAT 0.00 % €0.00" in text and "Total incl. VAT €531.76" in text
    assert "DE123456789" in text


def test_the_french_pdf_says_autoliquidation_too(today):
    dealer = grow_3234(code="bruxelles-auto", country="BE", vat_number="BE0123456789")
    text = pdf_text(issue(dealer))
    assert "Autoliquidation" in text and "TVA 0,00 % 0,00 €" in text


def test_a_monaco_dealer_pays_french_vat(today):
    """Monaco is inside the French VAT territory: 20 %, no article 259-1 wording, its FR number
    on the invoice."""
    dealer = grow_3234(code="monte-carlo-autos", country="MC", vat_number="FR53000004605")
    invoice = issue(dealer)
    assert (invoice.vat_treatment, invoice.vat_rate, invoice.vat_amount, invoice.total) == (
        "standard",
        Decimal("20.00"),
        Decimal("106.35"),
        Decimal("638.11"),
    )
    text = pdf_text(invoice)
    assert "TVA 20,00 % 106,35 €" in text and "Total TTC 638,11 €" in text
    assert "FR53000004605" in text and "Monaco" in text
    assert "259-1" not in text and "Autoliquidation" not in text


def test_staff_can_set_the_vat_treatment(today):
    dealer = grow_3234(country="CH", vat_number="", vat_treatment="standard")
    invoice = issue(dealer)
    assert (invoice.vat_treatment, invoice.vat_amount) == ("standard", Decimal("106.35"))
    swiss = grow_3234(code="geneve-autos", country="CH")
    invoice = issue(swiss)
    assert (invoice.vat_treatment, invoice.vat_amount) == ("outside_eu", Decimal("0.00"))
    assert "article 259-1" in pdf_text(invoice)


# --- Issued invoices are final ------------------------------------------------------------------


def test_issuing_freezes_the_parties_and_the_pdf(today):
    dealer = grow_3234()
    invoice = issue(dealer)
    pdf = bytes(invoice.pdf)
    dealer.legal_name = "Renamed SAS"
    dealer.save()
    subscribe(CustomerFactory(code="other"), "BASE")
    invoice.refresh_from_db()
    assert invoice.buyer["legal_name"] != "Renamed SAS"
    assert bytes(invoice.pdf) == pdf
    assert invoice.seller["legal_name"] == "Chatpoints SAS"
    assert invoice.seller["siren"] and invoice.seller["vat_number"]


def test_code_cannot_change_or_delete_an_issued_invoice(today):
    invoice = issue(grow_3234())
    invoice.total = Decimal("1.00")
    with pytest.raises(BillingError, match="F2026-00001 is issued: it cannot be changed"):
        invoice.save()
    with pytest.raises(BillingError, match="is never deleted"):
        invoice.delete()


@pytest.mark.parametrize(
    "change",
    [
        lambda qs: qs.update(total=Decimal("1.00")),
        lambda qs: qs.update(number="F2026-99999"),
        lambda qs: qs.update(status="draft"),
        lambda qs: qs.update(pdf=b"%PDF-forged"),
        lambda qs: qs.delete(),
        lambda qs: InvoiceLine.objects.filter(invoice__in=qs).update(amount=Decimal("0.00")),
        lambda qs: InvoiceLine.objects.filter(invoice__in=qs).delete(),
        lambda qs: InvoiceLine.objects.create(
            invoice=qs.get(),
            position=9,
            kind="x",
            description="x",
            quantity=1,
            unit_price=Decimal("1"),
            amount=Decimal("1"),
        ),
    ],
)
def test_the_database_refuses_any_change_to_an_issued_invoice(today, change):
    invoice = issue(grow_3234())
    with pytest.raises(IntegrityError), transaction.atomic():
        change(Invoice.objects.filter(pk=invoice.pk))
    invoice.refresh_from_db()
    assert (invoice.total, invoice.number, invoice.lines.count()) == (
        Decimal("638.11"),
        "F2026-00001",
        2,
    )


def test_what_may_change_on_an_issued_invoice(today):
    invoice = issue(grow_3234())
    rows = Invoice.objects.filter(pk=invoice.pk)
    rows.update(paid_on=date(2026, 11, 20), email_status="failed", email_error="x")
    invoice_cancel(invoice=invoice)  # issued -> cancelled, by a credit note only
    assert rows.get().status == "cancelled"
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.update(status="issued")


# --- Numbers --------------------------------------------------------------------------------------


def test_numbers_follow_each_other_per_series_and_a_failed_pdf_leaves_no_gap(today, monkeypatch):
    # Issuing commits the number first, then renders the PDF outside the series' lock (so
    # workers render in parallel): a PDF that fails leaves the invoice issued, numbered and
    # without a PDF (nothing e-mailed), until invoice_pdf_store renders it (the retry job).
    dealers = [grow_3234(code=f"dealer-{n}") for n in range(3)]
    invoices_draft(month=OCTOBER)
    first = invoice_issue(invoice=draft_of(dealers[0]))

    from billing.invoicing import pdf as pdf

    def broken(*args, **options):
        raise RuntimeError("the PDF could not be rendered")

    monkeypatch.setattr(pdf, "invoice_pdf", broken)
    second = invoice_issue(invoice=Invoice.objects.get(customer=dealers[1]))
    monkeypatch.undo()
    second.refresh_from_db()
    assert (second.number, second.status, second.pdf) == ("F2026-00002", "issued", None)
    assert second.email_status == ""
    third = invoice_issue(invoice=draft_of(dealers[2]))
    invoice_pdf_store(invoice_id=second.pk)
    second.refresh_from_db()
    assert "F2026-00002" in pdf_text(second)
    note = invoice_cancel(invoice=second)
    assert [first.number, second.number, third.number, note.number] == [
        "F2026-00001",
        "F2026-00002",
        "F2026-00003",
        "AV2026-00001",
    ]
    assert InvoiceSequence.objects.get(series="F", year=2026).last == 3


def test_a_stored_pdf_is_never_replaced_but_a_missing_one_is_filled_once(today):
    invoice = issue(grow_3234())
    stored = bytes(invoice.pdf)
    rows = Invoice.objects.filter(pk=invoice.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.update(pdf=b"%PDF-other")
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.update(pdf=None)
    assert invoice_pdf_store(invoice_id=invoice.pk).pdf == stored
    assert bytes(rows.get().pdf) == stored


def test_a_pdf_another_delivery_stored_first_is_kept_and_the_e_mail_goes_once(
    today, monkeypatch, django_capture_on_commit_callbacks
):
    # Issuing renders the PDF from what it froze, outside any transaction, and stores it only
    # if none is stored: a redelivered task that got there first keeps its PDF, and the one
    # e-mail carries that PDF.
    from billing.invoicing import issue as issuing

    dealer = grow_3234()
    invoices_draft(month=OCTOBER)
    real = issuing.invoice_facturx_pdf

    def first_stored_elsewhere(invoice, lines, *, xml=None):
        first = real(invoice, lines, xml=xml)
        Invoice.objects.filter(pk=invoice.pk).update(pdf=first)  # the other delivery
        return b"%PDF-1.7 second rendering"

    monkeypatch.setattr(issuing, "invoice_facturx_pdf", first_stored_elsewhere)
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_issue(invoice=draft_of(dealer))
    stored = bytes(Invoice.objects.get(pk=invoice.pk).pdf)
    assert stored.startswith(b"%PDF") and stored != b"%PDF-1.7 second rendering"
    assert bytes(invoice.pdf) == stored
    assert len(mail.outbox) == 1
    assert mail.outbox[0].attachments[0][1] == stored
    with django_capture_on_commit_callbacks(execute=True):
        invoice_pdf_store(invoice_id=invoice.pk)  # a third delivery: nothing again
    assert len(mail.outbox) == 1


def test_the_number_is_taken_in_one_statement_and_the_draft_saved_once(today):
    dealer = grow_3234()
    invoices_draft(month=OCTOBER)
    draft = draft_of(dealer)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        invoice_issue(invoice=draft)
    sql = [query["sql"] for query in queries.captured_queries]
    sequence = [q for q in sql if "billing_invoicesequence" in q]
    assert len(sequence) == 1 and "RETURNING" in sequence[0]
    updates = [q for q in sql if q.startswith('UPDATE "billing_invoice" SET "customer_id"')]
    assert len(updates) == 1  # saved once, issued


def test_the_database_refuses_a_number_twice(today):
    invoice = issue(grow_3234())
    twin = CustomerFactory(code="twin")
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(
            customer=twin,
            month=invoice.month,
            status="issued",
            series="F",
            year=2026,
            sequence=invoice.sequence,
            number="F2026-00001-bis",
            issued_at=invoice.issued_at,
            issue_date=invoice.issue_date,
        )


def test_a_month_is_invoiced_once_it_is_over(clock):
    clock.now = datetime(2026, 10, 31, 12, tzinfo=UTC)
    dealer = CustomerFactory(code="early")
    subscribe(dealer, "BASE", first_month=date(2026, 1, 1))
    invoices_draft(month=OCTOBER)
    with pytest.raises(InvoiceError, match="2026-10 is not over"):
        invoice_issue(invoice=draft_of(dealer))


# --- Month close, credit note, re-issue, e-mails --------------------------------------------------


def test_close_month_twice_then_issue_then_credit_note_and_reissue(
    today, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    grow_3234(code="garage-dupont")
    small = CustomerFactory(code="petit-garage", billing_emails="")
    subscribe(small, "BASE", first_month=date(2026, 1, 1))
    CustomerFactory(code="no-plan")
    events_ingest(source="platform", events=chats("no-plan", "test_drive", "bot", 2), now=RECEIVED)

    out = io.StringIO()
    err = io.StringIO()
    call_command("close_month", "2026-10", stdout=out, stderr=err)
    call_command("close_month", "2026-10", stdout=out, stderr=err)
    assert "2 drafts created, 0 refreshed." in out.getvalue()
    assert "0 drafts created, 2 refreshed." in out.getvalue()
    assert "no-plan: 2 chats with no plan in force (unbilled)." in err.getvalue()
    assert "petit-garage: no billing e-mail address" in err.getvalue()
    assert Invoice.objects.count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        call_command("close_month", "2026-10", "--issue", stdout=out, stderr=err)
    invoices = {i.customer.code: i for i in Invoice.objects.select_related("customer")}
    assert (invoices["garage-dupont"].number, invoices["garage-dupont"].total) == (
        "F2026-00001",
        Decimal("638.11"),
    )
    assert (invoices["petit-garage"].number, invoices["petit-garage"].total) == (
        "F2026-00002",
        Decimal("118.80"),
    )
    assert [(m.to, m.attachments[0][0]) for m in mail.outbox] == [
        (["compta@garage-dupont.example"], "F2026-00001.pdf")
    ]
    assert mail.outbox[0].subject == "Facture F2026-00001 — Chatpoints octobre 2026"
    assert bytes(mail.outbox[0].attachments[0][1]) == bytes(invoices["garage-dupont"].pdf)
    assert invoices["petit-garage"].email_status == "failed"
    assert "no billing e-mail" in invoices["petit-garage"].email_error

    # A late chat, then a credit note and the month billed again with it.
    late = events_ingest(
        source="platform",
        events=chats("garage-dupont", "test_drive", "agent", 1, prefix="late"),
        now=datetime(2026, 11, 3, 11, tzinfo=UTC),  # an hour after the invoice
    )
    assert late.late == 1
    today.now = datetime(2026, 11, 3, 12, tzinfo=UTC)  # staff look at it an hour later
    report = invoices_draft(month=OCTOBER)
    assert report.attention.late == {"garage-dupont": 1}
    assert report.attention.issued == ["garage-dupont", "petit-garage"]
    with django_capture_on_commit_callbacks(execute=True):
        note = invoice_cancel(invoice=invoices["garage-dupont"])
    assert (note.number, note.total, note.credited_invoice.number) == (
        "AV2026-00001",
        Decimal("-638.11"),
        "F2026-00001",
    )
    assert [line.amount for line in note.lines.all()] == [Decimal("-499.00"), Decimal("-32.76")]
    assert "AVOIR" in pdf_text(note) and "annule la facture F2026-00001" in pdf_text(note)
    invoices["garage-dupont"].refresh_from_db()
    assert invoices["garage-dupont"].status == "cancelled"

    with django_capture_on_commit_callbacks(execute=True):
        call_command("close_month", "2026-10", "--issue", stdout=out, stderr=err)
    again = Invoice.objects.get(customer__code="garage-dupont", status="issued", kind="invoice")
    assert again.number == "F2026-00003"
    assert again.points_used == 3234 + 65
    assert again.total == Decimal("638.11") + Decimal("10.92")  # 65 × 0.14 = 9.10 + 20 % VAT
    assert [m.subject for m in mail.outbox] == [
        "Facture F2026-00001 — Chatpoints octobre 2026",
        "Avoir AV2026-00001 (octobre 2026)",
        "Facture F2026-00003 — Chatpoints octobre 2026",
    ]
    assert Invoice.objects.count() == 4  # nothing deleted
    # The late chat is billed now: nothing late is pending any more.
    assert invoices_draft(month=OCTOBER).attention.late == {}


def test_a_failed_send_is_recorded_and_can_be_retried(
    today, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core.mail import EmailMessage

    def refuse(self, *args, **kwargs):
        raise ConnectionRefusedError("SMTP server down")

    monkeypatch.setattr(EmailMessage, "send", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue(grow_3234())
    invoice.refresh_from_db()
    assert (invoice.status, invoice.email_status) == ("issued", "failed")
    assert "SMTP server down" in invoice.email_error
    monkeypatch.undo()
    assert invoice_send(invoice_id=invoice.pk).email_status == "sent"
    assert len(mail.outbox) == 1
