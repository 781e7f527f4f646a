"""What is still due on invoices (selectors, set-based)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import DecimalField, F, Sum, Value
from django.db.models.functions import Coalesce

from billing.models import Invoice


def with_balance(queryset):
    """Annotate `paid` (sum of the payments) and `balance` (total less paid) on invoices."""
    return queryset.annotate(
        paid=Coalesce(
            Sum("payments__amount"),
            Value(Decimal("0.00")),
            output_field=DecimalField(max_digits=12, decimal_places=2),
        )
    ).annotate(balance=F("total") - F("paid"))


def invoice_balances(*, invoice_ids) -> dict[int, Decimal]:
    """Amount still due per invoice: its total less the payments recorded on it (negative for
    an overpayment). One query."""
    rows = with_balance(Invoice.objects.filter(pk__in=list(invoice_ids))).values("pk", "balance")
    return {row["pk"]: Decimal(row["balance"]).quantize(Decimal("0.01")) for row in rows}
