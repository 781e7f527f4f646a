"""The accountant's FEC: the header and the 18 fields, every entry balanced, the journals' totals
equal to the invoices, credit notes and payments of the period summed here from the rows
themselves (reverse charge, outside the EU, a credit note, payments and a returned debit among
them), lettering, a constant number of queries; the command and the admin's download."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.accounting.fec import COLUMNS, HEADER, fec_filename, fec_lines
from billing.invoicing.content import _buyer
from billing.invoicing.issue import _seller, invoice_cancel
from billing.models import Invoice, InvoiceStatus, Payment, PaymentKind
from billing.payments.statements import payment_record
from tests.factories import CustomerFactory, UserFactory, with_one_line

pytestmark = pytest.mark.django_db

START, END = date(2026, 11, 1), date(2026, 11, 30)
FILENAME = "732829320FEC20261130.txt"
_sequence = itertools.count(1)


def document(customer, issued_on, *, net, vat="0.00", total=None, status="issued", month=None):
    """An invoice written directly, as issuing leaves it: frozen amounts, parties, one line.
    Its month: the one before its issue unless given."""
    sequence = next(_sequence)
    net, vat = Decimal(net), Decimal(vat)
    invoice = Invoice.objects.create(
        customer=customer,
        month=month or (issued_on.replace(day=1) - timedelta(days=1)).replace(day=1),
        status=InvoiceStatus.DRAFT,  # its line first: an issued invoice's lines never change
        series="F",
        year=issued_on.year,
        sequence=sequence,
        number=f"F{issued_on.year}-{sequence:05d}",
        issued_at=datetime(issued_on.year, issued_on.month, issued_on.day, 9, tzinfo=UTC),
        issue_date=issued_on,
        due_date=issued_on,
        vat_treatment=customer.effective_vat_treatment(),
        vat_rate=customer.vat_decision().rate,
        net_total=net,
        vat_amount=vat,
        total=Decimal(total) if total is not None else net + vat,
        plan_name="Croissance",
        seller=_seller(),
        buyer=_buyer(customer),
        pdf=b"%PDF-1.4 test",
    )
    return with_one_line(invoice, amount=net, status=status)


@pytest.fixture
def world(clock):
    clock.now = datetime(2026, 12, 3, 10, tzinfo=UTC)
    paris = CustomerFactory(code="garage-dupont", legal_name="Garage Dupont SARL")
    brussels = CustomerFactory(
        code="bruxelles-auto",
        legal_name="Bruxelles Auto SA",
        country="BE",
        vat_number="BE0123456789",
        postal_code="1000",
        city="Bruxelles",
    )
    geneva = CustomerFactory(
        code="geneve-cars", legal_name="Genève Cars SA", country="CH", postal_code="1201"
    )
    assert brussels.effective_vat_treatment() == "reverse_charge"
    assert geneva.effective_vat_treatment() == "outside_eu"
    october = document(paris, date(2026, 10, 2), net="499.00", vat="99.80")  # before the period
    paid = document(paris, date(2026, 11, 2), net="499.00", vat="99.80")
    reverse_charge = document(brussels, date(2026, 11, 2), net="1234.56")
    outside_eu = document(geneva, date(2026, 11, 3), net="299.00")
    cancelled = document(
        paris, date(2026, 11, 5), net="100.01", vat="20.00", month=date(2026, 8, 1)
    )
    note = invoice_cancel(invoice=cancelled, now=datetime(2026, 11, 10, 10, tzinfo=UTC))
    document(paris, date(2026, 12, 1), net="499.00", vat="99.80")  # after the period
    document(paris, date(2026, 11, 20), net="10.00", status="draft", month=date(2026, 7, 1))
    for invoice, amount, day, kind in (
        (october, "598.80", date(2026, 11, 4), PaymentKind.BANK),
        (paid, "598.80", date(2026, 11, 20), PaymentKind.BANK),
        (reverse_charge, "1000.00", date(2026, 11, 21), PaymentKind.MANUAL),
        (outside_eu, "299.00", date(2026, 11, 15), PaymentKind.BANK),
        (outside_eu, "-299.00", date(2026, 11, 18), PaymentKind.RETURN),  # a debit returned
        (reverse_charge, "234.56", date(2026, 12, 2), PaymentKind.BANK),  # after the period
    ):
        payment_record(invoice=invoice, amount=Decimal(amount), paid_on=day, kind=kind)
    return {
        "october": october,
        "paid": paid,
        "reverse_charge": reverse_charge,
        "outside_eu": outside_eu,
        "cancelled": cancelled,
        "note": note,
    }


def parse(text: str) -> list[dict]:
    """The file's lines as dicts, after checking the header and the 18 fields of each."""
    assert text.endswith("\r\n")
    lines = text.split("\r\n")[:-1]
    assert lines[0] == HEADER
    assert HEADER == (
        "JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\t"
        "CompAuxLib\tPieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\t"
        "ValidDate\tMontantdevise\tIdevise"
    )
    rows = []
    for line in lines[1:]:
        fields = line.split("\t")
        assert len(fields) == 18, line
        rows.append(dict(zip(COLUMNS, fields, strict=True)))
    return rows


