"""The accountant's exports: the FEC (fec: the sales and bank journals of a period, article A47
A-1 LPF) and a plain CSV of a period's invoices and credit notes (invoices_csv). Services that
only read: they may import billing.models, customers.models, the pure core and the services below
them (payments, invoicing); the edges (admin, commands) call them."""
