"""Password reset e-mails through a task: the request answers at once whether the address has
an account or not (its time no longer tells), a worker looks the address up and sends."""

from __future__ import annotations

from django.contrib.auth.forms import PasswordResetForm as DjangoPasswordResetForm
from django.utils import translation


class PasswordResetForm(DjangoPasswordResetForm):
    def save(self, *, request=None, use_https=False, **options):
        from config.celery import app

        app.tasks["accounts.password_reset_send"].apply_async(
            kwargs={
                "email": self.cleaned_data["email"],
                "domain": request.get_host() if request is not None else "",
                "use_https": use_https,
                "language": translation.get_language() or "fr",
                "subject_template_name": options.get(
                    "subject_template_name", "registration/password_reset_subject.txt"
                ),
                "email_template_name": options.get(
                    "email_template_name", "registration/password_reset_email.html"
                ),
            }
        )


def password_reset_send(
    *,
    email: str,
    domain: str,
    use_https: bool,
    language: str,
    subject_template_name: str,
    email_template_name: str,
) -> None:
    """What Django's form does on save, in the worker: a link to each active account of
    `email`, in the language the dealer asked in; nothing for an unknown address."""
    form = DjangoPasswordResetForm(data={"email": email})
    if not form.is_valid():
        return
    with translation.override(language):
        form.save(
            domain_override=domain or None,
            use_https=use_https,
            subject_template_name=subject_template_name,
            email_template_name=email_template_name,
        )
