"""The staff's side of billing (the Django admin): a module per area, CustomerAdmin composed here.
May import services (usage, catalog, invoicing, payments, accounting), models and the pure core;
nothing imports it."""

from billing.admin import (  # noqa: F401  (registers the ModelAdmins)
    accounts,
    customers,
    dashboard,
    events,
    heartbeat,
    invoices,
    payments,
    plans,
    tariffs,
    tokens,
)
