"""Month close, first step: a draft for every customer with a plan in force, created or refreshed
from the usage in a constant number of queries, and what needs attention before issuing."""

from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from billing.catalog.tariffs import tariffs_by_id
from billing.invoicing.content import _SUBSCRIPTION_FIELDS, InvoiceError, _fill
from billing.models import (
    ChatEvent,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
)
from billing.months import Month, billing_tz
from billing.pricing import price_month
from billing.usage.selectors import (
    events_late_pending,
    subscriptions_in_force,
    usage_from_rows,
    usage_rows_by_customer,
)
from customers.models import Customer


@dataclass
class Attention:
    """What staff should look at before issuing a month."""

    unbilled: dict[str, int] = field(default_factory=dict)  # customer code -> chats, no plan
    late: dict[str, int] = field(default_factory=dict)  # customer code -> late chats
    no_email: list[str] = field(default_factory=list)  # customer codes without billing e-mail
    issued: list[str] = field(default_factory=list)  # customers whose month is already issued

    def messages(self) -> list[str]:
        out = []
        for code, count in sorted(self.unbilled.items()):
            out.append(
                _("%(customer)s: %(count)d chats with no plan in force (unbilled).")
                % {"customer": code, "count": count}
            )
        for code, count in sorted(self.late.items()):
            out.append(
                _(
                    "%(customer)s: %(count)d late chats (received after the month was "
                    "invoiced): cancel the invoice with a credit note to bill them."
                )
                % {"customer": code, "count": count}
            )
        for code in sorted(self.no_email):
            out.append(
                _("%(customer)s: no billing e-mail address: the invoice cannot be sent.")
                % {"customer": code}
            )
        return out


@dataclass
class CloseReport:
    month: Month
    drafts: list[Invoice]
    created: int
    refreshed: int
    attention: Attention


# --- Content of an invoice ------------------------------------------------------------------------


def invoices_draft(*, month: Month) -> CloseReport:
    """Create or refresh the draft invoice of every customer with a plan in force in `month`.

    A constant number of queries whatever the number of customers: the subscriptions in force,
    the month's invoices, the tariffs, one aggregate of the month's chats for every customer,
    the attention counts, then bulk writes. Running it twice creates nothing twice.
    """
    with _cyclic_gc_paused():
        return _invoices_draft(month)


