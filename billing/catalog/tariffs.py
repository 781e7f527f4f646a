"""Tariffs in force on a day, and changes to them (billing rule 3: never retroactive)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.errors import InvalidTariffChange, TariffNotOffered, UnknownTariff
from billing.models import Actor, Tariff, TariffRate, Unit
from billing.months import today as billing_today

# A chat's time comes from the sender's clock: up to a few minutes ahead of ours is accepted
# (billing.usage.store). So "today", for a tariff change, is the day of that moment: a change that a
# chat may already have been priced with is never replaced nor backdated.
FUTURE_TOLERANCE = timedelta(minutes=5)


def change_day(now: datetime | None = None) -> date:
    """The last day whose prices are settled: the billing day of now + FUTURE_TOLERANCE."""
    return billing_today((now or timezone.now()) + FUTURE_TOLERANCE)


_ACTORS = frozenset(Actor.values)  # Actor.values builds a new list at each call


def _not_offered(tariff_code: str, actor: str) -> TariffNotOffered:
    return TariffNotOffered(
        _("%(tariff)s is not offered for %(actor)s") % {"tariff": tariff_code, "actor": actor}
    )


def _check_actor(actor: str) -> None:
    if actor not in _ACTORS:
        raise TariffNotOffered(
            _("%(value)r is not an actor: use one of %(choices)s.")
            % {"value": actor, "choices": ", ".join(Actor.values)}
        )


def tariffs_by_id() -> dict[int, Tariff]:
    """The tariff table (a few dozen rows) by id, in one query: what turns the ids of a month's
    aggregate rows into codes, categories and units."""
    return {tariff.id: tariff for tariff in Tariff.objects.all()}


def per_contact_tariff_ids(*, tariffs: Mapping[int, Tariff] | None = None) -> frozenset[int]:
    """The ids of the tariffs charged per engaged contact and month (billing rule 2): among
    `tariffs` (tariffs_by_id()) when given, else read from the table (one query on ids)."""
    if tariffs is None:
        return frozenset(
            Tariff.objects.filter(unit=Unit.CONTACT_MONTH).values_list("id", flat=True)
        )
    return frozenset(pk for pk, tariff in tariffs.items() if tariff.unit == Unit.CONTACT_MONTH)


@dataclass(frozen=True)
class PricedTariff:
    tariff_id: int
    points: int


class TariffBook:
    """Every tariff and all its versions, loaded in two queries, to price many chats in memory."""

    def __init__(self):
        self._tariffs = {tariff.code: tariff for tariff in Tariff.objects.all()}
        # What callers remember of this book's prices (billing.usage.validate: per tariff, actor
        # and day): the book never changes, a new one is loaded when the tariffs do.
        self.memo: dict = {}
        self._rates: dict[int, tuple[list[date], list[TariffRate]]] = {}
        for rate in TariffRate.objects.filter(cancelled_at__isnull=True).order_by(
            "tariff_id", "effective_from", "id"
        ):
            days, rates = self._rates.setdefault(rate.tariff_id, ([], []))
            if days and days[-1] == rate.effective_from:
                rates[-1] = rate  # the later version of the same day wins
            else:
                days.append(rate.effective_from)
                rates.append(rate)

    def tariff(self, code: str) -> Tariff:
        try:
            return self._tariffs[code]
        except KeyError:
            raise UnknownTariff(_("%(value)r is not a known tariff.") % {"value": code}) from None

    def price(self, tariff_code: str, actor: str, day: date) -> PricedTariff:
        """The points a chat of this tariff and actor costs on `day`."""
        tariff = self.tariff(tariff_code)
        _check_actor(actor)
        days, rates = self._rates.get(tariff.id, ([], []))
        index = bisect.bisect_right(days, day) - 1
        if index < 0:
            raise TariffNotOffered(
                _("%(tariff)s had no points yet on %(day)s (they start on %(first)s)")
                % {
                    "tariff": tariff_code,
                    "day": day.isoformat(),
                    "first": days[0].isoformat() if days else "—",
                }
            )
        points = rates[index].points_for(actor)
        if points is None:
            raise _not_offered(tariff_code, actor)
        return PricedTariff(tariff.id, points)


# The book of the process, reused while the tariff tables are unchanged (PostgreSQL). The stamp
# is every row's id and xmin, the transaction that wrote it: any insert, update or delete of a
# tariff or a version changes it, and a change rolled back restores it (the book it names is then
# right again). Read before the book is loaded: a change committed in between only costs a reload.
_STAMP_SQL = """
SELECT md5(
    (SELECT coalesce(string_agg(id::text || ':' || xmin::text, ',' ORDER BY id), '')
     FROM {tariff})
    || '/' ||
    (SELECT coalesce(string_agg(id::text || ':' || xmin::text, ',' ORDER BY id), '')
     FROM {rate})
)
"""
_books: dict[str, tuple[str, TariffBook]] = {}  # per database alias: (stamp, book)


def tariff_book() -> TariffBook:
    """The tariffs as the database holds them now, to price chats: on PostgreSQL the process's
    book, checked with one small query and loaded again (two queries) only when a tariff or a
    version was written since; elsewhere a book loaded now. Read-only: never change it."""
    if connection.vendor != "postgresql":
        return TariffBook()
    with connection.cursor() as cursor:
        cursor.execute(
            _STAMP_SQL.format(tariff=Tariff._meta.db_table, rate=TariffRate._meta.db_table)
        )
        (stamp,) = cursor.fetchone()
    cached = _books.get(connection.alias)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    book = TariffBook()
    _books[connection.alias] = (stamp, book)
    return book


def check_tariff_change(*, tariff: Tariff, effective_from: date, today: date | None = None) -> None:
    """Refuse a change that would reprice chats already charged (InvalidTariffChange)."""
    today = today or change_day()
    if effective_from <= today:
        raise InvalidTariffChange(
            _(
                "effective from %(value)s: a tariff change takes effect after today (%(today)s), "
                "never retroactively."
            )
            % {"value": effective_from.isoformat(), "today": today.isoformat()}
        )
    if tariff.unit == Unit.CONTACT_MONTH and effective_from.day != 1:
        raise InvalidTariffChange(
            _(
                "effective from %(value)s: %(tariff)s is charged per contact per month, so its "
                "points change on the first day of a month."
            )
            % {"value": effective_from.isoformat(), "tariff": tariff.code}
        )


def tariff_change(
    *,
    tariff: Tariff,
    points_agent: int | None,
    points_bot: int | None,
    points_team: int | None,
    effective_from: date,
    user=None,
    today: date | None = None,
) -> TariffRate:
    """Schedule new points for `tariff` from `effective_from` on, keeping the history.

    Chats are priced when they are received, with the version in force on their day, so a change
    may only take effect after today: what was charged stays charged (rule 3). A change not yet
    in force is replaced by this one (kept in the history, marked cancelled). A tariff charged per
    engaged contact per month changes on the first day of a month, so one month's contacts all
    cost the same.
    """
    today = today or change_day()
    check_tariff_change(tariff=tariff, effective_from=effective_from, today=today)
    for actor, points in (("agent", points_agent), ("bot", points_bot), ("team", points_team)):
        if points is not None and points < 0:
            raise ValueError(f"points_{actor} cannot be negative: {points}")
    with transaction.atomic():
        locked = Tariff.objects.select_for_update().get(pk=tariff.pk)
        # At most one change waits to take effect: this one replaces it.
        TariffRate.objects.filter(
            tariff=locked, effective_from__gt=today, cancelled_at=None
        ).update(cancelled_at=timezone.now())
        rate = TariffRate.objects.create(
            tariff=locked,
            effective_from=effective_from,
            points_agent=points_agent,
            points_bot=points_bot,
            points_team=points_team,
            changed_by=user,
        )
        _sync_newest_version(locked)
    tariff.refresh_from_db()
    return rate


def tariff_create(*, tariff: Tariff, user=None) -> Tariff:
    """Add a tariff: its points become its first version, from its `effective_from` date."""
    with transaction.atomic():
        tariff.full_clean()
        tariff.save()
        TariffRate.objects.create(
            tariff=tariff,
            effective_from=tariff.effective_from,
            points_agent=tariff.points_agent,
            points_bot=tariff.points_bot,
            points_team=tariff.points_team,
            changed_by=user,
        )
    return tariff


def _sync_newest_version(tariff: Tariff) -> None:
    newest = (
        TariffRate.objects.filter(tariff=tariff, cancelled_at=None)
        .order_by("-effective_from", "-id")
        .first()
    )
    Tariff.objects.filter(pk=tariff.pk).update(
        points_agent=newest.points_agent,
        points_bot=newest.points_bot,
        points_team=newest.points_team,
        effective_from=newest.effective_from,
    )
