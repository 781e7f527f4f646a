"""E-mail in development: each message in its own readable file under var/mail/, never the
console (a PDF attachment is thousands of lines of base64); production unchanged."""

import email
import json
import os
import subprocess
import sys
from email import policy
from pathlib import Path

from django.core.mail import EmailMessage, get_connection

from config.mail import EmailBackend, mail_folder

ROOT = Path(__file__).resolve().parents[1]


def mail_settings(tmp_path, **env) -> dict:
    """The e-mail settings the settings module gives in this environment (a fresh process)."""
    code = (
        "import json; from config import settings as s; "
        "print(json.dumps({'backend': s.EMAIL_BACKEND, "
        "'path': str(getattr(s, 'EMAIL_FILE_PATH', '')), 'host': getattr(s, 'EMAIL_HOST', '')}))"
    )
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ENV_FILE": os.devnull,
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def development_mail_settings(tmp_path) -> dict:
    """What `make run` gets: its .env sets DEBUG and nothing about e-mail."""
    return mail_settings(tmp_path, DEBUG="1")


def test_development_writes_e_mails_under_var_mail(tmp_path):
    development = development_mail_settings(tmp_path)
    assert (development["backend"], development["path"]) == (
        "config.mail.EmailBackend",
        str(tmp_path / "mail"),
    )


def test_production_and_an_explicit_email_url_are_unchanged(tmp_path):
    production = mail_settings(tmp_path, DEBUG="0", SECRET_KEY="x" * 50)
    assert production["backend"] == "django.core.mail.backends.console.EmailBackend"
    smtp = mail_settings(tmp_path, DEBUG="1", EMAIL_URL="smtp+tls://user:pw@smtp.example:587")
    assert (smtp["backend"], smtp["host"]) == (
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example",
    )


def test_each_message_is_its_own_readable_file(tmp_path, settings):
    settings.EMAIL_BACKEND = "config.mail.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    assert mail_folder() == str(tmp_path / "mail")
    messages = []
    for number in ("F2026-00001", "F2026-00002"):
        message = EmailMessage(
            subject=f"Invoice {number} — Chatpoints October 2026",
            body=f"Please find attached invoice {number}.",
            from_email="billing@chatpoints.example",
            to=["accounts@dealer.example"],
        )
        message.attach(f"{number}.pdf", b"%PDF-1.7 " + number.encode(), "application/pdf")
        messages.append(message)
    connection = get_connection()
    assert isinstance(connection, EmailBackend)
    assert connection.send_messages(messages) == 2  # one connection, two files
    files = sorted((tmp_path / "mail").iterdir())
    assert [path.suffix for path in files] == [".eml", ".eml"]
    assert "invoice-f2026-00001-chatpoints-october-2026" in files[0].name
    read = email.message_from_bytes(files[1].read_bytes(), policy=policy.default)
    assert read["Subject"] == "Invoice F2026-00002 — Chatpoints October 2026"
    assert read.get_body().get_content().strip() == "Please find attached invoice F2026-00002."
    (attachment,) = read.iter_attachments()
    assert attachment.get_filename() == "F2026-00002.pdf"
    assert attachment.get_content() == b"%PDF-1.7 F2026-00002"


def test_no_folder_outside_development(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert mail_folder() is None
