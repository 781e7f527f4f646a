"""Bank reconciliation: camt.053 files written by the tests and a CSV import to exactly the
expected states; importing twice changes nothing; a returned direct debit puts its invoice back
to due, tells staff and makes the next collection a first one; a clerk matches the rest."""

from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation

from billing.models import BankEntry, BankStatement, DirectDebit, Invoice, Mandate, Payment
from billing.payments.balances import invoice_balances
from billing.payments.debits import direct_debit_notices_send, direct_debits_export
from billing.payments.methods import MandateInput, PaymentError, mandate_create
from billing.payments.statements import bank_entry_match, bank_statement_import
from tests.billing.camt import Tx, camt053
from tests.factories import CustomerFactory, UserFactory, due_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(clock, settings):
    settings.PAYMENTS_STAFF_EMAILS = ["compta@chatpoints.example"]
    clock.now = datetime(2026, 11, 26, 8, tzinfo=UTC)
    lyon = CustomerFactory(code="lyon", legal_name="Lyon Automobiles SAS")
    nice = CustomerFactory(code="nice", legal_name="Garage de Nice SARL")
    debtor = CustomerFactory(code="debit", legal_name="Prélèvements Auto SA")
    mandate_create(
        customer=debtor,
        data=MandateInput(
            debtor_name="Prelevements Auto SA",
            iban="DE89370400440532013000",
            signed_on=date(2026, 10, 1),
            signed_place="Paris",
            signer_name="Jean Martin",
        ),
        today=date(2026, 10, 1),
    )
    world = {
        "by_reference": due_invoice(lyon, date(2026, 10, 1), "598.80", date(2026, 12, 1)),
        "by_amount": due_invoice(nice, date(2026, 10, 1), "118.80", date(2026, 12, 1)),
        "nice_other": due_invoice(nice, date(2026, 9, 1), "130.20", date(2026, 11, 1)),
        "partial": due_invoice(lyon, date(2026, 9, 1), "1798.80", date(2026, 11, 1)),
        "debited": due_invoice(debtor, date(2026, 10, 1), "499.00", date(2026, 11, 30)),
    }
    direct_debit_notices_send(today=date(2026, 11, 26))
    direct_debits_export(collection_date=date(2026, 12, 1), today=date(2026, 11, 26))
    world["debit"] = DirectDebit.objects.get()
    # the bank credits the collection on its day
    collection = camt053(
        [
            Tx(
                "499.00",
                "BNK-COLL-1",
                name="Prelevements Auto SA",
                end_to_end=world["debit"].end_to_end_id,
                booked_on=date(2026, 12, 1),
            )
        ],
        statement_id="S-1201",
    )
    result = bank_statement_import(filename="2026-12-01.xml", content=collection)
    assert [e.status for e in result.matched] == ["matched"]
    return world


def acceptance_statement(world):
    return camt053(
        [
            Tx(  # the invoice number in the remittance information
                "598.80",
                "BNK-0001",
                name="LYON AUTOMOBILES",
                iban="FR1420041010050500013M02606",
                remittance=f"Facture {world['by_reference'].number} merci",
            ),
            Tx("118.80", "BNK-0002", name="Garage de Nice SARL"),  # no reference: by amount
            Tx(  # less than the invoice: partial
                "1000.00",
                "BNK-0003",
                name="Lyon Automobiles SAS",
                remittance=f"{world['partial'].number} acompte",
            ),
            Tx("77.70", "BNK-0004", name="Someone Else", remittance="cotisation"),  # unknown
            Tx(  # the direct debit returned by the debtor's bank
                "499.00",
                "BNK-0005",
                credit=False,
                name="Prelevements Auto SA",
                end_to_end=world["debit"].end_to_end_id,
                return_reason="AM04",
                booked_on=date(2026, 12, 3),
            ),
        ],
        statement_id="S-1203",
    )


