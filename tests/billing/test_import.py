"""CSV import: the API's rules from a file, every refused row with its line, exit 1 if any."""

import io
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from billing.models import ChatEvent
from billing.usage.csv_import import InvalidCsv, events_import_csv
from tests.factories import CustomerFactory, UserFactory, subscribe

pytestmark = pytest.mark.django_db

MIXED = """\
id,customer,tariff,actor,occurred_at,contact,meta
c1,garage-dupont,test_drive,agent,2026-11-20T10:00:00+01:00,,
c2,garage-dupont,test_drive,bot,2026-11-20T10:05:00+01:00,,"{""crm"": ""lead-1""}"
c3,garage-dupont,contact_engaged,team,2026-11-20T10:10:00+01:00,+33600000001,
c4,nobody,test_drive,agent,2026-11-20T10:00:00+01:00,,
c5,garage-dupont,quote_request,bot,2026-11-20T10:00:00+01:00,,
c1,garage-dupont,test_drive,agent,2026-11-20T10:00:00+01:00,,
c6,garage-dupont,test_drive,agent,2026-11-20T10:00:00,,
c7,garage-dupont,test_drive,agent,2026-11-20T10:00:00+01:00,,{oops
"c8","garage-dupont","crm_lead","bot","2026-11-21T08:00:00Z","","{""note"":
""one row, two lines""}"
c9,garage-dupont,contact_engaged,team,2026-11-20T11:00:00+01:00,,
c10,garage-dupont,test_drive,agent,2026-11-20T10:00:00+01:00,,,extra
c1,garage-dupont,test_drive,bot,2026-11-20T10:00:00+01:00,,
"""

EXPECTED_REFUSALS = [
    "line 5 [c4]: customer: 'nobody' is not a known customer.",
    "line 6 [c5]: tariff: quote_request is not offered for bot",
    "line 8 [c6]: occurred_at: '2026-11-20T10:00:00' has no time zone offset (such as +01:00 "
    "or Z).",
    "line 9 [c7]: meta: '{oops' is not JSON.",
    "line 12 [c9]: contact: contact_engaged is charged per contact: the contact is required.",
    "line 13 [c10]: row: 1 values more than the header's columns.",
    "line 14 [c1]: id: 'c1' conflicts with the chat event already received with this id (actor "
    "differ): an event is stored once and never changed.",
]


@pytest.fixture
def dealer():
    customer = CustomerFactory(code="garage-dupont")
    subscribe(customer, "GROW", first_month=date(2026, 1, 1))
    return customer