@contextmanager
def _cyclic_gc_paused():
    """Python's cyclic garbage collector paused while the month close builds its objects (5,000
    customers: some 92,000 aggregate rows and usage lines, 5,000 statements, 30,000 model
    instances, none of them in a reference cycle: reference counting frees them as always).
    Running, the collector walks everything alive again and again as they pile up: 20 to 40 % of
    the Python time of a month close (bench/close_month.py). Set back as it was afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _invoices_draft(month: Month) -> CloseReport:
    first = month.first_day
    subscriptions = list(
        subscriptions_in_force(month=month)
        .select_related("customer")
        .order_by("customer__code")
        .only(*_SUBSCRIPTION_FIELDS)  # what pricing and the draft read: no address, no notes
    )
    current = {  # customer id -> (invoice id, status): plain values, no model built
        customer_id: (pk, status)
        for customer_id, pk, status in Invoice.objects.filter(
            month=first,
            kind=InvoiceKind.INVOICE,
            status__in=[InvoiceStatus.DRAFT, InvoiceStatus.ISSUED],
        ).values_list("customer_id", "id", "status")
    }
    tariff_rows = tariffs_by_id()
    tariffs_by_code = {tariff.code: tariff for tariff in tariff_rows.values()}
    to_draft = [s for s in subscriptions if _status(current.get(s.customer_id)) != "issued"]
    rows_by_customer = (
        usage_rows_by_customer(
            month=month, customers=[s.customer_id for s in to_draft], tariffs=tariff_rows
        )
        if to_draft
        else {}
    )
    new, refreshed, lines = [], [], []
    descriptions: dict = {}
    # Terms and VAT are functions of a few fields: computed once per distinct value.
    terms_cache: dict[tuple, object] = {}
    vat_cache: dict[tuple, object] = {}
    for subscription in to_draft:
        customer = subscription.customer
        usage = usage_from_rows(rows_by_customer.get(customer.id, []), tariff_rows)
        terms_key = (
            subscription.plan_id,
            subscription.custom_monthly_fee,
            subscription.custom_included_points,
            subscription.custom_price_per_extra_point,
        )
        if terms_key not in terms_cache:
            terms_cache[terms_key] = subscription.terms()
        vat_key = (
            customer.country,
            customer.vat_number,
            customer.vat_treatment,
            customer.vat_rate,
        )
        if vat_key not in vat_cache:
            vat_cache[vat_key] = customer.vat_decision()
        statement = price_month(terms=terms_cache[terms_key], usage=usage, vat=vat_cache[vat_key])
        draft = current.get(customer.id)
        invoice = Invoice(customer=customer, month=first)
        if draft is not None:
            invoice.pk = draft[0]
        lines += _fill(
            invoice,
            subscription=subscription,
            statement=statement,
            tariffs=tariffs_by_code,
            month=month,
            detail=False,
            descriptions_cache=descriptions,
        )
        (refreshed if invoice.pk else new).append(invoice)
    try:
        _write_drafts(new, refreshed, lines, month=month)
    except IntegrityError:
        raise InvoiceError(
            _(
                "An invoice of %(month)s was issued while the drafts were being computed: run "
                "the month close again."
            )
            % {"month": month}
        ) from None
    attention = _attention(month=month, subscriptions=subscriptions, current=current)
    return CloseReport(
        month=month,
        drafts=new + refreshed,
        created=len(new),
        refreshed=len(refreshed),
        attention=attention,
    )


def _write_drafts(new, refreshed, lines, *, month: Month) -> None:
    with transaction.atomic():
        if refreshed:
            # A draft is replaced, not updated: one DELETE and one INSERT whatever the number of
            # customers (an UPDATE of thousands of rows with different values per row is one
            # CASE per column and row: minutes for 5,000 drafts, bench/close_month.py).
            stale = [invoice.pk for invoice in refreshed]
            _delete_drafts(stale)
            for invoice in refreshed:
                invoice.pk = None
        _insert_drafts(new + refreshed, lines, month=month)


# On PostgreSQL the drafts and their lines go in as one JSON document each (json_to_recordset):
# one parameter, serialised by the json module's C encoder, where Django's bulk_create binds
# 30 parameters per draft and spends seconds building them (bench/close_month.py).
_PG_INSERT_DRAFTS = """
INSERT INTO billing_invoice (customer_id, month, kind, status, series, language, plan_name,
    included_points, points_used, overage_points, engaged_contacts, net_total, vat_rate,
    vat_amount, total, vat_treatment, seller, buyer, usage, computed_at, email_status, email_error)
SELECT d.customer_id, %s, 'invoice', 'draft', '', d.language, d.plan_name, d.included_points,
    d.points_used, d.overage_points, d.engaged_contacts, d.net_total, d.vat_rate, d.vat_amount,
    d.total, d.vat_treatment, '{}'::jsonb, '{}'::jsonb, '[]'::jsonb, %s, '', ''
FROM json_to_recordset(%s::json) AS d(customer_id bigint, language varchar, plan_name varchar,
    included_points integer, points_used integer, overage_points integer,
    engaged_contacts integer, net_total numeric, vat_rate numeric, vat_amount numeric,
    total numeric, vat_treatment varchar)
RETURNING id, customer_id
"""
_PG_INSERT_LINES = """
INSERT INTO billing_invoiceline (invoice_id, position, kind, description, quantity, unit_price,
    amount)
SELECT l.invoice_id, l.position, l.kind, l.description, l.quantity, l.unit_price, l.amount
FROM json_to_recordset(%s::json) AS l(invoice_id bigint, position smallint, kind varchar,
    description varchar, quantity integer, unit_price numeric, amount numeric)
