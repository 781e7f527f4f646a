"""The billing staff's dashboard: every figure against sums computed here from the rows
themselves, exact amounts, the filtered lists behind them, a constant number of queries."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.invoicing.content import _buyer
from billing.invoicing.dashboard import dashboard_figures
from billing.invoicing.drafts import invoices_draft
from billing.invoicing.issue import _seller, invoice_cancel
from billing.models import (
    ChatEvent,
    EmailStatus,
    Invoice,
    InvoiceStatus,
    Plan,
    Subscription,
    Tariff,
    Unit,
    UsageDay,
)
from billing.months import Month
from billing.usage.selectors import events_late_pending, events_unbilled
from billing.usage.store import events_void
from customers.models import Customer
from tests.factories import CustomerFactory, UserFactory, record, subscribe, with_one_line

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
TODAY = date(2026, 11, 20)
NOVEMBER, OCTOBER = Month(2026, 11), Month(2026, 10)
_numbers = iter(range(1, 100_000))


def document(customer, month, *, total="0.00", net=None, kind="invoice", status="issued",
             due=None, paid=None, email="", plan="Croissance", credited=None):  # fmt: skip
    """An invoice or credit note row, written directly with every field the dashboard reads."""
    sequence = next(_numbers)
    issued = status != InvoiceStatus.DRAFT
    total = Decimal(total)
    invoice = Invoice.objects.create(
        customer=customer,
        month=month,
        kind=kind,
        status=InvoiceStatus.DRAFT,  # its line first: an issued invoice's lines never change
        seller=_seller(),  # both parties frozen, as at issue (a credit note's Factur-X reads them)
        buyer=_buyer(customer),
        vat_treatment=customer.effective_vat_treatment(),
        vat_rate=customer.vat_decision().rate,
        credited_invoice=credited,
        series=("A" if kind == "credit_note" else "T") if issued else "",
        year=2026 if issued else None,
        sequence=sequence if issued else None,
        number=f"T2026-{sequence:05d}" if issued else None,
        issued_at=datetime(2026, 11, 2, tzinfo=UTC) if issued else None,
        issue_date=date(2026, 11, 2) if issued else None,
        due_date=due,
        paid_on=paid,
        email_status=email,
        plan_name=plan,
        net_total=Decimal(net) if net is not None else total,
        total=total,
    )
    return with_one_line(
        invoice, amount=invoice.net_total, description=f"Plan {plan}", status=status
    )


@pytest.fixture
def world(clock, paris):
    """Four dealers and their chats of October and November 2026, invoices of every state."""
    clock.now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    over = CustomerFactory(code="a-over")
    near = CustomerFactory(code="b-near")
    small = CustomerFactory(code="c-small")
    gone = CustomerFactory(code="d-gone")
    subscribe(over, "GROW")
    subscribe(near, "BASE")
    subscribe(small, "BASE")
    subscribe(gone, "BASE", last_month=date(2026, 9, 1))  # no plan since October: unbilled
    # The October invoice of b-near, issued on 2 November: a chat of October received after it
    # is late.
    document(near, date(2026, 10, 1), total="118.80", net="99.00", due=date(2026, 12, 2),
             plan="Basique")  # fmt: skip
    record(
        near, "test_drive", "agent", paris(2026, 10, 30, 10), now=datetime(2026, 11, 3, tzinfo=UTC)
    )
    for day in (5, 6):
        record(gone, "test_drive", "agent", paris(2026, 10, day, 10))
    clock.now = NOW
    for n in range(51):  # 50 counted, one voided below: 3,250 points on 3,000 included
        record(over, "test_drive", "agent", paris(2026, 11, 1 + n % 19, 9, n))
    for n in range(3):
        record(near, "test_drive", "agent", paris(2026, 11, 3 + n, 11))
    record(near, "workshop_appointment", "bot", paris(2026, 11, 4, 15))  # 235 points on 250
    for contact in range(10):  # 10 engaged contacts × 2 points, 3 chats each
        for n in range(3):
            record(
                small,
                "contact_engaged",
                "team",
                paris(2026, 11, 2 + n, 10),
                contact=f"+33 6 {contact}",
            )
    for day in (2, 3, 4):
        record(gone, "test_drive", "agent", paris(2026, 11, day, 10))
    voided = ChatEvent.objects.filter(customer=over).order_by("-id")[:1]
    events_void(events=ChatEvent.objects.filter(pk__in=voided), reason="sent twice", user=None)
    invoices_draft(month=OCTOBER)  # drafts of a-over and c-small (b-near's is issued)
    # Receivables of every state (today: 20 November), and the revenue of months gone by.
    document(over, date(2026, 9, 1), total="120.00", due=date(2026, 11, 30))  # due
    document(
        over, date(2026, 8, 1), total="200.00", due=date(2026, 11, 10), email=EmailStatus.FAILED
    )  # fmt: skip  (overdue by 10 days)
    document(small, date(2026, 9, 1), total="300.00", due=date(2026, 10, 21), plan="Base")  # 30 d
    document(small, date(2026, 8, 1), total="400.00", due=date(2026, 10, 20), plan="Base")  # 31 d
    document(near, date(2026, 7, 1), total="500.00", due=date(2026, 9, 21), plan="Basique")  # 60 d
    document(near, date(2026, 6, 1), total="600.01", due=date(2026, 9, 20), plan="Grow")  # 61 d
    document(over, date(2026, 5, 1), total="700.00", net="583.33", due=date(2026, 6, 1),
             paid=date(2026, 6, 3), plan="Grow")  # fmt: skip
    cancelled = document(over, date(2026, 4, 1), total="800.00", due=date(2026, 5, 1))
    note = invoice_cancel(invoice=cancelled)  # then counts nothing: cancelled, and its note
    Invoice.objects.filter(pk=note.pk).update(email_status=EmailStatus.FAILED)
    document(
        over, date(2025, 10, 1), total="999.00", due=date(2025, 12, 1), paid=date(2025, 12, 1)
    )  # fmt: skip  (13 months ago: out of the chart)
    return {"over": over, "near": near, "small": small, "gone": gone}


def expected_points(month: Month) -> dict[int, int]:
    """Points of each customer's month from the chats: the points of the chats not voided, and
    one contact's points per distinct contact for tariffs charged per engaged contact."""
    per_contact = set(Tariff.objects.filter(unit=Unit.CONTACT_MONTH).values_list("pk", flat=True))
    start, end = month.bounds(__import__("billing.months").months.billing_tz())
    points, contacts = defaultdict(int), {}
    for event in ChatEvent.objects.filter(
        occurred_at__gte=start, occurred_at__lt=end, voided_at=None
    ):
        if event.tariff_id in per_contact:
            contacts[(event.customer_id, event.tariff_id, event.actor, event.contact)] = (
                event.points
            )
        else:
            points[event.customer_id] += event.points
    for (customer_id, *_rest), unit in contacts.items():
        points[customer_id] += unit
    return points


