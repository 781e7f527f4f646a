from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from billing.invoicing.month_close import month_close_scheduled


class Command(BaseCommand):
    help = (
        "The job of the 1st (also run by Celery beat): create the drafts of the month that ended; "
        "issue them too when MONTH_CLOSE_AUTO_ISSUE is on. For those who prefer cron."
    )

    def handle(self, *args, **options):
        report, run = month_close_scheduled()
        self.stdout.write(
            _("%(month)s: %(created)d drafts created, %(refreshed)d refreshed.")
            % {"month": report.month, "created": report.created, "refreshed": report.refreshed}
        )
        if run is not None:
            self.stdout.write(_("Month close run %(run)d issues them.") % {"run": run.pk})
