"""The monthly report: its totals equal the issued invoice's quantities and the CSV's (billing
rule 10), the numbers on the page, the projection, the chart, the plan comparison, the list."""

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.months import Month
from billing.usage.store import events_ingest
from tests.factories import CustomerFactory, UserFactory, enterprise_terms, subscribe

from .conftest import NOVEMBER, OCTOBER

pytestmark = pytest.mark.django_db

NBSP = "\N{NO-BREAK SPACE}"
NNBSP = "\N{NARROW NO-BREAK SPACE}"

# dupont's October, by hand from the billing rules' table: every tariff and actor twice
# (agents 7 × 65 + 2 × 45 = 545, bots 5 × 40 + 1 + 6 + 40 + 0 + 0 = 247: 2 × 792 = 1,584),
# 3 contacts engaged by the team (7 chats, 3 × 2 = 6), a bot's test drive at 00:30 on 1 October
# in Paris (+40), a quote request voided before the invoice (-65). Not counted: the late chat,
# the chat of 31 October 23:30 UTC (November in Paris). Counted: the chat voided after the
# invoice (the issued invoice counted it).
OCTOBER_POINTS = 1584 + 6 + 40 - 65
OCTOBER_CHATS = 38 + 7 + 1 - 1


def page(client, user, month=OCTOBER, customer="garage-dupont", **params):
    client.force_login(user)
    url = reverse("portal:report", kwargs={"customer": customer, "month": str(month)})
    response = client.get(url, params)
    assert response.status_code == 200
    return response


def csv_rows(client, month=OCTOBER, customer="garage-dupont", **params):
    url = reverse("portal:report_csv", kwargs={"customer": customer, "month": str(month)})
    response = client.get(url, params)
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    delimiter = ";" if response.wsgi_request.LANGUAGE_CODE == "fr" else ","
    return list(csv.reader(io.StringIO(text[1:]), delimiter=delimiter))


def text_of(response, testid):
    html = response.content.decode()
    start = html.index(f'data-testid="{testid}">') + len(f'data-testid="{testid}">')
    return html[start : html.index("<", start)].strip()


def test_report_csv_and_issued_invoice_count_the_same(client, dealers):
    """Rule 10 over a month with every tariff and actor, engaged contacts, voided and late
    chats: the page, every page of its list, the CSV and the issued invoice agree exactly."""
    dupont = dealers["dupont"]
    invoice = dupont.invoice
    assert (invoice.points_used, invoice.overage_points, invoice.engaged_contacts) == (
        OCTOBER_POINTS,
        OCTOBER_POINTS - 250,
        3,
    )
    assert [(line.quantity, line.amount) for line in invoice.lines.order_by("position")] == [
        (1, Decimal("99.00")),
        (1315, Decimal("236.70")),  # 1,315 × €0.18
    ]

    response = page(client, dupont.user)
    report = response.context["report"]
    assert (report.points_used, report.chats, report.engaged_contacts) == (
        OCTOBER_POINTS,
        OCTOBER_CHATS,
        3,
    )
    assert report.statement.overage_points == invoice.overage_points
    assert report.statement.overage_amount == Decimal("236.70")
    assert report.statement.net_total == invoice.net_total == Decimal("335.70")
    assert report.invoice == invoice
    # The invoice counts a set the summary does not know (a late chat, a chat voided since):
    # the report reads the chats themselves.
    assert not report.from_summary
    # What the dealer reads (French: grouping with a no-break space).
    assert text_of(response, "total-points") in (f"1{NBSP}565", f"1{NNBSP}565")
    assert text_of(response, "total-chats") == "45"
    assert text_of(response, "engaged-contacts") == "3"
    assert text_of(response, "overage-points") in (f"1{NBSP}315", f"1{NNBSP}315")
    assert "1 315,00" not in response.content.decode()  # points are not money
    assert f"236,70{NBSP}€" in response.content.decode()
    assert invoice.number in response.content.decode()

    listed = []
    number = 1
    while True:
        listing = page(client, dupont.user, page=number)
        listed += listing.context["rows"]
        if not listing.context["page"].has_next():
            break
        number += 1
    assert len(listed) == OCTOBER_CHATS
    assert sum(row.points for row in listed) == OCTOBER_POINTS

    rows = csv_rows(client)
    header, body, total = rows[0], rows[1:-1], rows[-1]
    assert header[0] == "Date et heure"
    assert len(body) == OCTOBER_CHATS
    assert sum(int(row[6]) for row in body) == OCTOBER_POINTS
    assert total[0] == "Total" and total[8] == "45 chats" and int(total[6]) == OCTOBER_POINTS
    ids = {row[8] for row in body}
    assert "late-garage-dupont-test_drive-agent-0" not in ids
    assert "edge-garage-dupont-test_drive-agent-0" not in ids  # November's in Paris
    assert "edge-garage-dupont-test_drive-bot-0" in ids
    assert dupont.voided_before.external_id not in ids
    assert dupont.voided_after.external_id in ids


