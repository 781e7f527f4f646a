from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "billing"
    verbose_name = _("Billing")

    def ready(self):
        # The tasks register with the Celery app (config/celery.py) as Django starts, so a
        # service can enqueue one by name in any process, eager or not.
        from billing import tasks  # noqa: F401