def amount(text: str) -> Decimal:
    assert text.count(",") == 1 and len(text.split(",")[1]) == 2 and "." not in text, text
    return Decimal(text.replace(",", "."))


def export() -> list[dict]:
    return parse("".join(fec_lines(start=START, end=END)))


def test_the_fec_balances_and_adds_up_to_the_period_s_documents_and_payments(world, settings):
    rows = export()
    by_entry = defaultdict(list)
    for row in rows:
        by_entry[row["EcritureNum"]].append(row)
    for number, lines in by_entry.items():
        debit = sum(amount(line["Debit"]) for line in lines)
        credit = sum(amount(line["Credit"]) for line in lines)
        assert debit == credit, number
        assert {line["PieceRef"] for line in lines} != {""}
        assert {(line["EcritureDate"], line["ValidDate"]) for line in lines} == {
            (lines[0]["EcritureDate"], lines[0]["EcritureDate"])
        }
    # What the period's rows say, summed here.
    documents = Invoice.objects.filter(issue_date__range=(START, END)).exclude(status="draft")
    payments = Payment.objects.filter(paid_on__range=(START, END))
    assert documents.count() == 5 and payments.count() == 5

    def balance(journal, account):  # debit - credit
        return sum(
            amount(row["Debit"]) - amount(row["Credit"])
            for row in rows
            if row["JournalCode"] == journal and row["CompteNum"].startswith(account)
        )

    assert balance("VE", "411") == sum(d.total for d in documents) == Decimal("2132.36")
    assert -balance("VE", "706") == sum(d.net_total for d in documents) == Decimal("2032.56")
    assert -balance("VE", "44571") == sum(d.vat_amount for d in documents) == Decimal("99.80")
    assert balance("BQ", "512") == sum(p.amount for p in payments) == Decimal("2197.60")
    assert -balance("BQ", "411") == balance("BQ", "512")
    # One entry per document and per payment; numbered per journal, in order.
    entries = sorted(by_entry)
    assert [n for n in entries if n.startswith("VE")] == [f"VE{n:06d}" for n in range(1, 6)]
    assert [n for n in entries if n.startswith("BQ")] == [f"BQ{n:06d}" for n in range(1, 6)]
    # Chronological: by date (a day's sales before its bank entries).
    dates = [row["EcritureDate"] for row in rows]
    assert dates == sorted(dates)
    assert all(row["Montantdevise"] == "" and row["Idevise"] == "" for row in rows)


