"""Getting paid: payment methods and SEPA mandates (methods), direct debits (debits), bank
statements and reconciliation (statements), reminders (reminders). Services: keyword-only,
writes in transaction.atomic; they use billing.models and customers.models."""
