"""The daily job: e-mail the pre-notifications of the coming direct debits."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from billing.payments.debits import direct_debit_notices_send


class Command(BaseCommand):
    help = "E-mail the pre-notifications of the direct debits to come (daily)."

    def add_arguments(self, parser):
        parser.add_argument("--today", help="YYYY-MM-DD (default: today)")

    def handle(self, *args, today=None, **options):
        try:
            day = date.fromisoformat(today) if today else None
        except ValueError:
            raise CommandError(
                _("--today %(value)s is not a date: YYYY-MM-DD.") % {"value": today}
            ) from None
        notices = direct_debit_notices_send(today=day)
        for notice in notices:
            self.stdout.write(
                _("%(invoice)s: %(amount)s EUR on %(date)s")
                % {
                    "invoice": notice.invoice.number,
                    "amount": notice.amount,
                    "date": notice.collection_date,
                }
            )
        self.stdout.write(_("%(count)d pre-notifications sent.") % {"count": len(notices)})
