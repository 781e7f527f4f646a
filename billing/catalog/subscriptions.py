"""A customer's subscriptions as a set (billing rule 6): months already passed stay billed as
they were, no two subscriptions share a month, and changes are saved in an order the database
accepts row by row (it refuses an overlap as each row is written: migration 0003).

Rows alone (a plan starts on the 1st, custom terms all or none…) are the model's `clean()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.db import transaction
from django.utils.translation import gettext as _

from billing.errors import (
    PastMonthChanged,
    SubscriptionError,
    SubscriptionsExchangeMonths,
    SubscriptionsOverlap,
    SubscriptionsRefused,
)
from billing.models import Subscription
from billing.months import Month, current_month
from customers.models import Customer

Period = tuple[date, date | None]  # (first month, last month or None: until further notice)

# What bills a month: fixed once the month has passed.
_FIXED = (
    "plan_id",
    "first_month",
    "custom_monthly_fee",
    "custom_included_points",
    "custom_price_per_extra_point",
)


def _period(subscription: Subscription) -> Period:
    return (subscription.first_month, subscription.last_month)


def _overlap(a: Period, b: Period) -> bool:
    """Two periods share a month; a last month of None runs "until further notice"."""
    return (b[1] is None or a[0] <= b[1]) and (a[1] is None or b[0] <= a[1])


def subscription_check_change(
    *, subscription: Subscription, stored: Subscription, month: Month | None = None
) -> list[PastMonthChanged]:
    """What a change of a stored subscription would change in a month already passed (before
    `month`, this month unless given): a subscription in force before this month keeps its plan,
    first month and terms, and its last month moves only within this month and later. A change
    of plan ends it and starts a new subscription. Returns the refusals (empty: allowed)."""
    this_month = (month or current_month()).first_day
    errors = []
    if stored.first_month < this_month and any(
        getattr(stored, name) != getattr(subscription, name) for name in _FIXED
    ):
        errors.append(
            PastMonthChanged(
                _(
                    "This subscription is in force since %(month)s: its plan, first month and "
                    "terms are fixed for the months already passed. End it and add a new "
                    "subscription."
                )
                % {"month": Month.of(stored.first_month)},
                subscription=subscription,
                field="plan",
            )
        )
    if stored.last_month != subscription.last_month:
        past = [
            value
            for value in (stored.last_month, subscription.last_month)
            if value is not None and value < this_month
        ]
        if past:  # one message for the field: the new end if it is past, else the stored one
            errors.append(
                PastMonthChanged(
                    _(
                        "%(value)s is a past month: a subscription's end moves only within "
                        "this month and later."
                    )
                    % {"value": Month.of(past[-1])},
                    subscription=subscription,
                    field="last_month",
                )
            )
    return errors


def _stored(customer: Customer) -> dict[int, Subscription]:
    if customer.pk is None:  # a customer being added has no subscription yet
        return {}
    return {s.pk: s for s in Subscription.objects.filter(customer=customer)}


def _find_save_order(
    changes: list[Subscription], current: dict[int, Period | None]
) -> list[Subscription]:
    """Greedy: save next a row whose new period overlaps no other row as it stands.

    `current`: every row's period as stored, keyed by id() (None: not stored yet)."""
    current = dict(current)
    pending = [s for s in changes if current[id(s)] != _period(s)]
    order = []
    while pending:
        for index, subscription in enumerate(pending):
            period = _period(subscription)
            others = (p for key, p in current.items() if key != id(subscription) and p)
            if not any(_overlap(period, other) for other in others):
                order.append(subscription)
                current[id(subscription)] = period
                del pending[index]
                break
        else:
            raise SubscriptionsExchangeMonths(
                _(
                    "These changes exchange months between subscriptions: save them in two "
                    "steps (first shorten, then extend)."
                )
            )
    return order


def subscriptions_check(
    *,
    customer: Customer,
    subscriptions: Sequence[Subscription],
    past_months: Sequence[Subscription] | None = None,
    month: Month | None = None,
) -> list[Subscription]:
    """Check a customer's subscriptions as they are to be saved; return the ones whose months
    change, in an order of saving in which no row ever overlaps another.

    `subscriptions`: the new and changed rows (each row valid alone: `full_clean()`); the
    customer's stored subscriptions not among them stay as they are. `past_months`: the rows
    whose change is checked against the months already passed (default: all of them; a caller
    that already refuses a row for another reason leaves it out). Raises SubscriptionsRefused
    with every refusal found (each a SubscriptionError saying which row and field)."""
    stored = _stored(customer)
    given = {s.pk for s in subscriptions if s.pk is not None}
    if not given <= stored.keys():
        raise ValueError("a subscription of another customer")
    errors: list[SubscriptionError] = []
    for subscription in subscriptions if past_months is None else past_months:
        if subscription.pk is not None:
            errors += subscription_check_change(
                subscription=subscription, stored=stored[subscription.pk], month=month
            )
    rows = [*subscriptions, *(s for pk, s in stored.items() if pk not in given)]
    for index, subscription in enumerate(rows):
        for other in rows[index + 1 :]:
            if _overlap(_period(subscription), _period(other)):
                errors.append(
                    SubscriptionsOverlap(
                        _(
                            "Two subscriptions overlap (from %(a)s and from %(b)s): one "
                            "customer has one plan in force in a month."
                        )
                        % {
                            "a": Month.of(subscription.first_month),
                            "b": Month.of(other.first_month),
                        }
                    )
                )
                raise SubscriptionsRefused(errors)
    current = {id(s): _period(stored[s.pk]) if s.pk else None for s in subscriptions}
    current |= {id(s): _period(s) for pk, s in stored.items() if pk not in given}
    try:
        order = _find_save_order(list(subscriptions), current)
    except SubscriptionsExchangeMonths as error:
        errors.append(error)
    if errors:
        raise SubscriptionsRefused(errors)
    return order


def subscriptions_save(
    *, customer: Customer, subscriptions: Sequence[Subscription], month: Month | None = None
) -> list[Subscription]:
    """Save a customer's new and changed subscriptions, checked as a set (subscriptions_check),
    in an order the database accepts; returns them as saved. Raises SubscriptionsRefused."""
    with transaction.atomic():
        order = subscriptions_check(customer=customer, subscriptions=subscriptions, month=month)
        rest = [s for s in subscriptions if all(s is not o for o in order)]
        for subscription in [*order, *rest]:
            subscription.full_clean()
            subscription.save()
    return [*order, *rest]
