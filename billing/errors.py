"""Domain errors: every refusal of the billing code is a BillingError with a message for people."""


class BillingError(Exception):
    """A billing rule refused something; `str(error)` is the message to show (translated)."""


class InvalidMonth(BillingError):
    pass


class NoPlanInForce(BillingError):
    pass


class TariffNotOffered(BillingError):
    pass


class UnknownTariff(BillingError):
    pass


class InvalidTariffChange(BillingError):
    pass


class SubscriptionError(BillingError):
    """One refusal of a change to a customer's subscriptions: `subscription` is the row it is
    about (None: the set as a whole), `field` the field that holds the refused value (or None)."""

    def __init__(self, message: str, *, subscription: object = None, field: str | None = None):
        super().__init__(message)
        self.subscription = subscription
        self.field = field


class PastMonthChanged(SubscriptionError):
    """A change that would bill a month already passed differently."""


class SubscriptionsOverlap(SubscriptionError):
    """Two subscriptions of one customer in force in the same month."""


class SubscriptionsExchangeMonths(SubscriptionError):
    """No order of saving keeps every row clear of the others: it takes two saves."""


class SubscriptionsRefused(BillingError):
    """Every refusal found in one set of changes (`errors`), so that all are shown at once."""

    def __init__(self, errors: list[SubscriptionError]):
        super().__init__(" ".join(str(error) for error in errors))
        self.errors = errors
