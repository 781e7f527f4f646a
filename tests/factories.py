import datetime
import itertools
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from billing.models import ChatEvent, Plan, Subscription
from billing.usage.store import events_ingest
from billing.usage.validate import InvalidChatEvent
from customers.models import Customer

_event_ids = itertools.count(1)


def chat_event_record(
    *,
    source: str,
    external_id: str,
    customer: Customer,
    tariff_code: str,
    actor: str,
    occurred_at: datetime.datetime,
    contact: str = "",
    metadata: dict | None = None,
    now: datetime.datetime | None = None,
) -> ChatEvent:
    """Store one chat through `events_ingest`, as the API would.

    Raises InvalidChatEvent for the first field refused; an event already received with the same
    content is returned as it is.
    """
    event = {
        "id": external_id,
        "customer": customer.code,
        "tariff": tariff_code,
        "actor": actor,
        "contact": contact or None,
        "occurred_at": occurred_at.isoformat(),
        "meta": metadata or None,
    }
    result = events_ingest(source=source, events=[event], now=now)
    if result.rejected:
        name, message = next(iter(result.rejected[0].errors.items()))
        raise InvalidChatEvent(name, message)
    return ChatEvent.objects.get(source=source, external_id=external_id)


def siren_for(number: int) -> str:
    """A valid SIREN (Luhn) built on a number: 8 digits, then the check digit."""
    from billing.vat import siren_is_valid

    base = f"{number % 10**8:08d}"
    return next(base + digit for digit in "0123456789" if siren_is_valid(base + digit))


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"dealer-{n:04d}")
    legal_name = factory.Sequence(lambda n: f"Garage {n} SARL")
    address = "1 rue de la Paix"
    postal_code = "75002"
    city = "Paris"
    country = "FR"
    # A French business has its SIREN (required since the e-invoicing reform).
    siren = factory.LazyAttributeSequence(
        lambda o, n: siren_for(40_000_000 + n) if o.country == "FR" else ""
    )
    billing_emails = factory.LazyAttribute(lambda o: f"compta@{o.code}.example")


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    plan = factory.LazyFunction(lambda: Plan.objects.get(code="GROW"))
    first_month = datetime.date(2026, 1, 1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def password(user, create, extracted, **kwargs):
        user.set_password(extracted or "a-good-password-1")
        if create:
            user.save()


def subscribe(customer, plan_code="GROW", first_month=datetime.date(2026, 1, 1), **terms):
    return SubscriptionFactory(
        customer=customer,
        plan=Plan.objects.get(code=plan_code),
        first_month=first_month,
        **terms,
    )


def enterprise_terms(fee="2500.00", points=20000, price="0.1234"):
    return {
        "custom_monthly_fee": Decimal(fee),
        "custom_included_points": points,
        "custom_price_per_extra_point": Decimal(price),
    }


def record(
    customer, tariff, actor, occurred_at, contact="", source="tests", external_id=None, now=None
):
    """Store one chat through the real ingestion path (priced at the tariff of its day).

    `now`: the clock of the moment it is received (a chat cannot be in the future)."""
    return chat_event_record(
        source=source,
        external_id=external_id or f"evt-{next(_event_ids)}",
        customer=customer,
        tariff_code=tariff,
        actor=actor,
        occurred_at=occurred_at,
        contact=contact,
        now=now,
    )


_invoice_numbers = itertools.count(1)


def with_one_line(invoice, *, amount=0, description="Plan (test)", status="issued"):
    """Give a draft written directly its one line, then its status: an issued invoice's lines
    never change, and a credit note copies them into its Factur-X."""
    from billing.models import InvoiceLine

    InvoiceLine.objects.create(
        invoice=invoice,
        position=1,
        kind="plan_fee",
        description=description,
        quantity=1,
        unit_price=amount,
        amount=amount,
    )
    invoice.status = status
    invoice.save()
    return invoice


def issued_invoice(customer, month, issued_at, status="issued"):
    """An issued invoice row for `month` (a date, first of month), written directly: what
    ingestion and the statements read (numbers from a test-only series, no PDF). Both parties'
    details are frozen and it has one line at zero, so a credit note can cancel it (the credit
    note is a Factur-X, built from them)."""
    from billing.invoicing.content import _buyer
    from billing.invoicing.issue import _seller
    from billing.models import Invoice

    sequence = next(_invoice_numbers)
    invoice = Invoice.objects.create(
        customer=customer,
        month=month,
        status="draft",  # its line first: an issued invoice's lines never change
        issued_at=issued_at,
        issue_date=issued_at.date(),
        due_date=issued_at.date(),
        series="T",
        year=issued_at.year,
        sequence=sequence,
        number=f"T{issued_at.year}-{sequence:05d}",
        vat_treatment=customer.effective_vat_treatment(),
        vat_rate=customer.vat_decision().rate,
        seller=_seller(),
        buyer=_buyer(customer),
    )
    return with_one_line(invoice, status=status)


def due_invoice(customer, month, total, due_date, number=None):
    """An issued invoice waiting for its payment, written directly (a test-only series, a stub
    PDF): `total` including VAT, due on `due_date`."""
    from datetime import UTC, datetime, timedelta

    from billing.invoicing.content import _buyer
    from billing.invoicing.issue import _seller
    from billing.models import Invoice

    sequence = next(_invoice_numbers)
    issue_date = due_date - timedelta(days=30)
    net = (Decimal(total) / Decimal("1.2")).quantize(Decimal("0.01"))
    invoice = Invoice.objects.create(
        customer=customer,
        month=month,
        status="draft",
        issued_at=datetime(issue_date.year, issue_date.month, issue_date.day, 9, tzinfo=UTC),
        issue_date=issue_date,
        due_date=due_date,
        language=customer.language,
        series="TP",
        year=issue_date.year,
        sequence=sequence,
        number=number or f"TP{issue_date.year}-{sequence:05d}",
        total=Decimal(total),
        net_total=(Decimal(total) / Decimal("1.2")).quantize(Decimal("0.01")),
        vat_amount=Decimal(total) - (Decimal(total) / Decimal("1.2")).quantize(Decimal("0.01")),
        vat_rate=Decimal("20.00"),
        seller=_seller(),
        buyer=_buyer(customer),
        pdf=b"%PDF-1.4 test invoice",
    )
    return with_one_line(invoice, amount=net)


def chat_event(**fields):
    """A chat event as the API's body holds it: a valid one of garage-dupont, `fields` over it."""
    base = {
        "id": "chat-1",
        "customer": "garage-dupont",
        "tariff": "test_drive",
        "actor": "agent",
        "occurred_at": "2026-11-20T10:00:00+01:00",
    }
    return {**base, **fields}
