"""The month's CSV: every row has the header's columns, the totals sit under their own headers,
and text from outside never reaches a spreadsheet as a formula."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from billing.formats import spreadsheet_text
from billing.usage.store import events_ingest
from tests.factories import CustomerFactory, UserFactory, subscribe

from .conftest import OCTOBER
from .test_report import OCTOBER_CHATS, OCTOBER_POINTS

pytestmark = pytest.mark.django_db


def csv_of(client, customer="garage-dupont", month=OCTOBER):
    url = reverse("portal:report_csv", kwargs={"customer": customer, "month": str(month)})
    response = client.get(url)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return text[1:]


@pytest.mark.parametrize(
    ("language", "delimiter", "headers"),
    [
        ("fr", ";", ("Date et heure", "Points", "Identifiant du chat", "Contact")),
        ("en", ",", ("Date and time", "Points", "Chat id", "Contact")),
    ],
)
def test_every_row_has_the_headers_columns_and_totals_sit_under_theirs(
    client, dealers, language, delimiter, headers
):
    client.force_login(dealers["dupont"].user)
    if language != "fr":
        client.post(reverse("set_language"), {"language": language, "next": "/report/"})
    rows = list(csv.reader(io.StringIO(csv_of(client)), delimiter=delimiter))
    header, body, totals = rows[0], rows[1:-1], rows[-1]
    assert len(header) == 9
    assert [len(row) for row in rows] == [len(header)] * len(rows)
    date_header, points_header, id_header, contact_header = headers
    assert header[0] == date_header
    assert len(body) == OCTOBER_CHATS
    total = dict(zip(header, totals, strict=True))
    assert total[date_header] == "Total"
    assert int(total[points_header]) == OCTOBER_POINTS == sum(int(row[6]) for row in body)
    assert total[id_header] == f"{OCTOBER_CHATS} chats"
    assert total[contact_header] == ""
    assert [value for value in totals if value] == [
        "Total",
        str(OCTOBER_POINTS),
        f"{OCTOBER_CHATS} chats",
    ]


@pytest.mark.parametrize(
    "value",
    [
        "=1+1",
        "+33612345678",
        "-2+3",
        "@SUM(A1:A9)",
        "\tab",
        "\r=1",
        "\n=1",
        ' =HYPERLINK("http://x.example")',
        "  +1",
        "\r\n@SUM(A1)",
        "\n-1",
        "\t=1",
        "\u3000=1+1",
        "\u00a0=1",
        "＝1+1",
        "＋33612345678",
        "－1",
        "＠SUM(A1)",
        " ＝1",
        "\u3000＋1",
        "﹦1",
    ],
)
def test_a_formula_in_any_disguise_is_kept_as_text(value):
    assert spreadsheet_text(value) == "'" + value


@pytest.mark.parametrize(
    "value", ["", "chat-0001", "a=b", "1+1", " 1", "hello world", "contact@example.com", "ｘ=1"]
)
def test_other_text_is_left_alone(value):
    assert spreadsheet_text(value) == value


def test_the_csv_keeps_formulas_from_outside_as_text(client, clock):
    clock.now = datetime(2026, 11, 20, tzinfo=UTC)
    dealer = CustomerFactory(code="garage-formules")
    subscribe(dealer, "GROW", first_month=date(2026, 1, 1))
    hostile = [" =1+1", "\n@SUM(A1)", "＝2+2", "\u3000-3", "\r\n+4"]
    events = [
        {
            "id": value,
            "customer": dealer.code,
            "tariff": "contact_engaged",
            "actor": "team",
            "contact": value + "-contact",
            "occurred_at": f"2026-10-{n + 1:02d}T10:00:00+02:00",
        }
        for n, value in enumerate(hostile)
    ]
    result = events_ingest(source="platform", events=events, now=clock.now)
    assert result.accepted == len(hostile), result.rejected
    user = UserFactory(username="formules")
    dealer.accesses.create(user=user)
    client.force_login(user)
    rows = list(csv.reader(io.StringIO(csv_of(client, customer=dealer.code)), delimiter=";"))
    body = rows[1:-1]
    assert sorted(row[8] for row in body) == sorted("'" + value for value in hostile)
    assert sorted(row[5] for row in body) == sorted("'" + value + "-contact" for value in hostile)
