"""People read labels, not the codes of the tariff table (issue 10, item 19): the invoice PDF
names tariffs by their description in the invoice's language and actors by a label. (The
report's side: tests/portal/test_report.py.)"""

import io
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from billing.invoicing.drafts import invoices_draft
from billing.invoicing.issue import invoice_issue
from billing.models import Invoice, Tariff
from billing.months import Month
from billing.usage.store import events_ingest
from tests.factories import CustomerFactory, subscribe

pytestmark = pytest.mark.django_db

OCTOBER = Month(2026, 10)


def issued_october(language: str) -> Invoice:
    """A GROW dealer's October: 48 test drives by agents, 9 CRM leads by bots, 30 contacts
    engaged by the team (DOMAIN.md's 3,234 points), invoiced."""
    dealer = CustomerFactory(code="garage-dupont", language=language)
    subscribe(dealer, "GROW", first_month=date(2026, 1, 1))
    events = [
        {
            "id": f"{tariff}-{n}",
            "customer": "garage-dupont",
            "tariff": tariff,
            "actor": actor,
            "occurred_at": "2026-10-15T10:00:00+02:00",
            **({"contact": f"+336-{n}"} if actor == "team" else {}),
        }
        for tariff, actor, count in (
            ("test_drive", "agent", 48),
            ("crm_lead", "bot", 9),
            ("contact_engaged", "team", 30),
        )
        for n in range(count)
    ]
    received = datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert events_ingest(source="platform", events=events, now=received).accepted == 87
    invoices_draft(month=OCTOBER)
    return invoice_issue(
        invoice=Invoice.objects.get(customer=dealer, month=OCTOBER.first_day, status="draft")
    )


def pdf_text(invoice: Invoice) -> str:
    reader = PdfReader(io.BytesIO(bytes(invoice.pdf)))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


@pytest.mark.parametrize(
    ("language", "rows"),
    [
        (
            "fr",
            [
                "Rendez-vous pour un essai Agent de live chat 48 3 120",
                "Leads vers votre CRM Chatbot 9 54",
                "Contact engagé par mois (chats illimités) Votre équipe 30 30 60",
            ],
        ),
        (
            "en",
            [
                "Test drive appointment Live-chat agent 48 3,120",
                "Lead sent to your CRM Chatbot 9 54",
                "Engaged contact per month (unlimited chats) Your team 30 30 60",
            ],
        ),
    ],
)
def test_the_pdf_reads_labels_not_codes(clock, language, rows):
    """The PDF's Chatpoints detail: each row is the tariff's description, who completed the
    chats, chats, engaged contacts, points; no internal code (`contact_engaged`, `team`)."""
    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    text = pdf_text(issued_october(language))
    for row in rows:
        assert row in text, (row, text)
    for code in Tariff.objects.values_list("code", flat=True):
        assert code not in text, code
