"""Shared by tests: the summary kept as chats arrive equals the one rebuilt from the chats, and
its month totals (UsageMonth, kept by the database's triggers) equal its rows summed."""

from collections import defaultdict

from billing.catalog.tariffs import per_contact_tariff_ids
from billing.models import ContactMonth, UsageDay, UsageMonth
from billing.usage.summary import summary_rebuild


def summary_rows():
    days = sorted(
        UsageDay.objects.values_list("customer_id", "day", "tariff_id", "actor", "chats", "points")
    )
    contacts = sorted(
        ContactMonth.objects.values_list(
            "customer_id",
            "month",
            "tariff_id",
            "actor",
            "contact",
            "first_at",
            "first_day",
            "first_id",
            "points",
        )
    )
    return days, contacts


def usage_months():
    """UsageMonth as stored, and as summed here from UsageDay and ContactMonth: {(customer,
    month): (chats, points of the tariffs charged per chat, contact points)}."""
    stored = {
        (customer_id, month): (chats, points, contact_points)
        for customer_id, month, chats, points, contact_points in (
            UsageMonth.objects.values_list(
                "customer_id", "month", "chats", "points", "contact_points"
            )
        )
    }
    per_contact = per_contact_tariff_ids()
    sums = defaultdict(lambda: [0, 0, 0])
    for customer_id, day, tariff_id, chats, points in UsageDay.objects.values_list(
        "customer_id", "day", "tariff_id", "chats", "points"
    ):
        total = sums[(customer_id, day.replace(day=1))]
        total[0] += chats
        if tariff_id not in per_contact:
            total[1] += points
    for customer_id, month, points in ContactMonth.objects.values_list(
        "customer_id", "month", "points"
    ):
        sums[(customer_id, month)][2] += points
    return stored, {key: tuple(total) for key, total in sums.items()}


def assert_usage_month_matches_the_summary():
    """Equal, but for rows whose sums are all zero: an update that takes a row's numbers back
    to zero (a day moved to another month) leaves it, counting nothing; deletes remove them."""
    stored, summed = usage_months()
    assert {key: sums for key, sums in stored.items() if any(sums)} == summed


def assert_summary_matches_the_chats():
    assert_usage_month_matches_the_summary()
    kept = summary_rows()
    summary_rebuild()
    assert summary_rows() == kept
    assert_usage_month_matches_the_summary()
