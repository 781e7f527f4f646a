from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from billing.invoicing.issue import invoices_retry_unsent


class Command(BaseCommand):
    help = (
        "The daily job (also run by Celery beat): render the PDFs still missing and e-mail again "
        "every invoice or credit note whose e-mail failed. For those who prefer cron."
    )

    def handle(self, *args, **options):
        rendered, resent = invoices_retry_unsent()
        self.stdout.write(
            _("%(rendered)d PDFs rendered, %(resent)d e-mails sent again.")
            % {"rendered": rendered, "resent": resent}
        )
