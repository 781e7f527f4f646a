"""Direct debits: the pre-notification N days before, the pain.008 file per collection date
(checked against the XSD), each invoice collected once, the admin page and the command."""

from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
import xmlschema
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from lxml import etree
from sepaxml import SepaDD

from billing.models import DirectDebit, DirectDebitBatch, DirectDebitNotice, Mandate
from billing.payments.debits import direct_debit_notices_send, direct_debits_export
from billing.payments.methods import MandateInput, PaymentError, mandate_create
from tests.factories import CustomerFactory, UserFactory, due_invoice

pytestmark = pytest.mark.django_db

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}
XSD = xmlschema.XMLSchema(
    __import__("os").path.join(
        __import__("os").path.dirname(__import__("sepaxml").__file__),
        "schemas",
        "pain.008.001.02.xsd",
    )
)


def under_mandate(customer, iban="FR7630006000011234567890189", scheme="B2B"):
    return mandate_create(
        customer=customer,
        data=MandateInput(
            debtor_name=customer.legal_name,
            iban=iban,
            signed_on=date(2026, 10, 1),
            signed_place="Lyon",
            signer_name="Marie Dupont",
            scheme=scheme,
        ),
        today=date(2026, 10, 1),
    )


@pytest.fixture
def world(clock):
    clock.now = datetime(2026, 11, 26, 8, tzinfo=UTC)
    lyon = CustomerFactory(code="lyon", legal_name="Lyon Automobiles SAS", language="fr")
    berlin = CustomerFactory(code="berlin", legal_name="Autohaus Berlin GmbH", language="en")
    paper = CustomerFactory(code="paper")  # pays by transfer
    under_mandate(lyon)
    under_mandate(berlin, iban="DE89370400440532013000", scheme="CORE")
    return {
        "lyon_due": due_invoice(lyon, date(2026, 10, 1), "598.80", date(2026, 12, 1)),
        "lyon_late": due_invoice(lyon, date(2026, 9, 1), "118.80", date(2026, 11, 1)),
        "lyon_later": due_invoice(lyon, date(2026, 11, 1), "99.00", date(2026, 12, 31)),
        "berlin": due_invoice(berlin, date(2026, 10, 1), "499.00", date(2026, 11, 30)),
        "paper": due_invoice(paper, date(2026, 10, 1), "118.80", date(2026, 11, 30)),
    }


def test_pre_notifications_n_days_before_in_the_customers_language(
    world, settings, django_capture_on_commit_callbacks
):
    settings.DIRECT_DEBIT_NOTICE_DAYS = 5
    with django_capture_on_commit_callbacks(execute=True):
        notices = direct_debit_notices_send(today=date(2026, 11, 26))
    got = {notice.invoice.number: notice.collection_date for notice in notices}
    assert got == {
        world["lyon_due"].number: date(2026, 12, 1),  # due in 5 days: on its due date
        world["lyon_late"].number: date(2026, 12, 1),  # past due: today + 5 days
        world["berlin"].number: date(2026, 12, 1),
    }  # not the one due on 31 December, not the customer paying by transfer
    assert {n.amount for n in notices} == {Decimal("598.80"), Decimal("118.80"), Decimal("499.00")}
    french = next(m for m in mail.outbox if world["lyon_due"].number in m.subject)
    assert (
        french.subject
        == f"Prélèvement SEPA de la facture {world['lyon_due'].number} le 1 décembre 2026"
    )
    assert "598,80" in french.body and "CP-LYON-1" in french.body and "FR72ZZZ123456" in french.body
    english = next(m for m in mail.outbox if world["berlin"].number in m.subject)
    assert "€499.00 will be debited" in english.body
    assert len(mail.outbox) == 3
    # the next day: nothing twice
    with django_capture_on_commit_callbacks(execute=True):
        assert direct_debit_notices_send(today=date(2026, 11, 27)) == []
    assert len(mail.outbox) == 3