def test_an_engaged_contact_costs_its_points_on_its_first_chat_of_the_month(client, dealers):
    """The page lists the latest chat first; each contact still costs its points on its first
    chat of the month, the later ones listed at 0. The CSV keeps the month's order."""
    rows = page(client, dealers["dupont"].user, actor="team").context["rows"]
    first = [(row.contact, row.occurred_at.day, row.points) for row in rows]
    assert first == [
        ("+33600000002", 30, 0),
        ("+33600000001", 28, 0),
        ("+33600000003", 16, 0),
        ("+33600000003", 15, 2),
        ("+33600000002", 9, 2),  # same moment as the next one: the greater id first
        ("+33600000001", 9, 0),
        ("+33600000001", 2, 2),
    ]
    assert [row.contact_already_counted for row in rows] == [True, True, True] + [
        False,
        False,
        True,
        False,
    ]
    body = csv_rows(client, actor="team")[1:-1]
    assert [(row[5], int(row[6])) for row in body] == [
        ("'+33600000001", 2),
        ("'+33600000001", 0),
        ("'+33600000002", 2),
        ("'+33600000003", 2),
        ("'+33600000003", 0),
        ("'+33600000001", 0),
        ("'+33600000002", 0),
    ]


class _ReadText(HTMLParser):
    """What a person reads on a page: its text, and the attributes shown or spoken (a phone
    shows `data-label` before each value; screen readers read titles and ARIA labels)."""

    SHOWN = ("title", "aria-label", "aria-valuetext", "alt", "placeholder", "data-label")

    def __init__(self):
        super().__init__()
        self.parts, self.cells, self._skip, self._cell = [], [], 0, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._skip += tag in ("script", "style")
        self.parts += [attrs[name] for name in self.SHOWN if attrs.get(name)]
        if tag == "td" and attrs.get("data-label"):
            self._cell = [attrs["data-label"], ""]
            self.cells.append(self._cell)

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style")
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)
            if self._cell is not None:
                self._cell[1] += data


