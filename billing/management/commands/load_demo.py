from django.core.management.base import BaseCommand
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.management.demo import load_demo
from config.mail import mail_folder


def _count(value: int) -> str:
    return number_format(value, force_grouping=True)


class Command(BaseCommand):
    help = (
        "Load demo dealers, subscriptions and chats up to now, and invoice the past months "
        "(safe to run again)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="where the site is served (make run passes http://HOST:PORT)",
        )

    def handle(self, *args, url, **options):
        self.stdout.write(
            _("Loading the demo (the first time: six months of chats and invoices, a minute)…")
        )
        result = load_demo()
        base = url.rstrip("/")
        staff_user, staff_password = result["staff"]
        login = _("login %(user)s  password %(password)s")
        dealers = ngettext("%(count)s dealer", "%(count)s dealers", result["customers"]) % {
            "count": _count(result["customers"])
        }
        events = ngettext(
            "%(count)s new chat event", "%(count)s new chat events", result["new_events"]
        ) % {"count": _count(result["new_events"])}
        invoices = ngettext(
            "%(count)s invoice or credit note issued",
            "%(count)s invoices and credit notes issued",
            result["new_invoices"],
        ) % {"count": _count(result["new_invoices"])}
        self.stdout.write(
            _("Demo data: %(dealers)s, %(events)s, %(invoices)s.")
            % {"dealers": dealers, "events": events, "invoices": invoices}
        )
        if result["new_invoices"] and mail_folder():
            self.stdout.write(
                _("Their e-mails are written to %(path)s (development).") % {"path": mail_folder()}
            )
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(_("  Dealer portal:  %(url)s") % {"url": f"{base}/"}))
        for (user, password), code in result["dealers"]:
            self.stdout.write(
                _("    Dealer %(code)s:") % {"code": code}
                + "  "
                + login % {"user": user, "password": password}
            )
        self.stdout.write(
            self.style.SUCCESS(_("  Admin (staff):  %(url)s") % {"url": f"{base}/admin/"})
        )
        self.stdout.write("    " + login % {"user": staff_user, "password": staff_password})
        self.stdout.write("")
