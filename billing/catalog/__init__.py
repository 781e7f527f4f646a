"""The catalogue (services): the tariffs in force and their changes, plans and subscriptions.
May import billing.models and the pure core, no other service."""