@pytest.mark.parametrize(
    ("language", "labels"),
    [
        (
            "fr",
            {
                "Tarif": "Contact engagé par mois (chats illimités)",
                "Traité par": {"Agent de live chat", "Chatbot", "Votre équipe"},
                "Catégorie": {"Messagerie", "Leads vente", "Après-vente", "Support", "Autre"},
            },
        ),
        (
            "en",
            {
                "Tariff": "Engaged contact per month (unlimited chats)",
                "Handled by": {"Live-chat agent", "Chatbot", "Your team"},
                "Category": {"Messaging", "Sales leads", "After-sales", "Support", "Other"},
            },
        ),
    ],
)
def test_the_report_reads_labels_not_codes(client, dealers, language, labels):
    """The breakdown, the list and its filters name tariffs by their description in the page's
    language, actors and categories by translated labels: no code of the tariff table (the
    codes stay in the CSV's code column and in the filters' URLs)."""
    from billing.models import Actor, Category, Tariff

    client.cookies["django_language"] = language
    html = page(client, dealers["dupont"].user, actor="team").content.decode()
    reader = _ReadText()
    reader.feed(html)
    text = " ".join(reader.parts)
    tariff_column, actor_column, category_column = labels
    engaged, actors, categories = labels.values()
    cells = {}
    for column, value in reader.cells:
        cells.setdefault(column, set()).add(" ".join(value.split()))
    # The breakdown (every tariff and actor of the month) and the team's chats.
    descriptions = set(Tariff.objects.values_list(f"description_{language}", flat=True))
    assert engaged in cells[tariff_column] <= descriptions
    assert cells[actor_column] == actors
    assert cells[category_column] == categories
    # The filters.
    assert set(text_options(html, "filter-actor")) > actors
    assert set(text_options(html, "filter-category")) > categories
    assert set(text_options(html, "filter-tariff")) > descriptions
    # No code anywhere a person reads (nor hears).
    for code in [*Tariff.objects.values_list("code", flat=True), *Category.values]:
        assert not re.search(rf"(?<![\w-]){code}(?![\w-])", text), code
    for code in Actor.values:
        assert not any(code in values for values in cells.values()), code


def text_options(html, select_id):
    """The texts of a <select>'s options."""
    select = html[html.index(f'id="{select_id}"') :]
    select = select[: select.index("</select>")]
    options = re.findall(r">([^<]*)</option>", select)
    return [" ".join(unescape(option).split()) for option in options]


def test_the_chart_adds_up_to_the_month(client, dealers):
    response = page(client, dealers["dupont"].user)
    days = response.context["report"].days
    assert len(days) == 31
    assert days[-1].cumulative == sum(day.points for day in days) == OCTOBER_POINTS
    chart = response.context["chart"]
    assert len(chart["bars"]) == 31
    assert chart["quota"]["label"] == f"Inclus{NBSP}: 250"
    html = response.content.decode()
    assert html.count('<rect class="over"') == sum(1 for d in days if d.cumulative > 250)
    assert '<svg viewBox="0 0 720 260"' in html


def test_the_month_in_progress_is_projected_from_the_pace_so_far(client, dealers):
    """1-20 November at 12:00 Paris: 107 points in 468 of the month's 720 hours -> 165."""
    response = page(client, dealers["dupont"].user, month=NOVEMBER)
    report = response.context["report"]
    assert report.is_current and report.from_summary
    assert report.points_used == 65 + 40 + 2
    assert (report.projection.points, report.projection.overage_points) == (165, 0)
    assert report.projection.net_total == Decimal("99.00")
    assert len(report.days) == 20
    assert "À ce rythme" in response.content.decode()


def test_what_the_month_would_cost_on_each_plan(client, clock):
    """The billing rules' GROW month of 3,234 points, with the customer's own ENTERPRISE terms from
    an earlier year: GROW is the cheapest."""
    clock.now = datetime(2026, 11, 20, tzinfo=UTC)
    dealer = CustomerFactory(code="grand-groupe")
    subscribe(
        dealer,
        "ENTERPRISE",
        first_month=date(2025, 1, 1),
        last_month=date(2025, 12, 1),
        **enterprise_terms(fee="400.00", points=2000, price="0.1234"),
    )
    subscribe(dealer, "GROW", first_month=date(2026, 1, 1))
    events = (
        [
            {
                "id": f"td-{n}",
                "customer": "grand-groupe",
                "tariff": "test_drive",
                "actor": "agent",
                "occurred_at": "2026-10-15T10:00:00+02:00",
            }
            for n in range(48)
        ]
        + [
            {
                "id": f"crm-{n}",
                "customer": "grand-groupe",
                "tariff": "crm_lead",
                "actor": "bot",
                "occurred_at": "2026-10-15T10:00:00+02:00",
            }
            for n in range(9)
        ]
        + [
            {
                "id": f"mec-{n}",
                "customer": "grand-groupe",
                "tariff": "contact_engaged",
                "actor": "team",
                "contact": f"c{n}",
                "occurred_at": "2026-10-15T10:00:00+02:00",
            }
            for n in range(30)
        ]
    )
    events_ingest(source="platform", events=events, now=clock.now)
    user = UserFactory(username="groupe")
    dealer.accesses.create(user=user)
    response = page(client, user, customer="grand-groupe")
    assert response.context["report"].points_used == 3234
    plans = [
        (option.code, option.statement.net_total, option.cheapest, option.current)
        for option in response.context["report"].plans
    ]
    assert plans == [
        ("GROW", Decimal("531.76"), True, True),  # 499 + 234 × 0.14
        ("ENTERPRISE", Decimal("552.28"), False, False),  # 400 + 1,234 × 0.1234 = 152.28
        ("BASE", Decimal("636.12"), False, False),  # 99 + 2,984 × 0.18
        ("SCALE", Decimal("1499.00"), False, False),
    ]
    html = response.content.decode()
    assert html.count('class="badge badge-ok"') == 1
    assert f"0,1234{NBSP}€" in html and f"0,14{NBSP}€" in html


