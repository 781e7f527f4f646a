"""Two dealers with a month of chats of every tariff and actor, October invoiced, November in
progress: what the portal tests walk through."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import Permission

from billing.invoicing.drafts import invoices_draft
from billing.invoicing.issue import invoice_issue
from billing.models import Actor, ChatEvent, Invoice, Tariff
from billing.months import Month
from billing.usage.store import events_ingest, events_void
from customers.models import CustomerAccess
from tests.factories import CustomerFactory, UserFactory, subscribe

OCTOBER = Month(2026, 10)
NOVEMBER = Month(2026, 11)
RECEIVED = datetime(2026, 11, 1, 9, tzinfo=UTC)
ISSUED = datetime(2026, 11, 3, 10, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 11, tzinfo=UTC)  # "today" in the tests: November in progress


def every_tariff_and_actor():
    """(tariff code, actor) for every tariff offered to every actor (the seeded table)."""
    pairs = []
    for tariff in Tariff.objects.order_by("code"):
        for actor in Actor.values:
            if getattr(tariff, f"points_{actor}") is not None:
                pairs.append((tariff.code, actor))
    return pairs


def event(code, tariff, actor, when, n, contact=None, prefix="evt"):
    return {
        "id": f"{prefix}-{code}-{tariff}-{actor}-{n}",
        "customer": code,
        "tariff": tariff,
        "actor": actor,
        "occurred_at": when,
        **({"contact": contact} if contact else {}),
    }


def october_chats(code, prefix="oct"):
    """Every tariff and actor twice on different days, engaged contacts with several chats each
    (one of them again in November), chats at the month's edges in Paris time."""
    events = []
    for index, (tariff, actor) in enumerate(every_tariff_and_actor()):
        if tariff == "contact_engaged":
            continue
        for n in range(2):
            day = 1 + (index * 3 + n * 11) % 31
            events.append(
                event(
                    code, tariff, actor, f"2026-10-{day:02d}T10:{n:02d}:00+02:00", n, None, prefix
                )
            )
    # 3 contacts engaged by the team: 7 chats, 3 × 2 points.
    for n, (contact, day) in enumerate(
        [
            ("+33600000001", 2),
            ("+33600000001", 9),
            ("+33600000002", 9),
            ("+33600000001", 28),
            ("+33600000003", 15),
            ("+33600000002", 30),
            ("+33600000003", 16),
        ]
    ):
        events.append(
            event(
                code,
                "contact_engaged",
                "team",
                f"2026-10-{day:02d}T15:00:00+02:00",
                n,
                contact,
                prefix,
            )
        )
    # 31 October 23:30 UTC is 1 November in Paris: November's, not October's.
    events.append(event(code, "test_drive", "agent", "2026-10-31T23:30:00Z", 0, None, "edge"))
    # 30 September 22:30 UTC is 1 October 00:30 in Paris: October's.
    events.append(event(code, "test_drive", "bot", "2026-09-30T22:30:00Z", 0, None, "edge"))
    return events


@dataclass
class Dealer:
    customer: object
    user: object
    invoice: Invoice
    voided_before: ChatEvent
    voided_after: ChatEvent


def make_dealer(code, username, clock, plan):
    customer = CustomerFactory(code=code, legal_name=f"{code.title()} SAS")
    subscribe(customer, plan, first_month=date(2026, 3, 1))
    clock.now = RECEIVED
    result = events_ingest(source="platform", events=october_chats(code), now=RECEIVED)
    assert not result.rejected, result.rejected
    staff = UserFactory(username=f"staff-{code}", is_staff=True)
    voided_before = ChatEvent.objects.filter(
        customer=customer, tariff__code="quote_request"
    ).first()
    events_void(events=ChatEvent.objects.filter(pk=voided_before.pk), user=staff, reason="doublon")
    clock.now = ISSUED
    invoices_draft(month=OCTOBER)
    invoice = invoice_issue(
        invoice=Invoice.objects.get(customer=customer, month=OCTOBER.first_day, status="draft")
    )
    # After the invoice: a late chat (not counted while the invoice stands) and a void (neither).
    clock.now = datetime(2026, 11, 5, 9, tzinfo=UTC)
    late = events_ingest(
        source="platform",
        events=[event(code, "test_drive", "agent", "2026-10-20T10:00:00+02:00", 0, None, "late")],
        now=clock.now,
    )
    assert late.late == 1
    voided_after = ChatEvent.objects.filter(customer=customer, tariff__code="info_request").first()
    events_void(events=ChatEvent.objects.filter(pk=voided_after.pk), user=staff, reason="erreur")
    # November so far.
    clock.now = NOW
    november = events_ingest(
        source="platform",
        events=[
            event(code, "workshop_appointment", "bot", "2026-11-10T10:00:00+01:00", 0, None, "nov"),
            event(
                code,
                "contact_engaged",
                "team",
                "2026-11-12T10:00:00+01:00",
                0,
                "+33600000001",
                "nov",
            ),
        ],
        now=NOW,
    )
    assert november.accepted == 2, november.rejected
    clock.now = NOW
    user = UserFactory(username=username, email=f"{username}@{code}.example")
    CustomerAccess.objects.create(user=user, customer=customer)
    return Dealer(customer, user, invoice, voided_before, voided_after)


def placeholder_pdf(invoice, lines, **options):
    """Stands in for WeasyPrint (0.1-2 s a document) where a test only needs the stored bytes:
    a blank page titled with the number, which issuing still makes a Factur-X (its XML embedded);
    the PDF's text is read back in the end-to-end test and in tests/billing/test_invoicing.py."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": f"{invoice.number} {invoice.customer.code}"})
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


@pytest.fixture
def real_pdf():
    """Use in a test before `dealers` to render the invoices' PDFs for real."""
    return True


@pytest.fixture
def dealers(request, db, clock, settings, monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    if "real_pdf" not in request.fixturenames:
        monkeypatch.setattr("billing.invoicing.pdf.invoice_pdf", placeholder_pdf)
    dupont = make_dealer("garage-dupont", "dupont", clock, plan="BASE")
    lyon = make_dealer("lyon-auto", "lyon", clock, plan="GROW")
    return {"dupont": dupont, "lyon": lyon}


@pytest.fixture
def staff_viewer(db):
    user = UserFactory(username="support", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_customer"))
    return user
