from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from billing.errors import InvalidMonth
from billing.months import Month, current_month

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "", "nov"])
def test_bad_months_are_refused_naming_the_value(text):
    with pytest.raises(InvalidMonth, match="expected YYYY-MM"):
        Month.parse(text)


def test_parse_next_previous():
    month = Month.parse("2026-12")
    assert (month.year, month.month, str(month)) == (2026, 12, "2026-12")
    assert month.next() == Month(2027, 1)
    assert Month(2027, 1).previous() == month
    assert Month(2026, 5).next().previous() == Month(2026, 5)
    assert month.first_day == date(2026, 12, 1)


def test_bounds_are_local_midnights():
    start, end = Month(2026, 11).bounds(PARIS)
    assert start.astimezone(UTC) == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    # October holds the change back to winter time: 31 days and one hour.
    start, end = Month(2026, 10).bounds(PARIS)
    assert (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() == (31 * 24 + 1) * 3600


def test_containing_and_current_month():
    assert Month.containing(datetime(2026, 10, 31, 23, 30, tzinfo=UTC), PARIS) == Month(2026, 11)
    assert Month.containing(datetime(2026, 10, 31, 22, 59, tzinfo=UTC), PARIS) == Month(2026, 10)
    assert current_month(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == Month(2027, 1)
