from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from billing.usage.tokens import api_token_create


class Command(BaseCommand):
    help = "Create an API token for an integration (the source of chat events); prints it once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the integration's name, e.g. chat-platform")

    def handle(self, *args, name, **options):
        try:
            token, raw = api_token_create(source=name)
        except ValidationError as error:
            messages = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            raise CommandError(f"{name!r}: {messages}") from None
        self.stderr.write(
            _("Token for %(source)s (shown once, only its hash is kept):")
            % {"source": token.source}
        )
        self.stdout.write(raw)
