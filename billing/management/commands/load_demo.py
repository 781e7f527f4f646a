from django.core.management.base import BaseCommand

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
        self.stdout.write(
            f"Demo data: {result['customers']} dealers, {result['new_events']} new chat events."
        )
        self.stdout.write("")
        self.stdout.write(f"  Admin (staff):  {url.rstrip('/')}/admin/")
        self.stdout.write(f"    login {staff_user}  password {staff_password}")
        for (user, password), code in result["dealers"]:
            self.stdout.write(f"  Dealer {code}:  login {user}  password {password}")
        self.stdout.write(
            "  (dealer logins are for the dealer portal; staff see every dealer in the admin)"
        )
        self.stdout.write("")
