"""Who is knocking: the client address that login lock-outs count against.

`REMOTE_ADDR` unless the site runs behind its own reverse proxies (`TRUSTED_PROXY_COUNT`, e.g. 1
behind one nginx): then the address the nearest of them appended to `X-Forwarded-For`, counted
from the right. Whatever a client writes into that header itself is further left and never read,
so a forged header cannot dodge a lock-out nor pin it on someone else.
"""

from django.conf import settings


def client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]


def forget_failed_logins(sender, request, user, **kwargs):
    """After a successful login, forget the failed attempts on that user name only.

    (django-axes' AXES_RESET_ON_SUCCESS forgets every failure from the address: logging into
    one's own account between guesses would then let anyone guess another's password forever.)
    """
    from axes.utils import reset

    reset(username=user.get_username())
