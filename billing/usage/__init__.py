"""Usage (services): how chats come in (validate, store, API, CSV import), the usage summary and
the month's selectors. May import billing.catalog's tariffs, billing.models and the pure core."""
