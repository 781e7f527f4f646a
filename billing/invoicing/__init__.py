"""Invoicing (services): month close (drafts), issue, credit notes, content, PDF, e-mail.
May import billing.usage's selectors, billing.catalog, billing.models and the pure core."""
