from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "customers"
    verbose_name = _("Customers")

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from config.security import forget_failed_logins

        user_logged_in.connect(forget_failed_logins, dispatch_uid="forget_failed_logins")
