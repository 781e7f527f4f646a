"""Import a bank statement (camt.053 XML or CSV): manage.py import_bank_statement FILE."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from billing.errors import BillingError
from billing.payments.statements import bank_statement_import


class Command(BaseCommand):
    help = "Import a bank statement (camt.053 or CSV) and match its credits to invoices."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(_("%(path)s: no such file.") % {"path": file})
        try:
            result = bank_statement_import(filename=path.name, content=path.read_bytes())
        except BillingError as error:
            raise CommandError(f"{path.name}: {error}") from None
        self.stdout.write(
            _(
                "%(new)d new entries (%(old)d already imported): %(matched)d matched, "
                "%(returned)d direct debits returned, %(unmatched)d to match by hand, "
                "%(ignored)d other debits."
            )
            % {
                "new": result.new,
                "old": result.already_imported,
                "matched": len(result.matched),
                "returned": len(result.returned),
                "unmatched": len(result.unmatched),
                "ignored": len(result.ignored),
            }
        )
        for entry in result.unmatched:
            self.stdout.write(
                _("To match: %(date)s %(amount)s %(name)s %(remittance)s")
                % {
                    "date": entry.booked_on,
                    "amount": entry.amount,
                    "name": entry.counterparty_name,
                    "remittance": entry.remittance,
                }
            )
