"""The daily job: e-mail the reminders of overdue invoices."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from billing.payments.reminders import reminders_send


class Command(BaseCommand):
    help = "E-mail the payment reminders of overdue invoices (daily)."

    def add_arguments(self, parser):
        parser.add_argument("--today", help="YYYY-MM-DD (default: today)")

    def handle(self, *args, today=None, **options):
        try:
            day = date.fromisoformat(today) if today else None
        except ValueError:
            raise CommandError(
                _("--today %(value)s is not a date: YYYY-MM-DD.") % {"value": today}
            ) from None
        reminders = reminders_send(today=day)
        for reminder in reminders:
            self.stdout.write(
                _("%(invoice)s: reminder at %(step)d days, %(amount)s EUR due")
                % {
                    "invoice": reminder.invoice.number,
                    "step": reminder.step,
                    "amount": reminder.amount_due,
                }
            )
        self.stdout.write(_("%(count)d reminders sent.") % {"count": len(reminders)})