@pytest.fixture
def mixed_file(tmp_path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(MIXED, encoding="utf-8")
    return path


def run(path, source="legacy"):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_chat_events", str(path), source=source, stdout=out, stderr=err)
        code = 0
    except CommandError as error:
        err.write(str(error))
        code = error.returncode
    return code, out.getvalue().splitlines(), err.getvalue()


def test_a_file_of_good_duplicate_and_bad_rows(dealer, mixed_file):
    code, lines, err = run(mixed_file)
    assert code == 1
    assert lines[:-1] == EXPECTED_REFUSALS
    assert lines[-1].startswith(
        "Rows read: 12 · stored: 4 · duplicates (already stored): 1 · refused: 7 · of those "
        "stored, late (month already invoiced): 0, unbilled (no plan in force that month): 0 · "
    )
    assert "7 rows refused (listed above with their line)." in err
    stored = {e.external_id: e for e in ChatEvent.objects.filter(source="legacy")}
    assert sorted(stored) == ["c1", "c2", "c3", "c8"]
    assert stored["c2"].metadata == {"crm": "lead-1"}
    assert stored["c8"].metadata == {"note": "one row, two lines"}
    assert stored["c3"].contact == "+33600000001"
    assert sum(e.points for e in stored.values()) == 65 + 40 + 2 + 6


def test_importing_the_same_file_again_stores_nothing_twice(dealer, mixed_file):
    run(mixed_file)
    code, lines, _err = run(mixed_file)
    assert code == 1  # the same rows are still refused
    assert "stored: 0 · duplicates (already stored): 5 · refused: 7 ·" in lines[-1]
    assert ChatEvent.objects.count() == 4


def test_a_clean_file_exits_0_and_semicolons_are_understood(dealer, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text(
        "\ufeffid;customer;tariff;actor;occurred_at\n"
        "x1;garage-dupont;test_drive;agent;2026-11-20T10:00:00+01:00\n",
        encoding="utf-8",
    )
    code, lines, _err = run(path)
    assert code == 0
    assert "stored: 1 · duplicates (already stored): 0 · refused: 0 ·" in lines[-1]


def test_a_wrong_header_imports_nothing(dealer, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,client,tariff,actor,when\nx1,garage-dupont,test_drive,agent,now\n")
    code, _lines, err = run(path)
    assert code == 1
    assert "missing column(s) customer, occurred_at; unknown column(s) client, when" in err
    assert ChatEvent.objects.count() == 0


def test_a_file_that_is_not_utf8_is_refused(dealer, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,customér,tariff,actor,occurred_at\nx,y,z,w,v\n".encode("latin-1"))
    code, _lines, err = run(path)
    assert code == 1
    assert "latin1.csv is not UTF-8 text: nothing was imported." in err


GOOD_ROW = "garage-dupont,test_drive,agent,2026-11-20T10:00:00+01:00"


def test_an_unreadable_line_stops_the_import_after_storing_the_rows_before(dealer, tmp_path):
    path = tmp_path / "broken.csv"
    good = "".join(f"ok-{n},{GOOD_ROW}\n" for n in range(1500))
    path.write_bytes(
        b"id,customer,tariff,actor,occurred_at\n"
        + good.encode()
        + "bad,café,test_drive,agent,now\n".encode("latin-1")
        + b"after,garage-dupont,test_drive,agent,2026-11-20T10:00:00+01:00\n"
    )
    code, lines, err = run(path)
    assert code == 1
    assert lines[-1].startswith("Rows read: 1,500 · stored: 1,500 ·")
    assert "line 1502: the file is not UTF-8 text. The import stopped there" in err
    assert ChatEvent.objects.count() == 1500


def test_a_field_too_long_for_csv_stops_the_import_with_its_line(dealer, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(
        f"id,customer,tariff,actor,occurred_at,meta\nok,{GOOD_ROW},\n"
        f'long,{GOOD_ROW},"{"x" * 200_000}"\n'
    )
    code, lines, err = run(path)
    assert code == 1
    assert "stored: 1 ·" in lines[-1]
    assert "line 3: field larger than field limit" in err


def test_line_numbers_count_blank_lines_crlf_and_a_bom(dealer, tmp_path):
    path = tmp_path / "windows.csv"
    path.write_bytes(
        (
            "\ufeffid,customer,tariff,actor,occurred_at\r\n"
            f"a,{GOOD_ROW}\r\n"
            "\r\n"
            "b,nobody,test_drive,agent,2026-11-20T10:00:00+01:00\r\n"
        ).encode()
    )
    code, lines, _err = run(path)
    assert code == 1
    assert lines[0] == "line 4 [b]: customer: 'nobody' is not a known customer."


def test_a_header_only_file_imports_nothing_and_exits_0(dealer, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("id,customer,tariff,actor,occurred_at\n")
    code, lines, _err = run(path)
    assert code == 0
    assert lines[-1].startswith("Rows read: 0 · stored: 0 ·")


def test_a_bad_source_is_refused_before_reading(dealer, mixed_file):
    code, _lines, err = run(mixed_file, source="Legacy CRM")
    assert code == 1
    assert "--source 'Legacy CRM': a source is 1 to 64 lower-case letters" in err
    assert ChatEvent.objects.count() == 0


def test_the_import_streams_in_batches_and_reports_lines_across_batches(dealer):
    header = "id,customer,tariff,actor,occurred_at\n"
    rows = [
        f"r{n},{'nobody' if n % 7 == 0 else 'garage-dupont'},test_drive,agent,"
        "2026-11-20T10:00:00+01:00\n"
        for n in range(25)
    ]
    refused, batches = [], []
    summary = events_import_csv(
        lines=io.StringIO(header + "".join(rows)),
        source="legacy",
        on_refused=lambda line, event_id, errors: refused.append((line, event_id)),
        on_batch=lambda s: batches.append(s.rows),
        batch_size=10,
    )
    assert batches == [10, 20, 25]
    assert refused == [(2, "r0"), (9, "r7"), (16, "r14"), (23, "r21")]
    assert (summary.rows, summary.accepted, summary.refused) == (25, 21, 4)


def test_an_empty_file_is_refused():
    with pytest.raises(InvalidCsv):
        events_import_csv(lines=io.StringIO(""), source="x", on_refused=print)


def test_staff_import_a_file_from_the_admin(client, dealer):
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    url = reverse("admin:billing_chatevent_import")
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    upload = io.BytesIO(MIXED.encode())
    upload.name = "events.csv"
    response = client.post(url, {"source": "legacy", "file": upload}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["summary"].accepted == 4
    assert response.context["summary"].refused == 7
    assert [row["line"] for row in response.context["refused"]] == [5, 6, 8, 9, 12, 13, 14]
    assert "quote_request is not offered for bot" in html
    assert ChatEvent.objects.filter(source="legacy").count() == 4
    changelist = client.get(reverse("admin:billing_chatevent_changelist"))
    assert url in changelist.content.decode()
