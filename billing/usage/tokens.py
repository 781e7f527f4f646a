"""API tokens: each integration (the source of chat events) calls the API with its own secret.

Only the SHA-256 of a token is stored (a token is 256 random bits: a fast hash is enough); the
token itself is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from billing.models import ApiToken

PREFIX = "cp_"
_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most once a minute


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, source: str, user=None) -> tuple[ApiToken, str]:
    """A new token for `source`: (the stored token, the secret to hand over once)."""
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(source=source, prefix=raw[:10], key_hash=_digest(raw), created_by=user)
    token.full_clean(exclude=["key_hash"])
    token.save()
    return token, raw


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The token's row if `raw` is a valid token that was not revoked, else None."""
    if not raw or not raw.startswith(PREFIX) or len(raw) > 100:
        return None
    token = ApiToken.objects.filter(key_hash=_digest(raw), revoked_at__isnull=True).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_token_revoke(*, tokens) -> int:
    """Revoke tokens (kept for the record): they no longer authenticate. Returns how many."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