def test_filters_and_a_refused_filter(client, dealers):
    user = dealers["dupont"].user
    response = page(client, user, actor="bot", category="sales_leads")
    rows = response.context["rows"]
    assert {(row.actor, row.tariff.category) for row in rows} == {("bot", "sales_leads")}
    # test drive, video call, showroom, trade-in: 4 tariffs × 2 chats + the edge chat = 9.
    assert (response.context["count"], response.context["filtered_points"]) == (9, 9 * 40)
    body = csv_rows(client, actor="bot", category="sales_leads")[1:-1]
    assert len(body) == 9 and sum(int(row[6]) for row in body) == 360

    refused = page(client, user, actor="robot")
    assert "« robot » ne fait pas partie des choix de « Traité par »." in (
        refused.content.decode().replace(NBSP, " ")
    )
    assert refused.context["count"] == OCTOBER_CHATS  # no filter applied
    # A refused filter beside a valid one: the valid one still applies.
    mixed = page(client, user, actor="team", tariff="zzz")
    assert "« zzz » ne fait pas partie des choix de « Tarif »." in (
        mixed.content.decode().replace(NBSP, " ")
    )
    assert mixed.context["count"] == 7
    url = reverse("portal:report_csv", kwargs={"customer": "garage-dupont", "month": "2026-10"})
    bad = client.get(url, {"tariff": "nope"})
    assert bad.status_code == 400
    assert "nope" in bad.content.decode()


def test_the_list_is_paginated_and_its_pages_add_up(client, clock):
    clock.now = datetime(2026, 11, 20, tzinfo=UTC)
    dealer = CustomerFactory(code="gros-volume")
    subscribe(dealer, "GROW", first_month=date(2026, 1, 1))
    events = [
        {
            "id": f"r-{n}",
            "customer": "gros-volume",
            "tariff": "whatsapp_reminder",
            "actor": "bot",
            "occurred_at": f"2026-10-{1 + n % 28:02d}T10:{n % 60:02d}:00+02:00",
        }
        for n in range(120)
    ]
    events_ingest(source="platform", events=events, now=clock.now)
    user = UserFactory(username="volume")
    dealer.accesses.create(user=user)
    seen = []
    for number in (1, 2, 3):
        response = page(client, user, customer="gros-volume", page=number)
        seen += [row.external_id for row in response.context["rows"]]
    assert len(seen) == len(set(seen)) == 120
    assert response.context["page"].paginator.num_pages == 3
    assert "Page 3 sur 3" in response.content.decode()


