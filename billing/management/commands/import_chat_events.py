import io
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.usage.csv_import import InvalidCsv, events_import_csv, utf8_lines
from billing.usage.validate import source_problem


def _n(value: int) -> str:
    return number_format(value, force_grouping=True)


class Command(BaseCommand):
    help = (
        "Import chat events from a CSV file (columns id, customer, tariff, actor, occurred_at, "
        "contact, meta) with the API's rules and idempotency. Exits 1 if any row was refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file, UTF-8; '-' reads standard input")
        parser.add_argument(
            "--source", required=True, help="the system the chats come from (ids are per source)"
        )
        parser.add_argument("--quiet", action="store_true", help="no progress lines")

    def handle(self, *args, file, source, quiet, **options):
        if problem := source_problem(source):
            raise CommandError(f"--source {problem}")
        if file == "-":
            binary = sys.stdin.buffer
            size = None
        else:
            try:
                binary = open(file, "rb")  # noqa: SIM115 (closed below)
            except OSError as error:
                raise CommandError(f"{file}: {error.strerror}") from None
            try:
                size = binary.seek(0, io.SEEK_END) or None
                binary.seek(0)
            except OSError:  # a pipe: no percentage in the progress lines
                size = None
        started = last_shown = time.monotonic()

        def on_refused(line, event_id, errors):
            reasons = " | ".join(f"{name}: {message}" for name, message in errors.items())
            shown_id = f" [{event_id}]" if event_id else ""
            self.stdout.write(
                _("line %(line)d%(id)s: %(reasons)s")
                % {"line": line, "id": shown_id, "reasons": reasons}
            )

        def on_batch(summary):
            nonlocal last_shown
            now = time.monotonic()
            if quiet or now - last_shown < 2:
                return
            last_shown = now
            done = ""
            if size:
                done = f" ({min(100, 100 * binary.tell() // size)} %)"
            self.stderr.write(
                _("… %(rows)s rows read%(done)s, %(rate)s rows/s")
                % {
                    "rows": _n(summary.rows),
                    "done": done,
                    "rate": _n(int(summary.rows / (now - started))),
                }
            )

        try:
            summary = events_import_csv(
                lines=utf8_lines(binary), source=source, on_refused=on_refused, on_batch=on_batch
            )
        except InvalidCsv as error:
            raise CommandError(str(error)) from None
        except UnicodeDecodeError:
            raise CommandError(
                _("%(file)s is not UTF-8 text: nothing was imported.") % {"file": file}
            ) from None
        finally:
            if binary is not sys.stdin.buffer:
                binary.close()
        elapsed = time.monotonic() - started
        self.stdout.write(
            _(
                "Rows read: %(rows)s · stored: %(accepted)s · duplicates (already stored): "
                "%(duplicates)s · refused: %(refused)s · of those stored, late (month already "
                "invoiced): %(late)s, unbilled (no plan in force that month): %(unbilled)s · "
                "%(seconds).1f s"
            )
            % {
                "rows": _n(summary.rows),
                "seconds": elapsed,
                "accepted": _n(summary.accepted),
                "duplicates": _n(summary.duplicates),
                "refused": _n(summary.refused),
                "late": _n(summary.late),
                "unbilled": _n(summary.unbilled),
            }
        )
        if summary.stopped:
            raise CommandError(summary.stopped, returncode=1)
        if summary.refused:
            raise CommandError(
                ngettext(
                    "%(count)s row refused (listed above with its line).",
                    "%(count)s rows refused (listed above with their line).",
                    summary.refused,
                )
                % {"count": _n(summary.refused)},
                returncode=1,
            )