def test_each_kind_of_entry_line_by_line(world):
    rows = export()
    lines = defaultdict(list)
    for row in rows:
        lines[row["PieceRef"], row["JournalCode"]].append(
            (row["CompteNum"], row["CompAuxNum"], row["Debit"], row["Credit"])
        )
    paid, reverse_charge = world["paid"], world["reverse_charge"]
    outside_eu, cancelled, note = world["outside_eu"], world["cancelled"], world["note"]
    assert lines[paid.number, "VE"] == [
        ("411000", "garage-dupont", "598,80", "0,00"),
        ("706000", "", "0,00", "499,00"),
        ("445710", "", "0,00", "99,80"),
    ]
    # Reverse charge and outside the EU: no VAT line, revenue on their own accounts.
    assert lines[reverse_charge.number, "VE"] == [
        ("411000", "bruxelles-auto", "1234,56", "0,00"),
        ("706200", "", "0,00", "1234,56"),
    ]
    assert lines[outside_eu.number, "VE"] == [
        ("411000", "geneve-cars", "299,00", "0,00"),
        ("706300", "", "0,00", "299,00"),
    ]
    # The credit note: the mirror of the invoice it cancels.
    assert lines[cancelled.number, "VE"] == [
        ("411000", "garage-dupont", "120,01", "0,00"),
        ("706000", "", "0,00", "100,01"),
        ("445710", "", "0,00", "20,00"),
    ]
    assert lines[note.number, "VE"] == [
        ("411000", "garage-dupont", "0,00", "120,01"),
        ("706000", "", "100,01", "0,00"),
        ("445710", "", "20,00", "0,00"),
    ]
    # Payments: bank debited, the customer credited; a returned debit the other way round.
    assert lines[paid.number, "BQ"] == [
        ("512000", "", "598,80", "0,00"),
        ("411000", "garage-dupont", "0,00", "598,80"),
    ]
    assert lines[outside_eu.number, "BQ"] == [
        ("512000", "", "299,00", "0,00"),
        ("411000", "geneve-cars", "0,00", "299,00"),
        ("512000", "", "0,00", "299,00"),
        ("411000", "geneve-cars", "299,00", "0,00"),
    ]
    # The October invoice's payment, received in November: in this period's bank journal.
    assert lines[world["october"].number, "BQ"] == [
        ("512000", "", "598,80", "0,00"),
        ("411000", "garage-dupont", "0,00", "598,80"),
    ]
    first = rows[0]
    assert first == {
        "JournalCode": "VE",
        "JournalLib": "Ventes",
        "EcritureNum": "VE000001",
        "EcritureDate": "20261102",
        "CompteNum": "411000",
        "CompteLib": "Clients",
        "CompAuxNum": "garage-dupont",
        "CompAuxLib": "Garage Dupont SARL",
        "PieceRef": paid.number,
        "PieceDate": "20261102",
        "EcritureLib": f"Facture {paid.number} Garage Dupont SARL",
        "Debit": "598,80",
        "Credit": "0,00",
        "EcritureLet": paid.number,
        "DateLet": "20261120",
        "ValidDate": "20261102",
        "Montantdevise": "",
        "Idevise": "",
    }


def test_lettering_pairs_an_invoice_with_what_settles_it(world):
    rows = export()
    lettered = defaultdict(list)
    for row in rows:
        if row["EcritureLet"]:
            assert row["CompteNum"] == "411000" and row["DateLet"]
            lettered[row["EcritureLet"], row["DateLet"]].append(
                amount(row["Debit"]) - amount(row["Credit"])
            )
        else:
            assert row["DateLet"] == ""
    paid, cancelled, october = world["paid"], world["cancelled"], world["october"]
    reverse_charge = world["reverse_charge"]
    # Paid exactly: the invoice and its payment; cancelled unpaid: the invoice and its credit
    # note; the October invoice's payment (the invoice is in October's file); the Belgian
    # invoice, paid in full on 2 December (lettering is the day of the export's). The invoice
    # paid then returned stays open.
    assert dict(lettered) == {
        (paid.number, "20261120"): [Decimal("598.80"), Decimal("-598.80")],
        (cancelled.number, "20261110"): [Decimal("120.01"), Decimal("-120.01")],
        (october.number, "20261104"): [Decimal("-598.80")],
        (reverse_charge.number, "20261202"): [Decimal("1234.56"), Decimal("-1000.00")],
    }


def test_an_entry_that_does_not_balance_is_never_written(world):
    customer = world["paid"].customer
    wrong = document(
        customer,
        date(2026, 11, 25),
        net="100.00",
        vat="20.00",
        total="120.01",
        month=date(2026, 6, 1),
    )
    with pytest.raises(Exception, match=f"{wrong.number} does not balance"):
        export()


def test_an_empty_period_is_the_header_alone():
    assert "".join(fec_lines(start=START, end=END)) == HEADER + "\r\n"


