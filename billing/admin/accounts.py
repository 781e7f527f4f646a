"""Login lock-outs: django-axes' own admin, its clean-up action asking for a permission."""

from axes import admin as axes_admin
from axes.models import AccessAttempt
from django.contrib import admin


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """django-axes' admin, whose clean-up action deletes attempts without asking for any
    permission: here it needs the permission to delete them, like every action of the admin."""

    @admin.action(
        description=axes_admin.AccessAttemptAdmin.cleanup_expired_attempts.short_description,
        permissions=["delete"],
    )
    def cleanup_expired_attempts(self, request, queryset):
        # Axes reads the time of the login attempt being handled, which an admin request is
        # not: without it the action fails. "Now" is the moment expiry is measured from.
        if getattr(request, "axes_attempt_time", None) is None:
            request.axes_attempt_time = None
        return super().cleanup_expired_attempts(request, queryset)


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, AccessAttemptAdmin)