"""


def _insert_drafts(invoices: list[Invoice], lines: list[InvoiceLine], *, month: Month) -> None:
    """Insert new drafts (no pk yet) and their lines: two statements whatever their number."""
    if not invoices:
        return
    if connection.vendor != "postgresql":
        Invoice.objects.bulk_create(invoices)
        for line in lines:
            line.invoice_id = line.invoice.pk
        InvoiceLine.objects.bulk_create(lines)
        return
    drafts = json.dumps(
        [
            {
                "customer_id": i.customer_id,
                "language": i.language,
                "plan_name": i.plan_name,
                "included_points": i.included_points,
                "points_used": i.points_used,
                "overage_points": i.overage_points,
                "engaged_contacts": i.engaged_contacts,
                "net_total": str(i.net_total),
                "vat_rate": str(i.vat_rate),
                "vat_amount": str(i.vat_amount),
                "total": str(i.total),
                "vat_treatment": i.vat_treatment,
            }
            for i in invoices
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(_PG_INSERT_DRAFTS, [month.first_day, invoices[0].computed_at, drafts])
        ids = {customer_id: pk for pk, customer_id in cursor.fetchall()}
        for invoice in invoices:
            invoice.pk = ids[invoice.customer_id]
        cursor.execute(
            _PG_INSERT_LINES,
            [
                json.dumps(
                    [
                        {
                            "invoice_id": line.invoice.pk,
                            "position": line.position,
                            "kind": line.kind,
                            "description": line.description,
                            "quantity": line.quantity,
                            "unit_price": str(line.unit_price),
                            "amount": str(line.amount),
                        }
                        for line in lines
                    ]
                )
            ],
        )


def _delete_drafts(stale: list[int]) -> None:
    """Delete these drafts and their lines. Drafts have no other dependent rows: plain DELETEs,
    not Django's collector (which reloads them and deletes in batches of 100); on PostgreSQL the
    ids go as one array, not thousands of parameters. The triggers refuse any issued one."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM billing_invoiceline WHERE invoice_id = ANY(%s::bigint[])", [stale]
            )
            cursor.execute(
                "DELETE FROM billing_invoice WHERE id = ANY(%s::bigint[]) AND status = %s",
                [stale, InvoiceStatus.DRAFT.value],
            )
        return
    InvoiceLine.objects.filter(invoice_id__in=stale).delete()
    Invoice.objects.filter(pk__in=stale, status=InvoiceStatus.DRAFT)._raw_delete(Invoice.objects.db)


def _status(invoice: tuple[int, str] | None) -> str | None:
    """The status of a customer's current invoice of the month, (id, status) or None."""
    return invoice[1] if invoice else None


def _attention(*, month: Month, subscriptions, current) -> Attention:
    start, end = month.bounds(billing_tz())
    in_force = {s.customer_id for s in subscriptions}
    counting = ChatEvent.objects.filter(
        occurred_at__gte=start, occurred_at__lt=end, voided_at__isnull=True
    )
    attention = Attention()
    # The customers with no plan in force first (the small customer table), then only their
    # chats, found through the customer+time index: no scan of the whole month's chats to find
    # none, as at a month close where every customer has a plan.
    without_plan = list(Customer.objects.exclude(pk__in=in_force).values_list("pk", flat=True))
    if without_plan:
        for code, count in (
            counting.filter(customer_id__in=without_plan)
            .values_list("customer__code")
            .annotate(count=Count("id"))
            .order_by()
        ):
            attention.unbilled[code] = count
    for code, count in (
        events_late_pending(counting)
        .values_list("customer__code")
        .annotate(count=Count("id"))
        .order_by()
    ):
        attention.late[code] = count
    attention.no_email = [
        s.customer.code for s in subscriptions if not s.customer.billing_email_list
    ]
    attention.issued = [
        s.customer.code for s in subscriptions if _status(current.get(s.customer_id)) == "issued"
    ]
    return attention


# --- Issuing --------------------------------------------------------------------------------------
