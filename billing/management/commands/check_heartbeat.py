from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from billing.usage.heartbeat import heartbeat_check


class Command(BaseCommand):
    help = (
        "Check that every source of chat events is still sending: e-mail staff once per source "
        "silent for longer than HEARTBEAT_SILENCE_MINUTES of business time (run it every few "
        "minutes)."
    )

    def handle(self, *args, **options):
        report = heartbeat_check()
        for source in report.ended:
            self.stdout.write(_("%(source)s sends again.") % {"source": source})
        for source in report.silent:
            line = _("%(source)s is silent.") % {"source": source}
            if source in report.alerted:
                line += " " + _("Staff e-mailed.")
            self.stdout.write(line)
        if not report.silent:
            self.stdout.write(_("Every source is sending."))
