import io
import re
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from billing.management.commands import load_demo as load_demo_command
from billing.management.demo import DEALERS, load_demo
from billing.models import ChatEvent, Invoice, Subscription, TariffRate
from billing.months import Month
from billing.usage.selectors import month_statement
from customers.models import Customer

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _placeholder_pdfs(monkeypatch):
    """The demo issues 46 documents the first time: a stand-in for WeasyPrint (0.5 s each).
    What the PDFs say is read back in tests/billing/test_invoicing.py."""
    monkeypatch.setattr(
        "billing.invoicing.facturx.invoice_facturx_pdf",
        lambda invoice, lines: f"%PDF-1.4 {invoice.number}".encode(),
    )


def test_demo_data_is_idempotent_and_shows_every_plan():
    first = load_demo(now=NOW)
    counts = (
        Customer.objects.count(),
        Subscription.objects.count(),
        ChatEvent.objects.count(),
        TariffRate.objects.count(),
        get_user_model().objects.count(),
    )
    second = load_demo(now=NOW)
    assert first["new_events"] == counts[2] > 5000
    assert second["new_events"] == 0
    assert counts == (
        Customer.objects.count(),
        Subscription.objects.count(),
        ChatEvent.objects.count(),
        TariffRate.objects.count(),
        get_user_model().objects.count(),
    )
    assert ChatEvent.objects.filter(occurred_at__gt=NOW).count() == 0

    over = under = 0
    plans = set()
    for customer in Customer.objects.all():
        for month in (Month(2026, 10), Month(2026, 11)):  # last month and the current one
            statement = month_statement(customer=customer, month=month)
            assert statement.points_used > 0
            plans.add(statement.plan)
        over += statement.overage_points > 0
        under += statement.overage_points == 0
    assert plans == {"BASE", "GROW", "SCALE", "ENTERPRISE"}
    assert over and under
    for customer in Customer.objects.all():
        customer.full_clean()  # staff can open and save every demo dealer


def test_running_later_adds_only_the_new_chats():
    load_demo(now=NOW)
    before = ChatEvent.objects.count()
    result = load_demo(now=datetime(2026, 11, 28, 18, 0, tzinfo=UTC))
    assert result["new_events"] == ChatEvent.objects.count() - before > 0


def test_command_prints_the_logins_and_both_addresses(capsys):
    call_command("load_demo", "--url", "http://192.0.2.7:8001")
    out = capsys.readouterr().out
    assert "Dealer portal:  http://192.0.2.7:8001/\n" in out
    assert "Admin (staff):  http://192.0.2.7:8001/admin/\n" in out
    assert "login admin  password chatpoints-admin" in out
    dealer_logins = [dealer.login for dealer in DEALERS if dealer.login]
    assert len(dealer_logins) == 2
    for user, password in dealer_logins:
        assert f"login {user}  password {password}" in out
        assert get_user_model().objects.get(username=user).check_password(password)


def test_a_tariff_staff_stopped_offering_is_skipped():
    from datetime import timedelta

    from billing.catalog.tariffs import tariff_change
    from billing.models import Tariff

    load_demo(now=NOW)
    tariff_change(
        tariff=Tariff.objects.get(code="mql_to_sql"),
        points_agent=None,
        points_bot=None,
        points_team=None,
        effective_from=(NOW + timedelta(days=1)).date(),
        today=NOW.date(),
    )
    later = NOW + timedelta(days=3)
    assert load_demo(now=later)["new_events"] > 0
    stopped = ChatEvent.objects.filter(
        tariff__code="mql_to_sql", occurred_at__gte=NOW + timedelta(days=1, hours=1)
    )
    assert not stopped.exists()


# --- The past months invoiced --------------------------------------------------------------------


def invoice_rows(client, user, code):
    """(number, status text) of each row of the dealer's invoices page, in English."""
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(reverse("portal:invoices", kwargs={"customer": code}))
    assert response.status_code == 200
    html = response.content.decode()
    row = r'<th scope="row"[^>]*>([A-Z0-9-]+).*?class="status[^"]*">([^<]*)<'
    rows = re.findall(row, html, re.S)
    return [(number, " ".join(status.split())) for number, status in rows]


def snapshot():
    return list(
        Invoice.objects.order_by("id").values_list(
            "id", "customer__code", "month", "kind", "status", "number", "issued_at", "paid_on"
        )
    )