@pytest.mark.parametrize("invoiced", [False, True], ids=["summary", "chats"])
def test_the_list_shows_the_latest_chat_first(client, clock, invoiced):
    """Page 1 opens on the month's latest chat; the pages go back in time without skipping or
    repeating one (chats of the same moment: the greater id first). The CSV stays in the
    month's order. Both readings of a month: the summary, and the chats of an invoiced month
    that has a late chat."""
    from billing.invoicing.drafts import invoices_draft
    from billing.invoicing.issue import invoice_issue
    from billing.models import ChatEvent, Invoice

    clock.now = datetime(2026, 11, 2, tzinfo=UTC)
    dealer = CustomerFactory(code="recent")
    subscribe(dealer, "GROW", first_month=date(2026, 1, 1))
    events = [
        {
            "id": f"r-{n:03d}",
            "customer": "recent",
            "tariff": "contact_engaged" if n % 3 == 0 else "crm_lead",
            "actor": "team" if n % 3 == 0 else "bot",
            "occurred_at": f"2026-10-{1 + n % 28:02d}T10:{n % 60:02d}:00+02:00",
            **({"contact": f"+3360000000{n % 5}"} if n % 3 == 0 else {}),
        }
        for n in range(118)
    ]
    # The latest moment twice more (28 October 10:55 at +02:00 is r-055's).
    latest = "2026-10-28T10:55:00+02:00"
    events += [
        {
            "id": id_,
            "customer": "recent",
            "tariff": "crm_lead",
            "actor": "bot",
            "occurred_at": latest,
        }
        for id_ in ("r-118", "r-119")
    ]
    assert events_ingest(source="platform", events=events, now=clock.now).accepted == 120
    if invoiced:
        invoices_draft(month=OCTOBER)
        invoice_issue(
            invoice=Invoice.objects.get(customer=dealer, month=OCTOBER.first_day, status="draft")
        )
        clock.now = datetime(2026, 11, 5, tzinfo=UTC)
        late = [{**events[1], "id": "late-1", "occurred_at": "2026-10-30T10:00:00+01:00"}]
        assert events_ingest(source="platform", events=late, now=clock.now).late == 1
    clock.now = datetime(2026, 11, 20, tzinfo=UTC)
    user = UserFactory(username="recent")
    dealer.accesses.create(user=user)

    listed = []
    for number in (1, 2, 3):
        response = page(client, user, customer="recent", page=number)
        assert response.context["report"].from_summary is not invoiced
        listed += response.context["rows"]
    ids = dict(ChatEvent.objects.filter(customer=dealer).values_list("external_id", "id"))
    expected = sorted(
        events,
        key=lambda event: (datetime.fromisoformat(event["occurred_at"]), ids[event["id"]]),
        reverse=True,
    )
    assert [row.external_id for row in listed] == [event["id"] for event in expected]
    assert [row.external_id for row in listed[:3]] == ["r-119", "r-118", "r-055"]
    html = page(client, user, customer="recent").content.decode()
    first_row = html[html.index('<table class="data stack chats">') :].split("<tbody>")[1]
    # 10:55 at +02:00 is 09:55 in Paris on 28 October (winter time since the 25th).
    assert first_row.split("</tr>")[0].count("28/10/2026 09:55") == 1
    # The rule of engaged contacts is the month's, not the page's: each of the 5 contacts
    # costs 2 points once, on its first chat.
    charged = [
        row.external_id for row in listed if row.tariff.unit == "contact_month" and row.points
    ]
    firsts = {}
    for event in reversed(expected):  # oldest first: the first one met per contact
        if event["tariff"] == "contact_engaged":
            firsts.setdefault(event["contact"], event["id"])
    assert len(firsts) == 5
    assert sorted(charged) == sorted(firsts.values())
    assert sum(row.points for row in listed) == response.context["report"].points_used
    body = csv_rows(client, customer="recent")[1:-1]
    assert [row[8] for row in body] == [event["id"] for event in reversed(expected)]


def test_the_report_reads_in_a_fixed_number_of_queries(client, dealers, clock):
    user = dealers["dupont"].user
    client.force_login(user)
    url = reverse("portal:report", kwargs={"customer": "garage-dupont", "month": "2026-11"})
    client.get(url)  # the first visit also writes the chosen dealer into the session
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    clock.now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    more = [
        {
            "id": f"more-{n}",
            "customer": "garage-dupont",
            "tariff": "contact_engaged",
            "actor": "team",
            "contact": f"+3361{n:07d}",
            "occurred_at": "2026-11-15T10:00:00+01:00",
        }
        for n in range(200)
    ]
    events_ingest(source="platform", events=more, now=clock.now)
    with CaptureQueriesContext(connection) as big:
        client.get(url)
    assert len(big) == len(small) <= 15