def test_the_file_is_named_after_the_seller_s_siren_and_the_closing_date(settings):
    assert fec_filename(END) == FILENAME
    settings.SELLER = {**settings.SELLER, "siren": "552 100 554"}
    assert fec_filename(date(2026, 12, 31)) == "552100554FEC20261231.txt"


def test_accounts_and_journals_are_settings(world, settings):
    settings.FEC_SALES_JOURNAL, settings.FEC_BANK_JOURNAL = "VT", "BNP"
    settings.FEC_ACCOUNT_CUSTOMERS, settings.FEC_ACCOUNT_BANK = "41100000", "51210000"
    settings.FEC_ACCOUNT_REVENUE_EU = "70620000"
    rows = export()
    assert {row["JournalCode"] for row in rows} == {"VT", "BNP"}
    assert "VT000005" in {row["EcritureNum"] for row in rows}
    accounts = {row["CompteNum"] for row in rows}
    assert {"41100000", "51210000", "70620000"} <= accounts
    assert not {"411000", "512000", "706200"} & accounts


@pytest.mark.parametrize("size", [2, 12])
def test_the_export_reads_in_a_constant_number_of_queries(clock, size):
    clock.now = datetime(2026, 12, 3, 10, tzinfo=UTC)
    for n in range(size):
        customer = CustomerFactory(code=f"dealer-q{size}-{n}")
        invoice = document(customer, date(2026, 11, 2 + n), net="100.00", vat="20.00")
        payment_record(
            invoice=invoice, amount=Decimal("120.00"), paid_on=date(2026, 11, 28), kind="bank"
        )
    with CaptureQueriesContext(connection) as queries:
        rows = export()
    assert len(rows) == size * 5
    assert len(queries) == 3
    from billing.accounting.invoices_csv import invoices_csv_lines

    with CaptureQueriesContext(connection) as queries:
        assert len(list(invoices_csv_lines(start=START, end=END))) == size + 2
    assert len(queries) == 1


# --- The command -------------------------------------------------------------------------------


def test_the_command_writes_the_fec_named_after_the_closing_date(world, tmp_path):
    out = StringIO()
    call_command("export_fec", "2026-11-01", "2026-11-30", output_dir=str(tmp_path), stdout=out)
    assert [path.name for path in tmp_path.iterdir()] == [FILENAME]
    content = (tmp_path / FILENAME).read_bytes()
    assert content == "".join(fec_lines(start=START, end=END)).encode("utf-8")
    assert content.startswith(b"JournalCode\tJournalLib\t") and b"\r\n" in content
    assert "Gen\u00e8ve Cars SA".encode() in content  # UTF-8
    assert FILENAME in out.getvalue()


def test_the_command_also_writes_the_invoices_csv(world, tmp_path):
    call_command(
        "export_fec", "2026-11-01", "2026-11-30", output_dir=str(tmp_path), invoices_csv=True
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        FILENAME,
        "invoices-20261101-20261130.csv",
    ]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-13-01", "2026-11-30", "START: 2026-13-01 is not a date: give it as YYYY-MM-DD."),
        ("2026-11-01", "30/11/2026", "END: 30/11/2026 is not a date: give it as YYYY-MM-DD."),
        (
            "2026-12-01",
            "2026-11-30",
            "START 2026-12-01 is after END 2026-11-30: a period runs from its first day to its "
            "last.",
        ),
    ],
)
def test_the_command_refuses_bad_input_and_writes_nothing(world, tmp_path, start, end, message):
    with pytest.raises(CommandError) as error:
        call_command("export_fec", start, end, output_dir=str(tmp_path), invoices_csv=True)
    assert str(error.value) == message
    assert list(tmp_path.iterdir()) == []


def test_the_command_speaks_french_too(tmp_path):
    from django.utils import translation

    with translation.override("fr"), pytest.raises(CommandError) as error:
        call_command("export_fec", "2026-12-01", "2026-11-30", output_dir=str(tmp_path))
    assert str(error.value) == (
        "START 2026-12-01 est après END 2026-11-30 : une période va de son premier jour à son "
        "dernier."
    )


