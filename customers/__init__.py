"""The dealers: Customer (legal and billing details) and which users may see which customer.
May import billing's pure core (vat), nothing of billing's models, services, admin or portal."""
