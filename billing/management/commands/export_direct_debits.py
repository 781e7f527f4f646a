"""Build the SEPA pain.008 file(s) of a collection date: manage.py export_direct_debits
--collection-date YYYY-MM-DD [--output-dir DIR]."""

from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from billing.errors import BillingError
from billing.payments.debits import direct_debits_export


class Command(BaseCommand):
    help = "Build the SEPA direct-debit file(s) (pain.008) of a collection date."

    def add_arguments(self, parser):
        parser.add_argument("--collection-date", required=True, help="YYYY-MM-DD")
        parser.add_argument("--output-dir", default=".", help="where to write the file(s)")

    def handle(self, *args, collection_date, output_dir, **options):
        try:
            day = date.fromisoformat(collection_date)
        except ValueError:
            raise CommandError(
                _("--collection-date %(value)s is not a date: YYYY-MM-DD.")
                % {"value": collection_date}
            ) from None
        try:
            export = direct_debits_export(collection_date=day)
        except BillingError as error:
            raise CommandError(str(error)) from None
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for batch in export.batches:
            path = folder / batch.filename
            path.write_bytes(bytes(batch.xml))
            self.stdout.write(
                _("%(path)s: %(count)d direct debits, %(total)s EUR, %(scheme)s")
                % {"path": path, "count": batch.count, "total": batch.total, "scheme": batch.scheme}
            )