def states(world):
    invoices = {k: v for k, v in world.items() if isinstance(v, Invoice)}
    balances = invoice_balances(invoice_ids=[i.pk for i in invoices.values()])
    paid = dict(Invoice.objects.values_list("pk", "paid_on"))
    return {
        "invoices": {k: (balances[i.pk], paid[i.pk]) for k, i in invoices.items()},
        "entries": sorted(
            BankEntry.objects.values_list("bank_reference", "status", "invoice__number")
        ),
        "payments": Payment.objects.count(),
        "statements": BankStatement.objects.count(),
        "debit": DirectDebit.objects.values_list("status", "return_reason").get(),
        "mandate": Mandate.objects.get().next_sequence,
    }


def test_acceptance_statement_to_exactly_the_expected_states_and_twice_changes_nothing(
    world, django_capture_on_commit_callbacks
):
    assert Invoice.objects.get(pk=world["debited"].pk).paid_on == date(2026, 12, 1)
    assert Mandate.objects.get().next_sequence == "RCUR"
    content = acceptance_statement(world)
    with django_capture_on_commit_callbacks(execute=True):
        result = bank_statement_import(filename="2026-12-03.xml", content=content)
    assert (result.new, len(result.matched), len(result.returned), len(result.unmatched)) == (
        5,
        3,
        1,
        1,
    )
    after = states(world)
    assert after["invoices"] == {
        "by_reference": (Decimal("0.00"), date(2026, 12, 2)),
        "by_amount": (Decimal("0.00"), date(2026, 12, 2)),
        "nice_other": (Decimal("130.20"), None),
        "partial": (Decimal("798.80"), None),
        "debited": (Decimal("499.00"), None),  # due again
    }
    w = world
    assert after["entries"] == [
        ("BNK-0001", "matched", w["by_reference"].number),
        ("BNK-0002", "matched", w["by_amount"].number),
        ("BNK-0003", "matched", w["partial"].number),
        ("BNK-0004", "unmatched", None),
        ("BNK-0005", "returned", w["debited"].number),
        ("BNK-COLL-1", "matched", w["debited"].number),
    ]
    assert after["debit"] == ("returned", "AM04")
    assert after["mandate"] == "FRST"
    told = [m for m in mail.outbox if "returned" in m.subject]
    assert len(told) == 1 and told[0].to == ["compta@chatpoints.example"]
    assert w["debited"].number in told[0].subject and "AM04" in told[0].body
    # twice: nothing changes, nobody is told again
    with django_capture_on_commit_callbacks(execute=True):
        again = bank_statement_import(filename="2026-12-03.xml", content=content)
    assert (again.new, again.already_imported, again.statement) == (0, 5, None)
    assert states(world) == after
    assert len([m for m in mail.outbox if "returned" in m.subject]) == 1
    # the invoice due again is collected again, as a first collection
    direct_debit_notices_send(today=date(2026, 12, 3))
    export = direct_debits_export(collection_date=date(2026, 12, 8), today=date(2026, 12, 3))
    assert b"<SeqTp>FRST</SeqTp>" in bytes(export.batches[0].xml)


def test_overpayment_is_kept_as_a_negative_balance(world):
    content = camt053([Tx("700.00", "BNK-9", name="x", remittance=world["by_reference"].number)])
    bank_statement_import(filename="s.xml", content=content)
    invoice = Invoice.objects.get(pk=world["by_reference"].pk)
    assert invoice_balances(invoice_ids=[invoice.pk]) == {invoice.pk: Decimal("-101.20")}
    assert invoice.paid_on == date(2026, 12, 2)


def test_amount_matching_needs_exactly_one_open_invoice(world):
    due_invoice(world["by_amount"].customer, date(2026, 8, 1), "118.80", date(2026, 10, 1))
    content = camt053([Tx("118.80", "BNK-A", name="Garage de Nice SARL")])
    result = bank_statement_import(filename="s.xml", content=content)
    assert [e.status for e in result.unmatched] == ["unmatched"]  # two invoices of 118.80