def test_the_past_months_are_invoiced_once_and_the_current_month_stays_open(client, clock):
    clock.now = NOW
    first = load_demo(now=NOW)
    # Six past months for 7 dealers, and for the 2 dealers with a login, a credit note and a new
    # invoice of July (with the chats the platform reported late).
    assert first["new_invoices"] == 6 * 7 + 2 * 2
    assert not Invoice.objects.filter(month=Month(2026, 11).first_day).exists()
    assert not Invoice.objects.filter(status="draft", customer__code__in=[d.code for d in DEALERS])
    # What a dealer sees (the page in English, dates day-month), the newest month first.
    user = get_user_model().objects.get(username="dupont")
    rows = invoice_rows(client, user, "garage-dupont")
    october, september, august, july_again, credit_note, july, june, may = rows
    assert october[1] == "Due on 01/12/2026"  # issued on 1 November, 30 days
    assert september[1] == "Paid on 21/10/2026"
    assert august[1] == "Overdue since 01/10/2026"
    assert credit_note == ("AV2026-00001", f"Cancels {july[0]}")
    assert july[1] == "Cancelled by AV2026-00001"
    assert july_again[1] == "Paid on 30/08/2026"  # issued again on 10 August
    assert june[1] == "Paid on 21/07/2026" and may[1] == "Paid on 21/06/2026"
    cancelled = Invoice.objects.get(number=july[0])
    again = Invoice.objects.get(number=july_again[0])
    assert again.points_used == cancelled.points_used + 3 * 65  # three late test drives
    assert again.total > cancelled.total  # BASE: 250 points included, the rest is billed
    lyon = get_user_model().objects.get(username="lyon")
    assert [status.split()[0] for _, status in invoice_rows(client, lyon, "lyon-automobiles")] == [
        "Due",
        "Paid",
        "Overdue",
        "Paid",
        "Cancels",
        "Cancelled",
        "Paid",
        "Paid",
    ]

    # Run again (every `make run` does): nothing issued twice, nothing changed.
    before = snapshot()
    second = load_demo(now=NOW)
    assert (second["new_events"], second["new_invoices"]) == (0, 0)
    assert snapshot() == before

    # A week later November is over: it is invoiced (due), nothing else changes.
    clock.now = later = datetime(2026, 12, 4, 8, tzinfo=UTC)
    third = load_demo(now=later)
    assert third["new_invoices"] == 7
    assert snapshot()[: len(before)] == before
    november = Invoice.objects.get(customer__code="garage-dupont", month="2026-11-01")
    assert (november.issued_at, november.paid_on) == (datetime(2026, 12, 1, 8, tzinfo=UTC), None)
    assert invoice_rows(client, user, "garage-dupont")[0] == (november.number, "Due on 31/12/2026")


def fake_load_demo(new_events, new_invoices):
    return lambda: {
        "customers": len(DEALERS),
        "new_events": new_events,
        "new_invoices": new_invoices,
        "staff": ("admin", "chatpoints-admin"),
        "dealers": [(d.login, d.code) for d in DEALERS if d.login],
    }


@pytest.mark.parametrize(
    "events, invoices, expected",
    [
        (1, 1, "7 concessionnaires, 1 nouvel événement de chat, 1 facture ou avoir émis."),
        (
            17632,
            46,
            "7 concessionnaires, 17\N{NO-BREAK SPACE}632 nouveaux événements de chat, "
            "46 factures et avoirs émis.",
        ),
    ],
)
def test_the_command_counts_in_good_french(monkeypatch, events, invoices, expected):
    monkeypatch.setattr(load_demo_command, "load_demo", fake_load_demo(events, invoices))
    out = io.StringIO()
    with translation.override("fr"):
        call_command("load_demo", stdout=out)
    assert expected in out.getvalue()


def test_demo_dealer_under_a_sepa_mandate_end_to_end(clock, tmp_path):
    """The demo's dealer under a mandate: its open invoices are pre-notified, exported in a
    pain.008 (valid against the XSD), and a camt.053 crediting them marks them paid."""
    from datetime import date

    import xmlschema
    from sepaxml import validation

    from billing.models import DirectDebit, Mandate
    from tests.billing.camt import Tx, camt053

    clock.now = NOW
    load_demo(now=NOW)
    load_demo(now=NOW)
    mandate = Mandate.objects.get()
    assert (mandate.customer.code, mandate.scheme, mandate.revoked_on) == (
        "lyon-automobiles",
        "B2B",
        None,
    )
    assert mandate.customer.payment_method == "sepa_debit"
    open_invoices = set(
        Invoice.objects.filter(
            customer=mandate.customer, kind="invoice", status="issued", paid_on__isnull=True
        ).values_list("number", flat=True)
    )
    assert len(open_invoices) == 2  # last month's (due) and the overdue one
    out = io.StringIO()
    call_command("send_direct_debit_notices", "--today", "2026-11-27", stdout=out)
    assert "2 pre-notifications sent." in out.getvalue()
    call_command(
        "export_direct_debits",
        "--collection-date",
        "2026-12-02",
        "--output-dir",
        str(tmp_path),
        stdout=out,
    )
    (file,) = tmp_path.iterdir()
    schema = xmlschema.XMLSchema(
        str(
            __import__("pathlib").Path(validation.__file__).parent
            / "schemas"
            / "pain.008.001.02.xsd"
        )
    )
    schema.validate(file.read_text())
    debits = list(DirectDebit.objects.select_related("invoice"))
    assert {d.invoice.number for d in debits} == open_invoices
    for debit in debits:
        assert debit.invoice.number in file.read_text()
    statement = tmp_path / "camt053.xml"
    statement.write_bytes(
        camt053(
            [
                Tx(
                    str(debit.amount),
                    f"BANK-{debit.pk}",
                    name="Lyon Automobiles SA",
                    end_to_end=debit.end_to_end_id,
                    booked_on=date(2026, 12, 2),
                )
                for debit in debits
            ]
        )
    )
    call_command("import_bank_statement", str(statement), stdout=out)
    assert set(
        Invoice.objects.filter(number__in=open_invoices).values_list("paid_on", flat=True)
    ) == {date(2026, 12, 2)}
