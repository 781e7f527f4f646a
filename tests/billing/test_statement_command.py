import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from tests.factories import CustomerFactory, enterprise_terms, record, subscribe

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lyon(paris):
    customer = CustomerFactory(code="lyon", legal_name="Lyon Automobiles SA")
    subscribe(customer, "GROW")
    for index in range(49):
        record(customer, "test_drive", "agent", paris(2026, 10, 1 + index % 28, 10))
        record(customer, "whatsapp_reminder", "bot", paris(2026, 10, 1 + index % 28, 11))
    record(customer, "contact_engaged", "team", paris(2026, 10, 3, 9), contact="c1")
    record(customer, "contact_engaged", "team", paris(2026, 10, 4, 9), contact="c1")
    record(customer, "whatsapp_concierge", "bot", paris(2026, 10, 4, 9))
    return customer


def run_json(*args):
    from io import StringIO

    out = StringIO()
    call_command("statement", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_json_statement_has_every_key_with_exact_values(lyon):
    data = run_json("lyon", "2026-10")
    assert data == {
        "customer": "lyon",
        "month": "2026-10",
        "plan": "GROW",
        "monthly_fee": "499.00",
        "included_points": 3000,
        "points_used": 3236,
        "overage_points": 236,
        "price_per_extra_point": "0.1400",
        "overage_amount": "33.04",
        "net_total": "532.04",
        "vat_treatment": "standard",
        "vat_rate": "20.00",
        "vat_amount": "106.41",
        "total": "638.45",
        "engaged_contacts": 1,
        "lines": [
            {"tariff": "contact_engaged", "actor": "team", "chats": 2, "points": 2},
            {"tariff": "test_drive", "actor": "agent", "chats": 49, "points": 3185},
            {"tariff": "whatsapp_reminder", "actor": "bot", "chats": 49, "points": 49},
            {"tariff": "whatsapp_concierge", "actor": "bot", "chats": 1, "points": 0},
        ],
    }


def test_enterprise_price_per_point_has_four_decimals():
    customer = CustomerFactory(code="bavaria")
    subscribe(customer, "ENTERPRISE", **enterprise_terms("2500.00", 20000, "0.1234"))
    data = run_json("bavaria", "2026-10")
    assert (data["plan"], data["monthly_fee"], data["price_per_extra_point"]) == (
        "ENTERPRISE",
        "2500.00",
        "0.1234",
    )
    assert (data["points_used"], data["total"], data["lines"]) == (0, "3000.00", [])


def text_statement(language):
    from io import StringIO

    out = StringIO()
    with translation.override(language):
        call_command("statement", "lyon", "2026-10", stdout=out)
    return out.getvalue()


def test_text_statement_in_english(lyon):
    text = text_statement("en")
    assert "Lyon Automobiles SA (lyon) — 2026-10 — GROW" in text
    assert re.search(r"test_drive\s+agent\s+49\s+3,185", text)
    assert re.search(r"Extra Chatpoints: 236 × €0\.1400\s+€33\.04", text)
    assert re.search(r"Net total\s+€532\.04", text)
    assert re.search(r"VAT 20\.00 %\s+€106\.41", text)
    assert re.search(r"Total\s+€638\.45", text)
    assert "VAT treatment: VAT at the customer's rate" in text


def test_text_statement_in_french(lyon):
    text = text_statement("fr")
    nbsp = "\N{NO-BREAK SPACE}"
    assert re.search(rf"test_drive\s+agent\s+49\s+3{nbsp}185", text)
    assert re.search(rf"Chatpoints supplémentaires{nbsp}: 236 × 0,1400{nbsp}€\s+33,04{nbsp}€", text)
    assert re.search(rf"Total HT\s+532,04{nbsp}€", text)
    assert re.search(rf"TVA 20,00{nbsp}%\s+106,41{nbsp}€", text)
    assert re.search(rf"Total TTC\s+638,45{nbsp}€", text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nobody", "2026-10"), "Unknown customer 'nobody'"),
        (("lyon", "2026-13"), "Invalid month '2026-13'"),
        (("lyon", "oct"), "Invalid month 'oct'"),
        (("lyon", "2025-12"), "lyon has no plan in force in 2025-12"),
    ],
)
def test_errors(lyon, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("statement", *args)


def test_error_is_one_line_and_exit_status_1(tmp_path):
    """As a user runs it: a fresh SQLite database, an unknown customer."""
    env = {
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": os.devnull,
        "DEBUG": "1",
        "SECRET_KEY": "x",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LANGUAGE": "en",
    }
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    result = subprocess.run(
        [python, "manage.py", "statement", "nobody", "2026-10", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "nobody" in result.stderr
    assert result.stderr.startswith("CommandError: ")