def test_the_month_in_progress_against_the_quotas(world):
    figures = dashboard_figures(now=NOW).quota
    points = expected_points(NOVEMBER)
    subscribed = {s.customer_id: s.terms() for s in Subscription.objects.filter(last_month=None)}
    assert figures.points_used == sum(points[c] for c in subscribed) == 3250 + 235 + 20
    assert figures.points_included == sum(t.included_points for t in subscribed.values()) == 3500
    assert figures.dealers == 3
    assert figures.over == 1  # a-over: 3,250 on 3,000
    assert figures.near == 1  # b-near: 235 on 250 (94 %)
    # 19 days 13 hours of November's 30 days gone (from midnight in Paris, 23:00 UTC):
    # a-over 3,250 × 720 / 469 = 4,989.3 -> 4,989 points, 1,989 extra × 0.14 = 278.46;
    # b-near 235 × 720 / 469 = 360.8 -> 361 points, 111 extra × 0.18 = 19.98; c-small none.
    assert figures.projected_overage_amount == Decimal("298.44")


def test_no_projection_on_the_first_day(world):
    figures = dashboard_figures(now=datetime(2026, 11, 30, 23, 30, tzinfo=UTC)).quota  # 1 Dec
    assert figures.month == Month(2026, 12)
    assert figures.projected_overage_amount is None
    assert figures.points_used == 0


def test_the_last_month_close(world):
    close = dashboard_figures(now=NOW).close
    october = Invoice.objects.filter(month=date(2026, 10, 1), kind="invoice")
    drafts = october.filter(status="draft")
    assert close.month == OCTOBER
    assert close.drafts == drafts.count() == 2
    assert (
        close.drafts_net_total
        == sum(d.net_total for d in drafts)
        == Decimal("499.00") + Decimal("99.00")
    )
    assert close.issued == 1
    assert close.not_drafted == 0


