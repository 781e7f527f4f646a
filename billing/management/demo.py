"""Demo data: dealers on every plan, months of realistic chats up to now, the past months
invoiced. Idempotent.

Everything is derived from fixed seeds: the same dealer and month always give the same chats
with the same ids, and only chats that already happened are stored, so running it again (even
a month later) adds only what is new.

The past months are invoiced as staff would have done it, through the real services and each on
its day: month close and issue on the 1st of the next month, payments, a credit note. A month a
dealer already has an invoice for is left as it is: running again never issues anything twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from billing.catalog.tariffs import TariffBook, tariff_change
from billing.errors import BillingError
from billing.invoicing.drafts import invoices_draft
from billing.invoicing.issue import invoice_cancel, invoice_issue
from billing.models import (
    ChatEvent,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Plan,
    Subscription,
    Tariff,
    TariffRate,
)
from billing.months import Month, billing_tz, current_month
from billing.months import today as billing_today
from billing.payments.methods import MandateInput, mandate_create
from billing.payments.statements import payment_record_balance
from billing.usage.selectors import subscriptions_in_force
from billing.usage.store import events_ingest
from billing.usage.summary import summary_rebuild
from customers.models import Customer, CustomerAccess

SOURCE = "demo"
MONTHS_OF_HISTORY = 6
STAFF_LOGIN = ("admin", "chatpoints-admin")

# What happens to a month's invoice, by the month's age when it is invoiced (1: last month):
# last month's is due (not yet overdue), the one before is paid, the third is overdue (never
# paid), and the fourth, for the dealers with a login, was cancelled by a credit note and issued
# again with the chats the platform reported late (billing rule 9), then paid. Older ones are paid.
ISSUED_AT = time(9, 0)  # on the 1st of the next month, billing time zone
AGE_DUE, AGE_OVERDUE, AGE_CORRECTED = 1, 3, 4
PAID_AFTER = timedelta(days=20)
# The dealer under a SEPA direct-debit mandate (B2B): its code, IBAN and signer.
SEPA_DEALER = ("lyon-automobiles", "FR1420041010050500013M02606", "Claire Morel")
LATE_CHATS_AFTER = timedelta(days=4)  # chats of the month reported after its invoice
CORRECTED_AFTER = timedelta(days=9)  # credit note and new invoice

# (tariff, actor, weight): what dealers' chats look like, roughly.
MIX = [
    ("test_drive", "agent", 10),
    ("video_call", "agent", 3),
    ("showroom_visit", "agent", 6),
    ("quote_request", "agent", 6),
    ("info_request", "agent", 8),
    ("tradein_valuation", "agent", 4),
    ("workshop_appointment", "agent", 6),
    ("support_info", "agent", 4),
    ("intervention_request", "agent", 2),
    ("test_drive", "bot", 6),
    ("workshop_appointment", "bot", 8),
    ("tradein_valuation", "bot", 3),
    ("whatsapp_reminder", "bot", 40),
    ("crm_lead", "bot", 20),
    ("mql_to_sql", "bot", 2),
    ("whatsapp_concierge", "bot", 12),
    ("whatsapp_standard_reply", "bot", 10),
    ("contact_engaged", "team", 45),
]


@dataclass(frozen=True)
class DemoDealer:
    code: str
    legal_name: str
    address: str
    postal_code: str
    city: str
    country: str
    language: str
    vat_number: str
    siren: str
    emails: str
    plan: str
    monthly_points: int  # what the dealer uses in a typical month
    login: tuple[str, str] | None = None
    enterprise_terms: tuple[Decimal, int, Decimal] | None = None
    previous_plan: str | None = None  # plan before a change two months ago


DEALERS = [
    DemoDealer(
        "garage-dupont",
        "Garage Dupont SARL",
        "4 avenue de la Gare",
        "21000",
        "Dijon",
        "FR",
        "fr",
        "FR83404833048",
        "404833048",
        "compta@garage-dupont.example",
        "BASE",
        150,
        login=("dupont", "dealer-dupont"),
    ),
    DemoDealer(
        "auto-bretagne",
        "Auto Bretagne SAS",
        "18 rue de Brest",
        "29000",
        "Quimper",
        "FR",
        "fr",
        "",
        "512345679",
        "factures@auto-bretagne.example",
        "BASE",
        330,
    ),
    DemoDealer(
        "lyon-automobiles",
        "Lyon Automobiles SA",
        "120 cours Gambetta",
        "69007",
        "Lyon",
        "FR",
        "fr",
        "FR82542065479",
        "542065479",
        "comptabilite@lyon-auto.example, direction@lyon-auto.example",
        "GROW",
        3300,
        login=("lyon", "dealer-lyon"),
        previous_plan="BASE",
    ),
    DemoDealer(
        "sud-motors",
        "Sud Motors SAS",
        "7 boulevard du Prado",
        "13008",
        "Marseille",
        "FR",
        "fr",
        "",
        "398765438",
        "admin@sud-motors.example",
        "GROW",
        2400,
    ),
    DemoDealer(
        "paris-premium",
        "Paris Premium Cars SAS",
        "55 avenue de la Grande Armée",
        "75016",
        "Paris",
        "FR",
        "fr",
        "",
        "444555668",
        "billing@paris-premium.example",
        "SCALE",
        12800,
    ),
    DemoDealer(
        "dublin-motors",
        "Dublin Motors Ltd",
        "3 Naas Road",
        "D12",
        "Dublin",
        "IE",
        "en",
        "IE6388047V",
        "",
        "accounts@dublin-motors.example",
        "GROW",
        2900,
    ),
    DemoDealer(
        "bavaria-cars",
        "Bavaria Cars GmbH",
        "Leopoldstraße 200",
        "80804",
        "München",
        "DE",
        "en",
        "DE129273398",
        "",
        "rechnungen@bavaria-cars.example",
        "ENTERPRISE",
        26000,
        enterprise_terms=(Decimal("2500.00"), 25000, Decimal("0.1150")),
    ),
]


def _month_events(dealer: DemoDealer, month: Month, tz) -> list[dict]:
    """A dealer's whole month of chats, the same every time it is asked for."""
    rng = random.Random(f"{dealer.code}:{month}")  # noqa: S311 (demo data, not security)
    target = int(dealer.monthly_points * rng.uniform(0.85, 1.15))
    start, end = month.bounds(tz)
    seconds = int((end - start).total_seconds())
    combos = [(tariff, actor) for tariff, actor, _ in MIX]
    weights = [weight for _, _, weight in MIX]
    costs = {"agent": 60, "bot": 12, "team": 2}
    contacts_pool = max(20, dealer.monthly_points // 25)
    events, estimated = [], 0
    while estimated < target:
        tariff, actor = rng.choices(combos, weights)[0]
        estimated += costs[actor] if tariff != "whatsapp_reminder" else 1
        # Business hours in the billing time zone, more on weekdays.
        moment = start + timedelta(seconds=rng.randrange(seconds))
        moment = moment.replace(hour=rng.randint(8, 19), minute=rng.randint(0, 59))
        events.append(
            {
                "external_id": f"demo-{dealer.code}-{month}-{len(events):05d}",
                "tariff": tariff,
                "actor": actor,
                "occurred_at": moment,
                "contact": f"contact-{rng.randrange(contacts_pool):04d}"
                if actor == "team"
                else f"visitor-{rng.randrange(10**6):06d}",
            }
        )
    return events


@transaction.atomic
def load_demo(*, now: datetime | None = None) -> dict:
    """Load the demo, or complete it up to `now`: what is already there stays as it is."""
    now = now or timezone.now()
    tz = billing_tz()
    this_month = current_month(now)
    first = this_month
    for _ in range(MONTHS_OF_HISTORY):
        first = first.previous()
    plans = {plan.code: plan for plan in Plan.objects.all()}
    User = get_user_model()

    staff, created = User.objects.get_or_create(
        username=STAFF_LOGIN[0],
        defaults={"is_staff": True, "is_superuser": True, "email": "staff@chatpoints.example"},
    )
    if created:
        staff.set_password(STAFF_LOGIN[1])
        staff.save()

    book = TariffBook()
    tariffs = {tariff.code: tariff for tariff in Tariff.objects.all()}
    events_before = ChatEvent.objects.filter(source=SOURCE).count()
    for dealer in DEALERS:
        customer = Customer.objects.filter(code=dealer.code).first()
        if customer is None:
            customer = Customer(
                code=dealer.code,
                legal_name=dealer.legal_name,
                address=dealer.address,
                postal_code=dealer.postal_code,
                city=dealer.city,
                country=dealer.country,
                language=dealer.language,
                vat_number=dealer.vat_number,
                siren=dealer.siren,
                billing_emails=dealer.emails,
            )
            customer.full_clean()  # demo dealers pass the same checks as the admin's
            customer.save()
        if not customer.subscriptions.exists():
            _subscribe(customer, dealer, plans, first, this_month)
        if dealer.login:
            user, created = User.objects.get_or_create(
                username=dealer.login[0], defaults={"email": dealer.emails.split(",")[0]}
            )
            if created:
                user.set_password(dealer.login[1])
                user.save()
            CustomerAccess.objects.get_or_create(user=user, customer=customer)
        rows = []
        month = first
        while month <= this_month:
            for event in _month_events(dealer, month, tz):
                if event["occurred_at"] > now:
                    continue
                try:
                    priced = book.price(
                        event["tariff"], event["actor"], event["occurred_at"].astimezone(tz).date()
                    )
                except BillingError:  # staff stopped offering it: the platform sends no such chat
                    continue
                rows.append(
                    ChatEvent(
                        source=SOURCE,
                        external_id=event["external_id"],
                        customer=customer,
                        tariff=tariffs[event["tariff"]],
                        actor=event["actor"],
                        contact=event["contact"],
                        occurred_at=event["occurred_at"],
                        points=priced.points,
                        received_at=event["occurred_at"],
                    )
                )
            month = month.next()
        ChatEvent.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
        summary_rebuild(customers=[customer.id])  # written straight, not through ingestion

    reminder = tariffs["whatsapp_reminder"]
    if not TariffRate.objects.filter(tariff=reminder).exclude(changed_by=None).exists():
        # A change scheduled for next month, so the tariff history has something to show.
        tariff_change(
            tariff=reminder,
            points_agent=None,
            points_bot=2,
            points_team=None,
            effective_from=this_month.next().first_day,
            user=staff,
            today=now.astimezone(tz).date(),
        )
    _sepa_mandate(first=first, now=now)
    issued = _invoice_past_months(first=first, this_month=this_month, now=now)
    return {
        "customers": len(DEALERS),
        "new_events": ChatEvent.objects.filter(source=SOURCE).count() - events_before,
        "new_invoices": issued,
        "staff": STAFF_LOGIN,
        "dealers": [(d.login, d.code) for d in DEALERS if d.login],
    }


def _sepa_mandate(*, first: Month, now: datetime) -> None:
    """One dealer pays by SEPA direct debit, under a mandate signed when it subscribed."""
    customer = Customer.objects.get(code=SEPA_DEALER[0])
    if customer.mandates.exists():
        return
    mandate_create(
        customer=customer,
        data=MandateInput(
            debtor_name=customer.legal_name,
            iban=SEPA_DEALER[1],
            signed_on=first.first_day,
            signed_place=customer.city,
            signer_name=SEPA_DEALER[2],
        ),
        today=billing_today(now),
    )


def _subscribe(customer, dealer: DemoDealer, plans, first: Month, this_month: Month):
    terms = {}
    if dealer.enterprise_terms:
        fee, points, price = dealer.enterprise_terms
        terms = {
            "custom_monthly_fee": fee,
            "custom_included_points": points,
            "custom_price_per_extra_point": price,
        }
    start = first
    if dealer.previous_plan:
        change = this_month.previous().previous()
        _save_valid(
            Subscription(
                customer=customer,
                plan=plans[dealer.previous_plan],
                first_month=first.first_day,
                last_month=change.previous().first_day,
            )
        )
        start = change
    _save_valid(
        Subscription(
            customer=customer, plan=plans[dealer.plan], first_month=start.first_day, **terms
        )
    )


def _save_valid(subscription: Subscription) -> None:
    subscription.full_clean()
    subscription.save()


# --- Invoices of the past months ------------------------------------------------------------------


def _invoice_past_months(*, first: Month, this_month: Month, now: datetime) -> int:
    """Close and issue each past month not yet invoiced for a demo dealer, on its day; pay,
    leave due or correct each invoice by the month's age. Returns the documents issued."""
    codes = [dealer.code for dealer in DEALERS]
    with_login = {dealer.code for dealer in DEALERS if dealer.login}
    count = 0
    month = first
    while month < this_month:
        invoiced = Invoice.objects.filter(month=month.first_day, kind=InvoiceKind.INVOICE).exclude(
            status=InvoiceStatus.DRAFT
        )
        pending = list(
            subscriptions_in_force(month=month)
            .filter(customer__code__in=codes)
            .exclude(customer__in=invoiced.values("customer"))
            .values_list("customer_id", flat=True)
        )
        if pending:
            age = (this_month.year - month.year) * 12 + this_month.month - month.month
            issued = _close_and_issue(month, customers=pending, day=month.next().first_day, now=now)
            count += len(issued)
            for invoice in issued:
                if age == AGE_CORRECTED and invoice.customer.code in with_login:
                    invoice = _correct(invoice, now=now)
                    count += 2
                if age not in (AGE_DUE, AGE_OVERDUE):
                    paid_on = min(invoice.issue_date + PAID_AFTER, billing_today(now))
                    payment_record_balance(invoice=invoice, paid_on=paid_on)
        month = month.next()
    return count


def _close_and_issue(month: Month, *, customers: list[int], day: date, now: datetime):
    """The month close (drafts for every customer, as staff's), then the given customers'
    drafts issued at ISSUED_AT on `day` (or as soon after as the series allows)."""
    invoices_draft(month=month)
    moment = _moment(day, now=now)
    drafts = (
        Invoice.objects.filter(
            month=month.first_day,
            kind=InvoiceKind.INVOICE,
            status=InvoiceStatus.DRAFT,
            customer_id__in=customers,
        )
        .select_related("customer")
        .order_by("customer__code")
    )
    return [invoice_issue(invoice=draft, now=moment) for draft in drafts]


def _correct(invoice: Invoice, *, now: datetime) -> Invoice:
    """A few chats of the month reported after its invoice (stored, marked late), then the
    invoice cancelled by a credit note and the month issued again with them."""
    month = Month.of(invoice.month)
    tz = billing_tz()
    last_day = month.next().bounds(tz)[0] - timedelta(hours=7)  # the last day, at 17:00
    events_ingest(
        source=SOURCE,
        events=[
            {
                "id": f"demo-{invoice.customer.code}-{month}-late-{n}",
                "customer": invoice.customer.code,
                "tariff": "test_drive",
                "actor": "agent",
                "occurred_at": (last_day + timedelta(minutes=20 * n)).isoformat(),
            }
            for n in range(3)
        ],
        now=min(invoice.issued_at + LATE_CHATS_AFTER, now),
    )
    day = (invoice.issued_at + CORRECTED_AFTER).astimezone(tz).date()
    invoice_cancel(invoice=invoice, now=_moment(day, now=now))
    (again,) = _close_and_issue(month, customers=[invoice.customer_id], day=day, now=now)
    return again


def _moment(day: date, *, now: datetime) -> datetime:
    """`day` at ISSUED_AT, but not before the last document issued (numbers and dates go up
    together), nor after now."""
    moment = datetime.combine(day, ISSUED_AT, tzinfo=billing_tz())
    latest = Invoice.objects.aggregate(latest=Max("issued_at"))["latest"]
    return min(max(moment, latest or moment), now)