@pytest.mark.parametrize("month", ["2026-02", "2026-12", "2026-13", "1999-01"])
def test_months_without_a_report_are_not_found(client, dealers, month):
    client.force_login(dealers["dupont"].user)
    url = f"/dealers/garage-dupont/report/{month}/"
    assert client.get(url).status_code == 404


def test_the_month_picker_and_the_neighbouring_months(client, dealers):
    client.force_login(dealers["dupont"].user)
    index = reverse("portal:report_index", kwargs={"customer": "garage-dupont"})
    assert client.get(index, {"month": "2026-10"})["Location"] == (
        "/dealers/garage-dupont/report/2026-10/"
    )
    assert client.get(index)["Location"] == "/dealers/garage-dupont/report/2026-11/"
    response = page(client, dealers["dupont"].user)
    assert response.context["previous_month"] == Month(2026, 9)
    assert response.context["next_month"] == NOVEMBER
    assert [str(m) for m in response.context["months"]][-1] == "2026-03"  # first subscription


def test_english_when_chosen_and_remembered(client, dealers):
    user = dealers["dupont"].user
    client.force_login(user)
    french = page(client, user)
    assert '<html lang="fr">' in french.content.decode()
    assert "Rapport Chatpoints" in french.content.decode()
    response = client.post(reverse("set_language"), {"language": "en", "next": "/report/"})
    assert response.status_code == 302
    english = page(client, user)
    html = english.content.decode()
    assert '<html lang="en">' in html
    assert "Chatpoint report" in html and "October 2026" in html
    assert "€236.70" in html and "1,565" in html
    rows = csv_rows(client)
    assert rows[0][0] == "Date and time"
    assert rows[-1][8] == "45 chats"


def test_two_chats_with_a_contact_at_the_same_moment_cost_once(client, clock):
    """The first chat of a contact in the month is the earliest, then the smallest id: the
    page and the CSV charge the same one."""
    clock.now = datetime(2026, 11, 20, tzinfo=UTC)
    dealer = CustomerFactory(code="meme-instant")
    subscribe(dealer, "BASE", first_month=date(2026, 1, 1))
    same = "2026-10-05T09:00:00+02:00"
    events = [
        {
            "id": id_,
            "customer": "meme-instant",
            "tariff": "contact_engaged",
            "actor": "team",
            "contact": contact,
            "occurred_at": when,
        }
        for id_, contact, when in [
            ("b", "+33611", same),
            ("a", "+33611", same),
            ("c", "+33611", "2026-10-04T09:00:00Z"),
            ("d", "+33622", same),
            ("e", "+33622", same),
        ]
    ]
    assert events_ingest(source="platform", events=events, now=clock.now).accepted == 5
    user = UserFactory(username="instant")
    dealer.accesses.create(user=user)
    rows = page(client, user, customer="meme-instant").context["rows"]
    assert [(row.external_id, row.points) for row in rows] == [  # newest first
        ("e", 0),
        ("d", 2),
        ("b", 0),
        ("a", 0),  # stored in id order: "a" has the smaller primary key
        ("c", 2),
    ]
    body = csv_rows(client, customer="meme-instant")[1:-1]
    assert [(row[8], int(row[6])) for row in body] == [
        ("c", 2),
        ("a", 0),
        ("b", 0),
        ("d", 2),
        ("e", 0),
    ]