def test_receivables_and_their_aging(world):
    receivables = dashboard_figures(now=NOW).receivables
    rows = Invoice.objects.filter(kind="invoice", status="issued")
    states = defaultdict(lambda: [0, Decimal(0)])
    for invoice in rows:
        keys = ["issued"]
        if invoice.paid_on:
            keys.append("paid")
        elif invoice.due_date >= TODAY:
            keys.append("due")
        else:
            late = (TODAY - invoice.due_date).days
            keys += [
                "overdue",
                "overdue_1_30" if late <= 30 else "overdue_31_60" if late <= 60 else "overdue_61",
            ]
        for key in keys:
            states[key][0] += 1
            states[key][1] += invoice.total
    assert (receivables.issued.count, receivables.issued.amount) == tuple(states["issued"])
    for key, figure in receivables.states.items():
        assert (figure.count, figure.amount) == tuple(states[key]), key
    assert receivables.states["due"].amount == Decimal("118.80") + Decimal("120.00")
    assert receivables.states["overdue_1_30"].amount == Decimal("500.00")
    assert receivables.states["overdue_31_60"].amount == Decimal("900.00")
    assert receivables.states["overdue_61"].amount == Decimal("600.01")
    assert receivables.states["paid"].count == 2
    assert receivables.failed_emails == 2  # an invoice and a credit note


def test_chats_needing_attention(world):
    attention = dashboard_figures(now=NOW).attention
    counting = ChatEvent.objects.filter(voided_at=None)
    unbilled = defaultdict(int)
    for event in events_unbilled(counting):
        unbilled[Month.of(event.billing_month)] += 1
    assert attention.unbilled == {OCTOBER: unbilled[OCTOBER], NOVEMBER: unbilled[NOVEMBER]}
    assert attention.unbilled == {OCTOBER: 2, NOVEMBER: 3}
    assert attention.late == events_late_pending(counting).count() == 1
    assert attention.voided == 1


def test_revenue_of_the_last_twelve_months_by_plan(world):
    revenue = dashboard_figures(now=NOW).revenue
    code = {}
    for plan in Plan.objects.all():
        code[plan.name_fr] = code[plan.name_en] = plan.code
    expected = defaultdict(Decimal)
    for invoice in Invoice.objects.exclude(status="draft"):
        if date(2025, 11, 1) <= invoice.month < date(2026, 11, 1):
            expected[(Month.of(invoice.month), code[invoice.plan_name])] += invoice.net_total
    assert revenue.months[0].month == Month(2025, 11) and revenue.months[-1].month == OCTOBER
    got = {
        (month.month, plan): amount
        for month in revenue.months
        for plan, amount in month.by_plan.items()
        if amount
    }
    assert got == {key: value for key, value in expected.items() if value}
    assert revenue.total == sum(expected.values()) == Decimal("2802.34")
    assert [code for code, _name in revenue.plans] == ["BASE", "GROW"]


def _dashboard_queries(now) -> int:
    with CaptureQueriesContext(connection) as queries:
        dashboard_figures(now=now)
    return len(queries)


def _customers(count: int, start: int) -> None:
    """`count` dealers on GROW with usage this month, an issued invoice each (bulk)."""
    grow = Plan.objects.get(code="GROW")
    tariff = Tariff.objects.get(code="test_drive")
    customers = Customer.objects.bulk_create(
        Customer(
            code=f"bulk-{start + n:05d}",
            legal_name="Bulk SAS",
            address="1 rue",
            postal_code="75001",
            city="Paris",
            country="FR",
        )  # fmt: skip
        for n in range(count)
    )
    Subscription.objects.bulk_create(
        Subscription(customer=c, plan=grow, first_month=date(2026, 1, 1)) for c in customers
    )
    UsageDay.objects.bulk_create(
        UsageDay(
            customer=c, day=date(2026, 11, 3), tariff=tariff, actor="agent", chats=n, points=65 * n
        )  # fmt: skip
        for n, c in enumerate(customers)
    )
    sequence = Invoice.objects.count() + 1000
    Invoice.objects.bulk_create(
        Invoice(
            customer=c,
            month=date(2026, 9, 1),
            status="issued",
            series="T",
            year=2026,
            sequence=sequence + n,
            number=f"B2026-{sequence + n:06d}",
            issued_at=NOW - timedelta(days=40),
            issue_date=date(2026, 10, 5),
            due_date=date(2026, 11, 4),
            total=Decimal("598.80"),
            net_total=Decimal("499.00"),
            plan_name="Croissance",
        )  # fmt: skip
        for n, c in enumerate(customers)
    )


def test_a_constant_number_of_queries(db):
    _customers(10, 0)
    with_ten = _dashboard_queries(NOW)
    _customers(990, 10)
    with_a_thousand = _dashboard_queries(NOW)
    assert (
        with_ten == with_a_thousand <= 17
    )  # one COUNT each for the usage alerts and the reminders
    figures = dashboard_figures(now=NOW)
    assert figures.quota.dealers == 1000
    assert figures.quota.points_used == 65 * (sum(range(10)) + sum(range(990)))
    assert figures.receivables.states["overdue_1_30"].amount == Decimal("598.80") * 1000


# --- the page -------------------------------------------------------------------------------------


