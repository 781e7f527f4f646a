"""Getting paid: payment methods and SEPA mandates (methods), direct debits (debits), bank
files read (bank_files), reconciliation (statements), reminders (reminders). Services: they may
import billing.models, customers.models, other services (invoicing) and the pure core."""
