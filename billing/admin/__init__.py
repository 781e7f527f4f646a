"""The staff's side of billing (the Django admin), one module per area.

May import services (usage, invoicing, catalog), models and the pure core; nothing imports it.
"""

from billing.admin import (  # noqa: F401  (registers the ModelAdmins)
    customers,
    events,
    invoices,
    payments,
    plans,
)