@pytest.fixture
def clerk(client):
    user = UserFactory(username="clerk", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_invoice", "view_customer", "view_chatevent"])
    )
    client.force_login(user)
    return user


def _links(html: str) -> dict[str, list[str]]:
    """The figures of the page: the texts (stripped) of the links to each href."""
    links = defaultdict(list)
    for href, text in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', html, re.S):
        links[href.replace("&amp;", "&")].append(re.sub(r"<[^>]+>", "", text).strip())
    return links


def _list_count(client, url: str) -> int:
    html = client.get(url).content.decode()
    found = re.search(r'class="paginator">\s*(\d[\d\s\u202f,.]*)', html)
    assert found, url
    return int(re.sub(r"\D", "", found.group(1)))


def test_the_page_shows_the_figures_and_each_links_to_its_list(client, clerk, world, clock):
    clock.now = NOW
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Tableau de bord de facturation" in html
    links = _links(html)
    customers = reverse("admin:customers_customer_changelist")
    invoices = reverse("admin:billing_invoice_changelist")
    chats = reverse("admin:billing_chatevent_changelist")
    assert links[f"{customers}?quota=over"] == ["1", "298,44\N{NO-BREAK SPACE}€"]
    assert "298,44\N{NO-BREAK SPACE}€" in html
    assert re.search("3[\u00a0\u202f]505 / 3[\u00a0\u202f]500", html)
    expected = {
        f"{customers}?quota=over": 1,
        f"{customers}?quota=near": 1,
        f"{invoices}?kind__exact=invoice&status__exact=issued": 9,
        f"{invoices}?kind__exact=invoice&status__exact=issued&payment=paid": 2,
        f"{invoices}?kind__exact=invoice&status__exact=issued&payment=due": 2,
        f"{invoices}?kind__exact=invoice&status__exact=issued&payment=overdue": 5,
        f"{invoices}?kind__exact=invoice&status__exact=issued&payment=overdue_1_30": 2,
        f"{invoices}?kind__exact=invoice&status__exact=issued&payment=overdue_31_60": 2,
        f"{invoices}?kind__exact=invoice&status__exact=issued&payment=overdue_61": 1,
        f"{invoices}?email_status__exact=failed": 2,
        f"{invoices}?month=2026-10&status__exact=draft": 2,
        f"{chats}?billing=unbilled&month=2026-10": 2,
        f"{chats}?billing=unbilled&month=2026-11": 3,
        f"{chats}?billing=pending": 1,
        f"{chats}?voided_in=2026-11": 1,
    }
    for url, count in expected.items():
        assert str(count) in links[url], url
        assert _list_count(client, url) == count, url
    assert links[reverse("admin:all_models")] == ["Toutes les tables"]
    assert f'href="{reverse("admin:billing_invoice_close")}?month=2026-10"' in html
    assert "<svg" in html and 'href="' + invoices + '?month=2026-05"' in html


def test_the_page_in_english(client, clerk, world, clock):
    clock.now = NOW
    client.cookies["django_language"] = "en"
    html = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Billing dashboard" in html and "All models" in html
    assert "€298.44" in html


def test_the_stock_index_stays_reachable_and_others_see_it_first(client, clerk, db):
    assert "billing" in client.get(reverse("admin:all_models")).content.decode()
    other = UserFactory(username="accounts-only", is_staff=True)
    other.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(other)
    html = client.get(reverse("admin:index")).content.decode()
    assert "billing-dashboard" not in html
    assert reverse("admin:auth_user_changelist") in html


def test_the_page_is_for_staff(client, db):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_usage_alerts_and_payment_reminders_are_counted(world):
    """The dealers told by a usage alert this month, and the reminders sent this month."""
    from billing.models import PaymentReminder, UsageAlert

    november, october = NOVEMBER.first_day, OCTOBER.first_day
    for customer, month, threshold in (
        (world["over"], november, 80),
        (world["over"], november, 100),  # the same dealer twice: counted once
        (world["near"], november, 80),
        (world["small"], october, 80),  # another month
    ):
        UsageAlert.objects.create(
            customer=customer,
            month=month,
            threshold=threshold,
            points_used=1,
            included_points=1,
        )
    overdue = Invoice.objects.filter(kind="invoice", status="issued", paid_on=None)
    overdue = list(overdue.filter(due_date__lt=TODAY).order_by("pk")[:2])
    for invoice, sent_on in zip(overdue, (TODAY, date(2026, 10, 31)), strict=True):
        PaymentReminder.objects.create(
            invoice=invoice, step=3, sent_on=sent_on, amount_due=invoice.total
        )

    figures = dashboard_figures(now=NOW)

    assert figures.quota.alerts_sent == 2
    assert figures.receivables.reminders_sent == 1  # the one of October is another month
