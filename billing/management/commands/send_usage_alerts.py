from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from billing.usage.alerts import usage_alerts_send


class Command(BaseCommand):
    help = (
        "The hourly job (also run by Celery beat): e-mail the usage alerts of the thresholds "
        "reached this month (USAGE_ALERT_THRESHOLDS). For those who prefer cron."
    )

    def handle(self, *args, **options):
        count = usage_alerts_send()
        self.stdout.write(_("%(count)d usage alerts e-mailed.") % {"count": count})
