"""The ingestion heartbeat: is every source of chat events (an API token's source) still sending?

Per source: when its last chat arrived, the chats received in the last hour and day against the
same hour and day a week before. A source silent for longer than HEARTBEAT_SILENCE_MINUTES of
business time (settings: HEARTBEAT_BUSINESS_HOURS on HEARTBEAT_BUSINESS_DAYS, billing time zone)
is silent: red on the dashboard, and `heartbeat_check` (the command `check_heartbeat`, to run
every few minutes from the Celery schedule) e-mails staff once per silence, held by the
database: one open HeartbeatSilence per source (a unique constraint), its e-mail claimed by a
conditional UPDATE of `alerted_at`. The source is green again once it sends: the silence ends.

Reads: one query for every source (each figure an index range on (source, received_at)).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, DateTimeField, IntegerField, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import override

from billing.models import ApiToken, ChatEvent, HeartbeatSilence
from billing.months import billing_tz, business_seconds, parse_range

log = logging.getLogger(__name__)
HOUR, DAY, WEEK = timedelta(hours=1), timedelta(days=1), timedelta(days=7)


def business_hours() -> tuple[int, int]:
    return parse_range(settings.HEARTBEAT_BUSINESS_HOURS, low=0, high=24)


def business_days() -> frozenset[int]:
    first, last = parse_range(settings.HEARTBEAT_BUSINESS_DAYS, low=1, high=7)
    return frozenset(range(first, last + 1))


@dataclass(frozen=True)
class SourceBeat:
    source: str
    last_at: datetime | None  # the last chat's arrival (None: never sent one)
    since: datetime  # what silence is counted from: the last arrival, else the token's creation
    last_hour: int
    week_before_hour: int  # the same hour a week before
    last_day: int
    week_before_day: int
    silent_seconds: int  # of business time since `since`
    silent: bool


def _count(source, start, end):
    return Subquery(
        ChatEvent.objects.filter(source=source, received_at__gte=start, received_at__lt=end)
        .order_by()
        .values("source")
        .annotate(n=Count("pk"))
        .values("n"),
        output_field=IntegerField(),
    )


def heartbeat_sources(*, now: datetime | None = None) -> list[SourceBeat]:
    """Every source with an API token not revoked, its beat at `now`: one query."""
    now = now or timezone.now()
    source = OuterRef("source")
    last = Subquery(
        ChatEvent.objects.filter(source=source).order_by("-received_at").values("received_at")[:1],
        output_field=DateTimeField(),
    )
    rows = (
        ApiToken.objects.filter(revoked_at__isnull=True)
        .values("source")
        .annotate(created=Max("created_at"))
        .order_by("source")
        .annotate(
            last_at=last,
            last_hour=Coalesce(_count(source, now - HOUR, now), 0),
            week_before_hour=Coalesce(_count(source, now - WEEK - HOUR, now - WEEK), 0),
            last_day=Coalesce(_count(source, now - DAY, now), 0),
            week_before_day=Coalesce(_count(source, now - WEEK - DAY, now - WEEK), 0),
        )
    )
    allowed = settings.HEARTBEAT_SILENCE_MINUTES * 60
    hours, days, tz = business_hours(), business_days(), billing_tz()
    beats = []
    for row in rows:
        since = row["last_at"] or row["created"]
        seconds = business_seconds(since, now, tz=tz, hours=hours, days=days)
        beats.append(
            SourceBeat(
                source=row["source"],
                last_at=row["last_at"],
                since=since,
                last_hour=row["last_hour"],
                week_before_hour=row["week_before_hour"],
                last_day=row["last_day"],
                week_before_day=row["week_before_day"],
                silent_seconds=seconds,
                silent=seconds > allowed,
            )
        )
    return beats


@dataclass(frozen=True)
class HeartbeatReport:
    silent: list[str]  # the sources silent now
    alerted: list[str]  # those whose staff e-mail went in this check
    ended: list[str]  # the sources that sent again: their silence ended in this check


def heartbeat_check(*, now: datetime | None = None) -> HeartbeatReport:
    """Open a silence for each source silent now (at most one open per source), e-mail staff
    once per silence, end the silences of the sources that sent again. Safe to run concurrently:
    the unique constraint keeps one open silence, the conditional UPDATE one e-mail."""
    now = now or timezone.now()
    beats = heartbeat_sources(now=now)
    silent = [beat for beat in beats if beat.silent]
    sending = [beat.source for beat in beats if not beat.silent]
    ended = []
    if sending:
        open_ones = HeartbeatSilence.objects.filter(source__in=sending, ended_at__isnull=True)
        ended = sorted(set(open_ones.values_list("source", flat=True)))
        open_ones.update(ended_at=now)
    alerted = []
    for beat in silent:
        try:
            with transaction.atomic():
                HeartbeatSilence.objects.create(
                    source=beat.source, last_event_at=beat.last_at, noticed_at=now
                )
        except IntegrityError:
            pass  # its silence is open already (this check or another one opened it)
        claimed = HeartbeatSilence.objects.filter(
            source=beat.source, ended_at__isnull=True, alerted_at__isnull=True
        ).update(alerted_at=now)
        if not claimed:
            continue  # e-mailed already for this silence
        try:
            _email(beat)
        except Exception:
            # Not sent: released, so that the next check tries again.
            HeartbeatSilence.objects.filter(
                source=beat.source, ended_at__isnull=True, alerted_at=now
            ).update(alerted_at=None)
            log.exception("heartbeat: the e-mail about %s was not sent", beat.source)
            continue
        alerted.append(beat.source)
    return HeartbeatReport(silent=[b.source for b in silent], alerted=alerted, ended=ended)


def _email(beat: SourceBeat) -> None:
    with override(settings.LANGUAGE_CODE):
        when = (
            date_format(timezone.localtime(beat.last_at, billing_tz()), "DATETIME_FORMAT")
            if beat.last_at
            else _("never")
        )
        subject = _("Chatpoints: no chat received from %(source)s since %(when)s") % {
            "source": beat.source,
            "when": when,
        }
        body = _(
            "The source %(source)s has sent no chat event for %(minutes)d minutes of business "
            "time (last one received: %(when)s). Chats not received are not billed: check the "
            "chat platform's integration.\n\nThis e-mail is sent once; the dashboard shows the "
            "source in green again as soon as it sends."
        ) % {"source": beat.source, "minutes": beat.silent_seconds // 60, "when": when}
    send_mail(subject, body, None, settings.HEARTBEAT_EMAILS)
