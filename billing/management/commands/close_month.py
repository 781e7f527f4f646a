from django.core.management.base import BaseCommand, CommandError
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from billing.errors import BillingError
from billing.invoicing import invoices_draft, invoices_issue_month
from billing.months import Month
from billing.templatetags.money import format_money


class Command(BaseCommand):
    help = (
        "Create or refresh the draft invoices of a month (every customer with a plan in force), "
        "report what needs attention, and with --issue issue them."
    )

    def add_arguments(self, parser):
        parser.add_argument("month", help="billing month, YYYY-MM")
        parser.add_argument("--issue", action="store_true", help="issue the month's drafts")

    def handle(self, *args, month, issue, **options):
        try:
            parsed = Month.parse(month)
            report = invoices_draft(month=parsed)
        except BillingError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            _("%(month)s: %(created)d drafts created, %(refreshed)d refreshed.")
            % {"month": parsed, "created": report.created, "refreshed": report.refreshed}
        )
        for invoice in sorted(report.drafts, key=lambda i: i.customer.code):
            self.stdout.write(
                f"  {invoice.customer.code:<24} {invoice.plan_name:<14} "
                f"{number_format(invoice.points_used, force_grouping=True):>9} pts  "
                f"{format_money(invoice.net_total):>14}  "
                f"{format_money(invoice.total):>14}"
            )
        if report.attention.issued:
            self.stdout.write(
                _("Already issued: %(customers)s.")
                % {"customers": ", ".join(report.attention.issued)}
            )
        for warning in report.attention.messages():
            self.stderr.write(_("Attention: %(warning)s") % {"warning": warning})
        if not issue:
            return
        try:
            issued, refused = invoices_issue_month(month=parsed)
        except BillingError as error:
            raise CommandError(str(error)) from None
        for invoice in issued:
            self.stdout.write(
                _("Issued %(number)s to %(customer)s: %(total)s.")
                % {
                    "number": invoice.number,
                    "customer": invoice.customer.code,
                    "total": format_money(invoice.total),
                }
            )
        for message in refused:
            self.stderr.write(_("Not issued: %(reason)s") % {"reason": message})
        if refused:
            raise CommandError(
                _("%(count)d drafts not issued (listed above).") % {"count": len(refused)},
                returncode=1,
            )
