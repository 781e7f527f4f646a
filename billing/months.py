"""Billing months: small pure functions of calendar arithmetic.

Warning: a billing month is a calendar month *in the billing time zone* (billing rule 1), not in
UTC. A chat at 2026-10-31T23:30:00Z happened on 1 November in Paris and counts in November, so the
bounds of a month are local midnights converted to aware datetimes, and they are 23, 24 or 25 hours
away from the neighbouring day when daylight saving changes. Never compute a month with
`timedelta(days=30)` or by truncating a UTC timestamp.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from billing.errors import InvalidMonth

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
FIRST_YEAR, LAST_YEAR = 2000, 2999  # the years billing can be about


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self):
        if not 1 <= self.month <= 12:
            raise InvalidMonth(_("%(value)s is not a valid month.") % {"value": self})
        if not FIRST_YEAR <= self.year <= LAST_YEAR:
            raise InvalidMonth(
                _("%(value)s is outside the billing years %(first)s to %(last)s.")
                % {"value": self, "first": FIRST_YEAR, "last": LAST_YEAR}
            )

    @classmethod
    def parse(cls, value: str) -> Month:
        """Parse "YYYY-MM"; anything else raises InvalidMonth naming the value."""
        match = _MONTH_RE.match(value.strip()) if isinstance(value, str) else None
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise InvalidMonth(
                _("Invalid month %(value)r: expected YYYY-MM, for example 2026-11.")
                % {"value": value}
            )
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def containing(cls, moment: datetime, tz: tzinfo) -> Month:
        """The billing month an aware datetime falls in, seen from the billing time zone."""
        return cls.of(moment.astimezone(tz).date())

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def bounds(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes: local midnight of the 1st to that of the next 1st."""
        start = datetime(self.year, self.month, 1, tzinfo=tz)
        end = datetime(self.year + self.month // 12, self.month % 12 + 1, 1, tzinfo=tz)
        return start, end

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def billing_tz() -> ZoneInfo:
    from django.conf import settings

    return ZoneInfo(settings.BILLING_TIME_ZONE)


def current_month(now: datetime | None = None) -> Month:
    from django.utils import timezone

    return Month.containing(now or timezone.now(), billing_tz())


def today(now: datetime | None = None) -> date:
    from django.utils import timezone

    return (now or timezone.now()).astimezone(billing_tz()).date()


def business_seconds(
    start: datetime, end: datetime, *, tz: tzinfo, hours: tuple[int, int], days: frozenset[int]
) -> int:
    """Seconds of business time between two aware datetimes: local `hours` (from, to: 8, 20 is
    08:00 to 20:00) on ISO weekdays `days` (1 = Monday) in `tz`. Computed on local wall-clock
    times day by day, then converted: a day of a daylight-saving change counts its real length."""
    if end <= start:
        return 0
    opens, closes = hours
    total = 0
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    while day <= last:
        if day.isoweekday() in days:
            begin = datetime.combine(day, time(opens), tzinfo=tz)
            finish = datetime.combine(day, time(0), tzinfo=tz) + timedelta(hours=closes)
            low, high = max(begin, start), min(finish, end)
            if high > low:
                total += int((high - low).total_seconds())
        day += timedelta(days=1)
    return total


def parse_range(value: str, *, low: int, high: int) -> tuple[int, int]:
    """ "8-20" -> (8, 20), each within [low, high], from before to: a setting's range."""
    match = re.match(r"^\s*(\d+)\s*-\s*(\d+)\s*$", value or "")
    if not match:
        raise ValueError(f"{value!r} is not a range such as 8-20")
    first, second = int(match.group(1)), int(match.group(2))
    if not low <= first < second <= high:
        raise ValueError(f"{value!r}: expected {low} <= from < to <= {high}")
    return first, second