def test_pain008_per_collection_date_valid_against_the_xsd_and_each_invoice_collected_once(
    world, tmp_path
):
    direct_debit_notices_send(today=date(2026, 11, 26))
    export = direct_debits_export(collection_date=date(2026, 12, 1), today=date(2026, 11, 26))
    assert [(b.scheme, b.count, b.total) for b in export.batches] == [
        ("B2B", 2, Decimal("717.60")),
        ("CORE", 1, Decimal("499.00")),
    ]
    b2b = export.batches[0]
    XSD.validate(bytes(b2b.xml).decode())  # raises if the file breaks the schema
    tree = etree.fromstring(bytes(b2b.xml))
    assert tree.findtext(".//p:PmtInf/p:PmtTpInf/p:LclInstrm/p:Cd", namespaces=NS) == "B2B"
    assert tree.findtext(".//p:PmtInf/p:PmtTpInf/p:SeqTp", namespaces=NS) == "FRST"
    assert tree.findtext(".//p:ReqdColltnDt", namespaces=NS) == "2026-12-01"
    assert (
        tree.findtext(".//p:CdtrSchmeId/p:Id/p:PrvtId/p:Othr/p:Id", namespaces=NS)
        == "FR72ZZZ123456"
    )
    amounts = sorted(e.text for e in tree.iterfind(".//p:DrctDbtTxInf/p:InstdAmt", NS))
    assert amounts == ["118.80", "598.80"]
    assert {e.text for e in tree.iterfind(".//p:MndtId", NS)} == {"CP-LYON-1"}
    assert tree.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS) == "717.60"
    # in collection, once
    assert set(DirectDebit.objects.values_list("invoice__number", "status")) == {
        (world["lyon_due"].number, "in_collection"),
        (world["lyon_late"].number, "in_collection"),
        (world["berlin"].number, "in_collection"),
    }
    assert set(Mandate.objects.values_list("next_sequence", flat=True)) == {"RCUR"}
    with pytest.raises(PaymentError, match="No pre-notified invoice to collect on 2026-12-01"):
        direct_debits_export(collection_date=date(2026, 12, 1), today=date(2026, 11, 26))
    assert DirectDebitBatch.objects.count() == 2


def test_a_broken_file_is_refused_by_the_xsd():
    sepa = SepaDD(
        {
            "name": "Chatpoints SAS",
            "IBAN": "FR7630006000011234567890189",
            "BIC": "AGRIFRPPXXX",
            "batch": True,
            "creditor_id": "FR72ZZZ123456",
            "currency": "EUR",
        }
    )
    sepa.add_payment(
        {
            "name": "X",
            "IBAN": "not an iban",
            "BIC": "AGRIFRPPXXX",
            "amount": 100,
            "type": "FRST",
            "collection_date": date(2026, 12, 1),
            "mandate_id": "M1",
            "mandate_date": date(2026, 10, 1),
            "description": "test",
        }
    )
    with pytest.raises(Exception, match="validation errors"):
        sepa.export(validate=True)


def test_export_refuses_a_past_date_and_the_collection_is_database_guarded(world):
    with pytest.raises(PaymentError, match="2026-11-25 is in the past"):
        direct_debits_export(collection_date=date(2026, 11, 25), today=date(2026, 11, 26))
    direct_debit_notices_send(today=date(2026, 11, 26))
    direct_debits_export(collection_date=date(2026, 12, 1), today=date(2026, 11, 26))
    debit = DirectDebit.objects.first()
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        DirectDebit.objects.create(
            batch=debit.batch,
            invoice=debit.invoice,
            mandate=debit.mandate,
            amount=debit.amount,
            sequence_type="RCUR",
            end_to_end_id="another",
        )


def test_command_writes_the_files(world, tmp_path):
    call_command("send_direct_debit_notices", "--today", "2026-11-26", stdout=StringIO())
    out = StringIO()
    call_command(
        "export_direct_debits",
        "--collection-date",
        "2026-12-01",
        "--output-dir",
        str(tmp_path),
        stdout=out,
    )
    files = sorted(tmp_path.iterdir())
    assert [f.name.split("-")[1:3] for f in files] == [["20261201", "B2B"], ["20261201", "CORE"]]
    for file in files:
        XSD.validate(file.read_text())
    assert "2 direct debits, 717.60 EUR, B2B" in out.getvalue()
    with pytest.raises(CommandError, match="No pre-notified invoice"):
        call_command("export_direct_debits", "--collection-date", "2026-12-01")
    with pytest.raises(CommandError, match="2026-13-01 is not a date"):
        call_command("export_direct_debits", "--collection-date", "2026-13-01")


def test_admin_export_page_and_download(client, world):
    direct_debit_notices_send(today=date(2026, 11, 26))
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    url = reverse("admin:billing_directdebitbatch_export")
    assert client.get(url).status_code == 200
    page = client.post(url, {"collection_date": "2026-11-20"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "2026-11-20 is in the past" in page.content.decode()
    assert client.post(url, {"collection_date": "2026-12-01"}).status_code == 302
    batch = DirectDebitBatch.objects.get(scheme="B2B")
    listing = client.get(reverse("admin:billing_directdebitbatch_changelist"))
    assert batch.filename in listing.content.decode()
    response = client.get(reverse("admin:billing_directdebitbatch_xml", args=[batch.pk]))
    assert response.content == bytes(batch.xml)
    assert response["Content-Disposition"] == f'attachment; filename="{batch.filename}"'
    debits = client.get(reverse("admin:billing_directdebit_changelist"), HTTP_ACCEPT_LANGUAGE="en")
    assert "in collection" in debits.content.decode()
    assert DirectDebitNotice.objects.count() == 3
