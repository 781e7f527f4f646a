"""Billing, along the path of a chat to a paid invoice: the pure core (pricing, months, vat,
formats, errors) and the models at the root; usage, catalog, invoicing (services); portal and admin
(edges). Lower layers never import higher ones (tool.importlinter in pyproject.toml)."""