def test_csv_statement_and_its_errors(world, tmp_path):
    csv = (
        "booking_date;amount;bank_reference;counterparty_name;counterparty_iban;remittance\n"
        f"02/12/2026;598,80;CSV-1;Lyon;;{world['by_reference'].number}\n"
        "2026-12-02;-12.00;CSV-2;Bank;;fees\n"
        "2026-12-02;50.00;CSV-3;Nobody;;?\n"
    )
    path = tmp_path / "releve.csv"
    path.write_text(csv)
    out = StringIO()
    call_command("import_bank_statement", str(path), stdout=out)
    assert "3 new entries (0 already imported): 1 matched" in out.getvalue()
    assert "1 to match by hand, 1 other debits" in out.getvalue()
    assert Invoice.objects.get(pk=world["by_reference"].pk).paid_on == date(2026, 12, 2)
    out = StringIO()
    call_command("import_bank_statement", str(path), stdout=out)
    assert "0 new entries (3 already imported)" in out.getvalue()
    bad = tmp_path / "bad.csv"
    bad.write_text(csv.replace("02/12/2026", "2026-02-31"))
    with pytest.raises(CommandError, match="line 2, booking_date: 2026-02-31 is not a date"):
        call_command("import_bank_statement", str(bad))
    bad.write_text(csv.replace("598,80", "5x"))
    with pytest.raises(CommandError, match="line 2, amount: 5x is not an amount"):
        call_command("import_bank_statement", str(bad))
    bad.write_text("date,amount\n")
    with pytest.raises(CommandError, match="no column booking_date, bank_reference"):
        call_command("import_bank_statement", str(bad))
    with pytest.raises(CommandError, match="not a camt.053 statement"):
        bad.write_text("<Document/>")
        call_command("import_bank_statement", str(bad))


def test_a_clerk_matches_an_unmatched_credit_from_the_admin(client, world):
    content = camt053([Tx("130.20", "BNK-M", name="Mr Nobody", remittance="septembre")])
    bank_statement_import(filename="s.xml", content=content)
    entry = BankEntry.objects.get(bank_reference="BNK-M")
    assert entry.status == "unmatched"
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    changelist = reverse("admin:billing_bankentry_changelist")
    listing = client.get(changelist + "?status__exact=unmatched", HTTP_ACCEPT_LANGUAGE="en")
    assert "BNK-M" in listing.content.decode()
    form = {"action": "match_to_invoice", "_selected_action": [entry.pk]}
    page = client.post(changelist, form, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and "Mr Nobody" in page.content.decode()
    page = client.post(
        changelist, {**form, "confirm": "1", "invoice": "NOPE-1"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "NOPE-1 is not the number of an issued invoice" in page.content.decode()
    response = client.post(
        changelist, {**form, "confirm": "1", "invoice": world["nice_other"].number}
    )
    assert response.status_code == 302
    assert Invoice.objects.get(pk=world["nice_other"].pk).paid_on == date(2026, 12, 2)
    with translation.override("en"), pytest.raises(PaymentError, match="not a credit waiting"):
        bank_entry_match(entry=entry, invoice=world["nice_other"])


def test_admin_import_page(client, world):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    url = reverse("admin:billing_bankstatement_import")
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("s.xml", acceptance_statement(world), "application/xml")
    page = client.post(url, {"file": upload}, HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert "5 new entries (0 already imported): 3 matched, 1 direct debits returned" in html
    assert "Someone Else" in html


def test_the_customers_names_are_read_once_per_statement_not_per_entry(world):
    """Entries matched by the payer's name: one read of the customers' names for the statement,
    whatever its number of entries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def names_read(entries: int) -> int:
        lines = "".join(
            f"2026-12-03;7.{n:02d};NAMES-{entries}-{n};Nobody SARL;;?\n" for n in range(entries)
        )
        content = (
            "booking_date;amount;bank_reference;counterparty_name;counterparty_iban;remittance\n"
            + lines
        ).encode()
        with CaptureQueriesContext(connection) as queries:
            result = bank_statement_import(filename="names.csv", content=content)
        assert len(result.unmatched) == entries
        return sum('"legal_name"' in query["sql"] for query in queries.captured_queries)

    assert names_read(2) == names_read(20) == 1
