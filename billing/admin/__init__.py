"""The staff's side of billing (the Django admin), one module per area.

May import services (usage, invoicing, catalog), models and the pure core; nothing imports it.
"""

from billing.admin import customers, events, invoices, plans  # noqa: F401  (registers the ModelAdmins)
