"""Write a period's FEC (and, with --invoices-csv, its invoices as CSV) to a folder:
manage.py export_fec START END [--output-dir DIR] [--invoices-csv]."""

import os
import tempfile
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from billing.accounting.fec import ENCODING, fec_filename, fec_lines
from billing.accounting.invoices_csv import invoices_csv_filename, invoices_csv_lines
from billing.errors import BillingError


def _day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            _("%(name)s: %(value)s is not a date: give it as YYYY-MM-DD.")
            % {"name": name, "value": value}
        ) from None


def _write(path: Path, lines: Iterable[str], encoding: str) -> None:
    """All or nothing: written to a temporary file beside it, renamed once complete."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding=encoding, newline="") as file:
            file.writelines(lines)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as an ordinary file (mkstemp makes it private)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


class Command(BaseCommand):
    help = (
        "Write the FEC (Fichier des Écritures Comptables) of a period: the sales journal of the "
        "invoices and credit notes issued from START to END (inclusive) and the bank journal of "
        "the payments recorded then, as SIRENFECYYYYMMDD.txt (YYYYMMDD: END)."
    )

    def add_arguments(self, parser):
        parser.add_argument("start", metavar="START", help="first day, YYYY-MM-DD")
        parser.add_argument("end", metavar="END", help="last day (the closing date), YYYY-MM-DD")
        parser.add_argument("--output-dir", default=".", help="where to write (created if needed)")
        parser.add_argument(
            "--invoices-csv",
            action="store_true",
            help="also write the period's invoices and credit notes as CSV, for a spreadsheet",
        )

    def handle(self, *args, start, end, output_dir, invoices_csv, **options):
        start, end = _day("START", start), _day("END", end)
        if start > end:
            raise CommandError(
                _(
                    "START %(start)s is after END %(end)s: a period runs from its first day "
                    "to its last."
                )
                % {"start": start.isoformat(), "end": end.isoformat()}
            )
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        files = [(folder / fec_filename(end), fec_lines(start=start, end=end), ENCODING)]
        if invoices_csv:
            csv_lines = invoices_csv_lines(start=start, end=end)
            files.append((folder / invoices_csv_filename(start, end), csv_lines, "utf-8"))
        for path, lines, encoding in files:
            try:
                _write(path, lines, encoding)
            except BillingError as error:
                raise CommandError(str(error)) from None
            self.stdout.write(_("%(path)s written.") % {"path": path})
