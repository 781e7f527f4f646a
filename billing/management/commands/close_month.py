import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.errors import BillingError
from billing.formats import format_money
from billing.invoicing.drafts import invoices_draft
from billing.invoicing.month_close import month_close_progress, month_close_start
from billing.models import EmailStatus, Invoice, ItemState, MonthCloseRun
from billing.months import Month
from config.mail import mail_folder


class Command(BaseCommand):
    help = (
        "Create or refresh the draft invoices of a month (every customer with a plan in force), "
        "report what needs attention, and with --issue issue them (one task per draft: with a "
        "broker the workers issue them while a progress bar waits; --no-wait returns at once)."
    )
    poll_seconds = 1.0

    def add_arguments(self, parser):
        parser.add_argument("month", help="billing month, YYYY-MM")
        parser.add_argument("--issue", action="store_true", help="issue the month's drafts")
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="with --issue: return once the tasks are sent (the admin's month close page "
            "shows the progress)",
        )

    def handle(self, *args, month, issue, no_wait, **options):
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
        warnings = report.attention.messages()
        for warning in warnings:
            self.stderr.write(_("Attention: %(warning)s") % {"warning": warning})
        if not issue:
            self._summary(
                parsed,
                [
                    self.style.SUCCESS(
                        ngettext(
                            "%(count)d draft ready to issue (close_month %(month)s --issue).",
                            "%(count)d drafts ready to issue (close_month %(month)s --issue).",
                            len(report.drafts),
                        )
                        % {"count": len(report.drafts), "month": parsed}
                    ),
                    *self._attention(warnings),
                ],
            )
            return
        run = month_close_start(month=parsed)
        if no_wait:
            progress = month_close_progress(run=run)
            self.stdout.write(
                _(
                    "Month close run %(run)d: %(count)d drafts sent to the workers; the admin's "
                    "month close page shows the progress."
                )
                % {"run": run.pk, "count": progress.total}
            )
            return
        self._wait(run)
        items = list(run.items.select_related("customer").order_by("customer__code"))
        issued = list(
            Invoice.objects.filter(
                pk__in=[item.invoice_id for item in items if item.state == ItemState.ISSUED]
            )
            .select_related("customer")
            .defer("pdf")
            .order_by("series", "year", "sequence")
        )
        refused = [item.reason for item in items if item.state == ItemState.FAILED]
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
        self._summary(parsed, self._issue_lines(issued, refused) + self._attention(warnings))
        if refused:
            raise CommandError(
                _("%(count)d drafts not issued (listed above).") % {"count": len(refused)},
                returncode=1,
            )

    def _wait(self, run: MonthCloseRun) -> None:
        """A progress bar until no item waits (at once without a broker: the tasks ran)."""
        shown = None
        while True:
            progress = month_close_progress(run=run)
            state = (progress.issued, progress.failed)
            if state != shown:
                self._bar(progress, final=progress.done)
                shown = state
            if progress.done:
                return
            time.sleep(self.poll_seconds)

    def _bar(self, progress, *, final: bool) -> None:
        width = 30
        done = progress.issued + progress.failed
        filled = width * done // progress.total if progress.total else width
        line = "[{}{}] {}".format(
            "#" * filled,
            "." * (width - filled),
            _("%(done)d/%(total)d: %(issued)d issued, %(failed)d failed, %(waiting)d waiting")
            % {
                "done": done,
                "total": progress.total,
                "issued": progress.issued,
                "failed": progress.failed,
                "waiting": progress.waiting,
            },
        )
        if sys.stdout.isatty() and self.stdout._out is sys.stdout:
            self.stdout.write("\r" + line, ending="\n" if final else "")
            self.stdout.flush()
        else:
            self.stdout.write(line)

    def _summary(self, month: Month, lines: list[str]) -> None:
        """The command's result, last and set apart from everything printed before it."""
        title = _("Month close: %(month)s") % {"month": month}
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(f"== {title} =="))
        for line in lines:
            self.stdout.write(f"  {line}")

    def _attention(self, warnings: list[str]) -> list[str]:
        if not warnings:
            return []
        return [
            self.style.WARNING(
                ngettext(
                    "%(count)d point needs attention (listed above).",
                    "%(count)d points need attention (listed above).",
                    len(warnings),
                )
                % {"count": len(warnings)}
            )
        ]

    def _issue_lines(self, issued: list[Invoice], refused: list[str]) -> list[str]:
        lines = []
        if issued:
            lines.append(
                self.style.SUCCESS(
                    ngettext(
                        "%(count)d invoice issued: %(first)s.",
                        "%(count)d invoices issued: %(first)s to %(last)s.",
                        len(issued),
                    )
                    % {"count": len(issued), "first": issued[0].number, "last": issued[-1].number}
                )
            )
        else:
            lines.append(_("No invoice issued."))
        if refused:
            lines.append(
                self.style.ERROR(
                    ngettext(
                        "%(count)d draft not issued (listed above).",
                        "%(count)d drafts not issued (listed above).",
                        len(refused),
                    )
                    % {"count": len(refused)}
                )
            )
        # Issuing e-mails each invoice once it is committed: without a broker they are sent or
        # failed by now; with one, the workers may still be sending.
        statuses = [
            status
            for (status,) in Invoice.objects.filter(pk__in=[i.pk for i in issued]).values_list(
                "email_status"
            )
        ]
        sent = statuses.count(EmailStatus.SENT)
        failed = statuses.count(EmailStatus.FAILED)
        waiting = statuses.count(EmailStatus.NOT_SENT)
        if sent:
            lines.append(
                self.style.SUCCESS(
                    ngettext("%(count)d e-mail sent.", "%(count)d e-mails sent.", sent)
                    % {"count": sent}
                )
            )
            if mail_folder():
                lines.append(
                    _("Development: e-mails are written to %(path)s, one file each.")
                    % {"path": mail_folder()}
                )
        if waiting:
            lines.append(
                ngettext(
                    "%(count)d e-mail waiting for a worker.",
                    "%(count)d e-mails waiting for a worker.",
                    waiting,
                )
                % {"count": waiting}
            )
        if failed:
            lines.append(
                self.style.ERROR(
                    ngettext(
                        "%(count)d e-mail not sent: see the invoice in the admin and send it "
                        "again from there.",
                        "%(count)d e-mails not sent: see the invoices in the admin and send them "
                        "again from there.",
                        failed,
                    )
                    % {"count": failed}
                )
            )
        return lines