def test_an_invoiced_month_shows_the_terms_the_invoice_froze(client, dealers):
    """Terms edited after the invoice (here straight in the database) change nothing on the
    report of the invoiced month: it keeps showing the invoice's amounts."""
    from billing.models import Plan

    Plan.objects.filter(code="BASE").update(
        monthly_fee=Decimal("120.00"), price_per_extra_point=Decimal("0.2000")
    )
    report = page(client, dealers["dupont"].user).context["report"]
    assert report.statement.monthly_fee == Decimal("99.00")
    assert report.statement.overage_amount == Decimal("236.70")
    assert report.statement.net_total == dealers["dupont"].invoice.net_total
    base = next(option for option in report.plans if option.code == "BASE")
    assert base.statement.net_total == Decimal("335.70")


def test_no_projection_on_the_first_day(client, dealers, clock):
    clock.now = datetime(2026, 11, 1, 12, tzinfo=UTC)  # 13:00 in Paris
    report = page(client, dealers["dupont"].user, month=NOVEMBER).context["report"]
    assert report.is_current and report.projection is None


def test_the_csv_keeps_text_as_text(client, clock):
    """A contact a spreadsheet would run as a formula, or read as a number, stays text."""
    clock.now = datetime(2026, 11, 20, tzinfo=UTC)
    dealer = CustomerFactory(code="tableur")
    subscribe(dealer, "BASE", first_month=date(2026, 1, 1))
    events = [
        {
            "id": "=1+1",
            "customer": "tableur",
            "tariff": "contact_engaged",
            "actor": "team",
            "contact": '=HYPERLINK("http://evil.example","click")',
            "occurred_at": "2026-10-25T02:30:00+01:00",  # the second 02:30 of that night
        },
        {
            "id": "ok-1",
            "customer": "tableur",
            "tariff": "contact_engaged",
            "actor": "team",
            "contact": "+33600000001",
            "occurred_at": "2026-10-25T02:30:00+02:00",  # the first one
        },
    ]
    assert events_ingest(source="platform", events=events, now=clock.now).accepted == 2
    user = UserFactory(username="tableur")
    dealer.accesses.create(user=user)
    client.force_login(user)
    body = csv_rows(client, customer="tableur")[1:-1]
    assert [(row[0], row[5], row[8]) for row in body] == [
        ("2026-10-25 02:30:00+02:00", "'+33600000001", "ok-1"),
        ("2026-10-25 02:30:00+01:00", '\'=HYPERLINK("http://evil.example","click")', "'=1+1"),
    ]


def test_an_invoiced_month_with_nothing_late_reads_the_summary(client, dealers, clock):
    """An invoiced month with no late chat and nothing voided since: the report reads the
    summary and still equals the invoice."""
    from billing.invoicing.drafts import invoices_draft
    from billing.invoicing.issue import invoice_issue
    from billing.models import Invoice

    clock.now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    dealer = CustomerFactory(code="tranquille")
    subscribe(dealer, "BASE", first_month=date(2026, 1, 1))
    events = [
        {
            "id": f"q-{n}",
            "customer": "tranquille",
            "tariff": tariff,
            "actor": actor,
            "occurred_at": f"2026-10-{1 + n:02d}T10:00:00+02:00",
            **({"contact": f"c{n % 4}"} if actor == "team" else {}),
        }
        for n, (tariff, actor) in enumerate(
            [("test_drive", "agent"), ("crm_lead", "bot"), ("contact_engaged", "team")] * 5
        )
    ]
    assert events_ingest(source="platform", events=events, now=clock.now).accepted == 15
    invoices_draft(month=OCTOBER)
    invoice = invoice_issue(
        invoice=Invoice.objects.get(customer=dealer, month=OCTOBER.first_day, status="draft")
    )
    clock.now = datetime(2026, 11, 20, tzinfo=UTC)
    user = UserFactory(username="tranquille")
    dealer.accesses.create(user=user)
    report = page(client, user, customer="tranquille").context["report"]
    assert report.from_summary
    assert (report.points_used, report.engaged_contacts) == (5 * 65 + 5 * 6 + 4 * 2, 4)
    assert (report.points_used, report.statement.overage_points) == (
        invoice.points_used,
        invoice.overage_points,
    )
