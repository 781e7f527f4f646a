from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from billing.demo import load_demo


class Command(BaseCommand):
    help = "Load demo dealers, subscriptions and chats up to now (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="where the portal is served"
        )

    def handle(self, *args, url, **options):
        result = load_demo()
        staff_user, staff_password = result["staff"]
        login = _("login %(user)s  password %(password)s")
        self.stdout.write(
            _("Demo data: %(customers)s dealers, %(events)s new chat events.")
            % {"customers": result["customers"], "events": result["new_events"]}
        )
        self.stdout.write("")
        self.stdout.write(_("  Admin (staff):  %(url)s") % {"url": f"{url.rstrip('/')}/admin/"})
        self.stdout.write("    " + login % {"user": staff_user, "password": staff_password})
        for (user, password), code in result["dealers"]:
            self.stdout.write(
                _("  Dealer %(code)s:") % {"code": code}
                + "  "
                + login % {"user": user, "password": password}
            )
        self.stdout.write(
            _("  (dealer logins are for the dealer portal; staff see every dealer in the admin)")
        )
        self.stdout.write("")
