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