def test_an_entry_that_does_not_balance_leaves_no_file(world, tmp_path):
    customer = world["paid"].customer
    document(
        customer, date(2026, 11, 25), net="100.00", vat="20.00", total="99", month=date(2026, 6, 1)
    )
    with pytest.raises(CommandError, match="does not balance"):
        call_command("export_fec", "2026-11-01", "2026-11-30", output_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


# --- The admin ---------------------------------------------------------------------------------

URL = "/admin/billing/invoice/accounting-export/"


def accountant(*codenames):
    user = UserFactory(username="accountant", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="billing", codename__in=codenames)
    )
    return user


def test_the_page_is_reachable_from_the_invoice_list(client):
    assert reverse("admin:billing_invoice_accounting_export") == URL
    client.force_login(accountant("view_invoice", "view_payment"))
    changelist = client.get(reverse("admin:billing_invoice_changelist"))
    assert f'href="{URL}"' in changelist.content.decode()
    page = client.get(URL, HTTP_ACCEPT_LANGUAGE="fr")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Export comptable" in html and "Télécharger le FEC" in html


def test_staff_download_the_fec(client, world):
    client.force_login(accountant("view_invoice", "view_payment"))
    response = client.get(URL, {"start": "2026-11-01", "end": "2026-11-30", "download": "fec"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{FILENAME}"'
    assert response.content == "".join(fec_lines(start=START, end=END)).encode("utf-8")


def test_staff_download_the_invoices_csv_for_a_french_spreadsheet(client, world):
    client.force_login(accountant("view_invoice", "view_payment"))
    period = {"start": "2026-11-01", "end": "2026-11-30", "download": "csv"}
    response = client.get(URL, period, HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        'attachment; filename="invoices-20261101-20261130.csv"'
    )
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeffNuméro;Type;Date d'émission;")
    lines = text[1:].split("\r\n")[:-1]
    assert len(lines) == 6  # the header, 4 invoices and a credit note
    paid, note = world["paid"], world["note"]
    assert (
        f"{paid.number};facture;02/11/2026;02/11/2026;2026-10;garage-dupont;Garage Dupont SARL;"
        in text
    )
    row = next(line for line in lines if line.startswith(paid.number + ";"))
    assert row.endswith(";499,00;20,00;99,80;598,80;émise;;20/11/2026;598,80")
    row = next(line for line in lines if line.startswith(note.number + ";"))
    assert ";-100,01;20,00;-20,00;-120,01;émise;" + world["cancelled"].number + ";;" in row
    row = next(line for line in lines if line.startswith(world["reverse_charge"].number + ";"))
    # Paid in full on 2 December: the state of the day of the export.
    assert ";BE0123456789;" in row
    assert row.endswith(";1234,56;0,00;0,00;1234,56;émise;;02/12/2026;1234,56")
    row = next(line for line in lines if line.startswith(world["cancelled"].number + ";"))
    assert row.endswith(";100,01;20,00;20,00;120,01;annulée;;;0,00")
    english = client.get(URL, period, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert english.startswith("\ufeffNumber,Kind,Issue date,")
    assert f"{paid.number},invoice,2026-11-02,2026-11-02," in english
    assert ",499.00,20.00,99.80,598.80,issued,,2026-11-20,598.80\r\n" in english


def test_a_bad_period_is_explained_on_the_page(client, world):
    client.force_login(accountant("view_invoice", "view_payment"))
    response = client.get(
        URL,
        {"start": "2026-12-01", "end": "2026-11-30", "download": "fec"},
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert response.status_code == 200 and "Content-Disposition" not in response
    assert (
        "Le début de la période (2026-12-01) est après sa fin (2026-11-30)."
        in response.content.decode()
    )


def test_anonymous_go_to_the_login_page(client):
    response = client.get(URL, {"start": "2026-11-01", "end": "2026-11-30", "download": "fec"})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_dealer_or_staff_without_the_permissions_get_no_file(client, world):
    client.force_login(UserFactory(username="dealer"))  # not staff: the admin's login page
    period = {"start": "2026-11-01", "end": "2026-11-30", "download": "fec"}
    response = client.get(URL, period)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.force_login(accountant("view_invoice"))  # staff who may not see payments
    assert client.get(URL, period).status_code == 403
    changelist = client.get(reverse("admin:billing_invoice_changelist"))
    assert URL not in changelist.content.decode()
    assert client.post(URL, period).status_code == 405
