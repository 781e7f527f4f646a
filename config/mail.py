"""Development e-mail: every message written to its own file under EMAIL_FILE_PATH (var/mail/),
named after its time and subject, e.g. `20261201-090000-invoice-f2026-00001-chatpoints-….eml`.

A standard .eml: open it in a mail client, or read it as text (headers and body first, the PDF
attached as base64 at the end). Django's file backend would append every message sent through
one connection to the same file, and the console backend prints the attachments.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone
from django.utils.text import slugify


class EmailBackend(BaseEmailBackend):
    def __init__(self, *args, file_path: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.file_path = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages) -> int:
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            try:
                self.file_path.mkdir(parents=True, exist_ok=True)
                name = "{:%Y%m%d-%H%M%S}-{}-{}.eml".format(
                    timezone.localtime(),
                    slugify(message.subject)[:60] or "message",
                    uuid.uuid4().hex[:6],
                )
                (self.file_path / name).write_bytes(message.message().as_bytes(linesep="\n"))
            except OSError:
                if not self.fail_silently:
                    raise
                continue
            sent += 1
        return sent


FILE_BACKENDS = ("config.mail.EmailBackend", "django.core.mail.backends.filebased.EmailBackend")


def mail_folder() -> str | None:
    """Where e-mails are written when they go to files (development), else None."""
    if settings.EMAIL_BACKEND in FILE_BACKENDS:
        return str(settings.EMAIL_FILE_PATH)
    return None
