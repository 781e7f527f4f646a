"""Payment reminders with a fixed clock: the right steps on the right days, in the customer's
language with the PDF, the amount still due and the late-payment mentions; none after payment,
a credit note or while paused; never twice for one step, even when two runs go at once."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from billing.invoicing.issue import invoice_cancel
from billing.models import PaymentReminder, ReminderPause
from billing.payments.reminders import reminders_send
from billing.payments.statements import payment_record
from tests.factories import CustomerFactory, UserFactory, due_invoice

DUE = date(2026, 11, 1)


@pytest.fixture
def invoices(db, clock, settings):
    settings.REMINDER_OFFSETS = [3, 15, 30]
    clock.now = datetime(2026, 11, 1, 8, tzinfo=UTC)
    french = CustomerFactory(code="lyon", legal_name="Lyon Automobiles SAS", language="fr")
    english = CustomerFactory(code="dublin", legal_name="Dublin Motors Ltd", language="en")
    return {
        "fr": due_invoice(french, date(2026, 9, 1), "598.80", DUE),
        "en": due_invoice(english, date(2026, 9, 1), "499.00", DUE),
    }


def run(day):
    return sorted((r.invoice.number, r.step) for r in reminders_send(today=day))


def test_the_right_steps_on_the_right_days(invoices):
    fr, en = invoices["fr"].number, invoices["en"].number
    calendar = {}
    for offset in range(0, 45):
        day = DUE + timedelta(days=offset)
        got = run(day)
        if got:
            calendar[offset] = got
    assert calendar == {step: sorted([(en, step), (fr, step)]) for step in (3, 15, 30)}
    assert PaymentReminder.objects.count() == 6
    assert len(mail.outbox) == 6


def test_the_mail_in_the_customers_language_with_pdf_amount_due_and_mentions(invoices):
    payment_record(invoice=invoices["fr"], amount=Decimal("100.00"), paid_on=DUE, kind="manual")
    run(DUE + timedelta(days=3))
    french = next(m for m in mail.outbox if invoices["fr"].number in m.subject)
    assert french.subject == f"Relance : la facture {invoices['fr'].number} est échue"
    assert "498,80\N{NO-BREAK SPACE}€ restent dus" in french.body  # 598.80 less 100.00
    assert "taux annuel de 10,00 %" in french.body and "40,00\N{NO-BREAK SPACE}€" in french.body
    assert french.attachments[0][0] == f"{invoices['fr'].number}.pdf"
    english = next(m for m in mail.outbox if invoices["en"].number in m.subject)
    assert "€499.00 remain due" in english.body and "€40.00" in english.body
    assert "L441-10" in english.body


def test_a_late_run_sends_only_the_latest_step_reached(invoices):
    assert run(DUE + timedelta(days=20)) == sorted(
        [(invoices["fr"].number, 15), (invoices["en"].number, 15)]
    )
    assert run(DUE + timedelta(days=21)) == []


def test_none_after_payment_credit_note_or_while_paused(invoices, clock):
    run(DUE + timedelta(days=3))
    payment_record(
        invoice=invoices["fr"], amount=Decimal("598.80"), paid_on=DUE + timedelta(4), kind="bank"
    )
    clock.now = datetime(2026, 11, 5, 8, tzinfo=UTC)
    invoice_cancel(invoice=invoices["en"])
    assert run(DUE + timedelta(days=15)) == []
    other = due_invoice(CustomerFactory(code="paused"), date(2026, 9, 1), "10.00", DUE)
    pause = ReminderPause.objects.create(customer=other.customer, reason="dispute")
    assert run(DUE + timedelta(days=16)) == []
    pause.delete()
    assert run(DUE + timedelta(days=16)) == [(other.number, 15)]


def test_the_command_and_the_invoice_page_list_the_reminders(invoices, client):
    out = StringIO()
    call_command("send_payment_reminders", "--today", "2026-11-04", stdout=out)
    assert "2 reminders sent." in out.getvalue()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(
        reverse("admin:billing_invoice_change", args=[invoices["fr"].pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    html = page.content.decode()
    assert "Payment reminders" in html and "<p>4 November 2026</p>" in html


def test_pausing_from_the_admin(invoices, client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:billing_reminderpause_add"),
        {"customer": invoices["fr"].customer.pk, "reason": "dispute over October"},
    )
    assert response.status_code == 302
    assert run(DUE + timedelta(days=3)) == [(invoices["en"].number, 3)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_runs_at_once_send_each_step_once(clock, settings):
    settings.REMINDER_OFFSETS = [3, 15, 30]
    clock.now = datetime(2026, 11, 4, 8, tzinfo=UTC)
    numbers = [
        due_invoice(CustomerFactory(code=f"d{n:02d}"), date(2026, 9, 1), "99.00", DUE).number
        for n in range(20)
    ]
    barrier = threading.Barrier(4)
    results, errors = [], []

    def job():
        try:
            barrier.wait()
            results.extend(r.invoice.number for r in reminders_send(today=date(2026, 11, 4)))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=job) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == sorted(numbers)  # each once, whichever run took it
    assert PaymentReminder.objects.count() == 20
    assert len(mail.outbox) == 20
