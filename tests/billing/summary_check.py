"""Shared by tests: the summary kept as chats arrive equals the one rebuilt from the chats."""

from billing.models import ContactMonth, UsageDay
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


def assert_summary_matches_the_chats():
    kept = summary_rows()
    summary_rebuild()
    assert summary_rows() == kept
