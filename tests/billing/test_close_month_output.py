"""close_month --issue as a developer runs it (`make run`'s settings): the e-mails go to files,
not to the terminal, and the command's own result comes last, set apart."""

import re
from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command

from billing.usage.store import events_ingest
from tests.factories import CustomerFactory, subscribe
from tests.test_mail import development_mail_settings

BASE64_LINE = re.compile(r"^[A-Za-z0-9+/]{60,}={0,2}$", re.MULTILINE)


def october_chats(code, count):
    return [
        {
            "id": f"{code}-{n}",
            "customer": code,
            "tariff": "test_drive",
            "actor": "agent",
            "occurred_at": f"2026-10-{1 + n % 28:02d}T10:00:00+02:00",
        }
        for n in range(count)
    ]


@pytest.mark.django_db
def test_close_month_issue_in_development_prints_its_result_not_the_pdfs(
    tmp_path, settings, clock, capsys, monkeypatch
):
    # Issuing e-mails each invoice once its transaction commits; the test's own transaction
    # holds every commit back, so run what waits for the commit at once.
    monkeypatch.setattr("django.db.transaction.on_commit", lambda func, *args, **kwargs: func())
    development = development_mail_settings(tmp_path)
    settings.EMAIL_BACKEND = development["backend"]
    settings.EMAIL_FILE_PATH = development["path"]
    clock.now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    subscribe(CustomerFactory(code="garage-dupont"), "GROW", first_month=date(2026, 1, 1))
    subscribe(CustomerFactory(code="petit-garage", billing_emails=""), "BASE")
    events = october_chats("garage-dupont", 50) + october_chats("petit-garage", 3)
    assert events_ingest(source="platform", events=events, now=clock.now).accepted == 53
    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)

    call_command("close_month", "2026-10", "--issue")  # to the process's stdout, as in a terminal

    out, err = capsys.readouterr()
    assert not BASE64_LINE.search(out), "an attachment was printed"
    assert "Content-Transfer-Encoding" not in out
    summary = out[out.index("== Month close: 2026-10 ==") :].splitlines()
    assert summary == [
        "== Month close: 2026-10 ==",
        "  2 invoices issued: F2026-00001 to F2026-00002.",
        "  1 e-mail sent.",
        f"  Development: e-mails are written to {tmp_path / 'mail'}, one file each.",
        "  1 e-mail not sent: see the invoice in the admin and send it again from there.",
        "  1 point needs attention (listed above).",
    ]
    assert "petit-garage: no billing e-mail address" in err
    (sent,) = (tmp_path / "mail").iterdir()
    assert b'filename="F2026-00001.pdf"' in sent.read_bytes()


@pytest.mark.django_db
def test_close_month_without_issue_says_what_is_ready(capsys, clock):
    clock.now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    subscribe(CustomerFactory(code="garage-dupont"), "GROW", first_month=date(2026, 1, 1))
    call_command("close_month", "2026-10")
    out = capsys.readouterr().out
    assert out.endswith(
        "== Month close: 2026-10 ==\n  1 draft ready to issue (close_month 2026-10 --issue).\n"
    )
