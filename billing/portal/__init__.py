"""The dealer's pages: views, URLs, the report's selectors (report, chats) and chart, invoices.
May import the services (usage, catalog, invoicing), billing.models and the pure core."""
