"""Write a period's Factur-X files to a folder (for a platform, an accountant, an archive)."""

from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.invoicing.facturx import facturx_export


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            _("%(value)s is not a date: give it as YYYY-MM-DD.") % {"value": value}
        ) from None


class Command(BaseCommand):
    help = (
        "Write the Factur-X PDFs (PDF/A-3 with their XML) of the invoices and credit notes "
        "issued in a period to a folder, one <number>.pdf each."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", help="where the files are written (created if needed)")
        parser.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD")
        parser.add_argument(
            "--check",
            action="store_true",
            help="check each XML (XSD, EN 16931 and French BR-FR rules); fail on a problem",
        )

    def handle(self, *args, folder, start, end, check, **options):
        start, end = _day(start), _day(end)
        if start > end:
            raise CommandError(
                _("--from %(start)s is after --to %(end)s.") % {"start": start, "end": end}
            )
        report = facturx_export(start=start, end=end, folder=Path(folder), check=check)
        for number in report.without_einvoice:
            self.stderr.write(
                _("%(number)s: issued before e-invoices, no Factur-X to write.")
                % {"number": number}
            )
        for number, problems in report.problems.items():
            for problem in problems:
                self.stderr.write(f"{number}: {problem}")
        self.stdout.write(
            ngettext(
                "%(count)d Factur-X file written to %(folder)s.",
                "%(count)d Factur-X files written to %(folder)s.",
                len(report.written),
            )
            % {"count": len(report.written), "folder": folder}
        )
        if report.problems:
            raise CommandError(
                ngettext(
                    "%(count)d document fails the checks.",
                    "%(count)d documents fail the checks.",
                    len(report.problems),
                )
                % {"count": len(report.problems)}
            )
