"""Invoices: month close (drafts for every customer), issuing (gapless numbers, frozen content, a
stored PDF, an e-mail), credit notes. Billing rules 5-10 (docs/billing-rules.md).

- Drafts follow the usage: `invoices_draft(month=…)` creates or refreshes the draft of every
  customer with a plan in force, in a constant number of queries, and reports what needs
  attention.
- `invoice_issue` freezes a draft: it recomputes it under a lock on the customer (chats being
  stored for that customer finish first; later ones are marked late), copies both parties' legal
  details, takes the next number of the year's series under a row lock (a rolled-back issue gives
  it back: no gap), renders and stores the PDF. The e-mail goes after the commit.
- `invoice_cancel` cancels an issued invoice with a credit note (its own series and number, the
  same lines negated, its own PDF); the month can then be invoiced again.

Money comes from billing.pricing only, the VAT decision from billing.vat (Customer.vat_decision);
this module copies them into rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from customers.models import Customer

from .errors import BillingError
from .models import (
    ChatEvent,
    EmailStatus,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    InvoiceStatus,
    Subscription,
    Tariff,
)
from .months import Month, billing_tz
from .months import today as billing_today
from .pricing import LINE_OVERAGE, LINE_PLAN_FEE, Statement, price_month
from .templatetags.money import format_money
from .usage import (
    events_late_pending,
    subscription_in_force,
    subscriptions_in_force,
    usage_from_rows,
    usage_rows,
)

SERIES_INVOICE = "F"
SERIES_CREDIT_NOTE = "AV"


class InvoiceError(BillingError):
    pass


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


def _plan_name(plan, language: str) -> str:
    return plan.name_en if language == "en" else plan.name_fr


def _line_descriptions(plan_name: str, month: Month, language: str) -> dict[str, str]:
    with translation.override(language):
        return {
            LINE_PLAN_FEE: _("Plan %(plan)s — %(month)s")
            % {"plan": plan_name, "month": date_format(month.first_day, "F Y")},
            LINE_OVERAGE: _("Plan %(plan)s — extra Chatpoints") % {"plan": plan_name},
        }


def _usage_detail(statement: Statement, tariffs: dict[str, Tariff], language: str) -> list[dict]:
    detail = []
    for line in statement.lines:
        tariff = tariffs[line.tariff]
        detail.append(
            {
                "tariff": line.tariff,
                "description": tariff.description_en if language == "en" else tariff.description_fr,
                "category": line.category,
                "actor": line.actor,
                "chats": line.chats,
                "points": line.points,
                "contacts": line.contacts,
            }
        )
    return detail


def _fill(
    invoice: Invoice,
    *,
    subscription: Subscription,
    statement: Statement,
    tariffs,
    month: Month,
    detail: bool = True,
    descriptions_cache: dict | None = None,
):
    """Copy a statement into an invoice (not saved) and return its lines (not saved).

    `detail`: also copy the Chatpoints detail per tariff and actor (issuing does; month-close
    drafts only need the totals)."""
    customer = subscription.customer
    language = customer.language
    plan_name = _plan_name(subscription.plan, language)
    invoice.language = language
    invoice.plan_name = plan_name
    invoice.included_points = statement.included_points
    invoice.points_used = statement.points_used
    invoice.overage_points = statement.overage_points
    invoice.engaged_contacts = statement.engaged_contacts
    invoice.net_total = statement.net_total
    invoice.vat_rate = statement.vat_rate
    invoice.vat_amount = statement.vat_amount
    invoice.total = statement.total
    invoice.vat_treatment = statement.vat_treatment
    invoice.usage = _usage_detail(statement, tariffs, language) if detail else []
    invoice.computed_at = timezone.now()
    if descriptions_cache is None:
        descriptions = _line_descriptions(plan_name, month, language)
    else:
        key = (plan_name, language)
        if key not in descriptions_cache:
            descriptions_cache[key] = _line_descriptions(plan_name, month, language)
        descriptions = descriptions_cache[key]
    return [
        InvoiceLine(
            invoice=invoice,
            position=position,
            kind=line.kind,
            description=descriptions[line.kind],
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
        )
        for position, line in enumerate(statement.invoice_lines, start=1)
    ]


def _country_name(customer: Customer) -> str:
    with translation.override(customer.language):
        return str(customer.get_country_display())


def _buyer(customer: Customer) -> dict:
    return {
        "code": customer.code,
        "legal_name": customer.legal_name,
        "address": customer.address,
        "postal_code": customer.postal_code,
        "city": customer.city,
        "country": customer.country,
        "country_name": _country_name(customer),
        "vat_number": customer.vat_number,
        "siren": customer.siren,
        "billing_emails": customer.billing_email_list,
    }


# --- Drafts ---------------------------------------------------------------------------------------


_SUBSCRIPTION_FIELDS = (
    "customer_id",
    "first_month",
    "last_month",
    "custom_monthly_fee",
    "custom_included_points",
    "custom_price_per_extra_point",
    "plan__code",
    "plan__name_fr",
    "plan__name_en",
    "plan__is_custom",
    "plan__monthly_fee",
    "plan__included_points",
    "plan__price_per_extra_point",
    "customer__code",
    "customer__language",
    "customer__country",
    "customer__vat_number",
    "customer__vat_rate",
    "customer__vat_treatment",
    "customer__billing_emails",
)


def invoices_draft(*, month: Month) -> CloseReport:
    """Create or refresh the draft invoice of every customer with a plan in force in `month`.

    A constant number of queries whatever the number of customers: the subscriptions in force,
    the month's invoices, the tariffs, one aggregate of the month's chats for every customer,
    the attention counts, then bulk writes. Running it twice creates nothing twice.
    """
    first = month.first_day
    subscriptions = list(
        subscriptions_in_force(month=month)
        .select_related("customer")
        .order_by("customer__code")
        .only(*_SUBSCRIPTION_FIELDS)  # what pricing and the draft read: no address, no notes
    )
    current = {
        invoice.customer_id: invoice
        for invoice in Invoice.objects.filter(
            month=first,
            kind=InvoiceKind.INVOICE,
            status__in=[InvoiceStatus.DRAFT, InvoiceStatus.ISSUED],
        ).only("id", "customer_id", "status")
    }
    tariff_rows = {tariff.id: tariff for tariff in Tariff.objects.all()}
    tariffs_by_code = {tariff.code: tariff for tariff in tariff_rows.values()}
    to_draft = [s for s in subscriptions if _status(current.get(s.customer_id)) != "issued"]
    rows_by_customer: dict[int, list[dict]] = {}
    if to_draft:
        customer_ids = [s.customer_id for s in to_draft]
        for customer_id, *row in usage_rows(
            month=month, customers=customer_ids, tariffs=tariff_rows
        ):
            rows_by_customer.setdefault(customer_id, []).append(row)
    new, refreshed, lines = [], [], []
    descriptions: dict = {}
    for subscription in to_draft:
        customer = subscription.customer
        usage = usage_from_rows(rows_by_customer.get(customer.id, []), tariff_rows)
        statement = price_month(
            terms=subscription.terms(), usage=usage, vat=customer.vat_decision()
        )
        draft = current.get(customer.id)
        invoice = Invoice(customer=customer, month=first)
        if draft is not None:
            invoice.pk = draft.pk
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
            InvoiceLine.objects.filter(invoice_id__in=stale).delete()
            # Drafts have no other dependent rows: a plain DELETE, not Django's collector (which
            # reloads them and deletes in batches of 100). The triggers refuse any issued one.
            Invoice.objects.filter(pk__in=stale, status=InvoiceStatus.DRAFT)._raw_delete(
                Invoice.objects.db
            )
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


def _status(invoice: Invoice | None) -> str | None:
    return invoice.status if invoice else None


def _attention(*, month: Month, subscriptions, current) -> Attention:
    start, end = month.bounds(billing_tz())
    in_force = {s.customer_id for s in subscriptions}
    counting = ChatEvent.objects.filter(
        occurred_at__gte=start, occurred_at__lt=end, voided_at__isnull=True
    )
    attention = Attention()
    for code, count in (
        counting.exclude(customer_id__in=in_force)
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


def _next_number(series: str, year: int) -> tuple[int, str]:
    """The next number of a series in a year, taken under a row lock (gapless: a rollback of
    the issuing transaction gives it back)."""
    InvoiceSequence.objects.bulk_create(
        [InvoiceSequence(series=series, year=year)], ignore_conflicts=True
    )
    sequence = InvoiceSequence.objects.select_for_update().get(series=series, year=year)
    sequence.last += 1
    sequence.save(update_fields=["last"])
    pattern = (
        settings.INVOICE_NUMBER_FORMAT
        if series == SERIES_INVOICE
        else settings.CREDIT_NOTE_NUMBER_FORMAT
    )
    return sequence.last, pattern.format(year=year, number=sequence.last)


def _seller() -> dict:
    seller = dict(settings.SELLER)
    seller["late_payment_rate"] = settings.LATE_PAYMENT_RATE
    seller["recovery_indemnity"] = settings.RECOVERY_INDEMNITY
    return seller


def _lock_customer(customer_id: int) -> Customer:
    """FOR UPDATE (not NO KEY UPDATE): it waits for the chat batches of this customer in flight
    (they hold it FOR KEY SHARE) and makes the later ones wait, then see the issued invoice."""
    return Customer.objects.select_for_update().get(pk=customer_id)


def _finalize(
    invoice: Invoice, lines: list[InvoiceLine], *, series: str, now: datetime | None = None
) -> None:
    """Number, date, render and mark issued (inside the caller's transaction).

    `now`: the moment of issue, the present unless given (the demo issues its past months on
    their day). Never in the future, never before the series' last issue: numbers and issue
    dates go up together."""
    from .pdf import invoice_pdf

    year = billing_today(now).year
    sequence, number = _next_number(series, year)  # waits for any issue of the series in flight
    if now is None:
        now = timezone.now()  # read after the lock: numbers and issue dates go up together
    elif (
        now > timezone.now()
        or Invoice.objects.filter(series=series, year=year, issued_at__gt=now).exists()
    ):
        raise InvoiceError(
            _(
                "%(number)s cannot be dated %(date)s: a document is dated today at the latest, "
                "and not before the last one of its series."
            )
            % {"number": number, "date": date_format(billing_today(now), "DATE_FORMAT")}
        )
    issue_date = billing_today(now)
    invoice.series, invoice.year, invoice.sequence, invoice.number = series, year, sequence, number
    invoice.issued_at = now
    invoice.issue_date = issue_date
    invoice.due_date = issue_date + timedelta(days=settings.PAYMENT_TERMS_DAYS)
    invoice.pdf = invoice_pdf(invoice, lines)
    invoice.status = InvoiceStatus.ISSUED
    invoice.save()


def invoice_issue(
    *, invoice: Invoice, today: date | None = None, now: datetime | None = None
) -> Invoice:
    """Issue a draft: recompute it, freeze it, number it, store its PDF; e-mail it after commit.

    `now`: the moment of issue, the present unless given (see _finalize)."""
    with transaction.atomic():
        customer = _lock_customer(invoice.customer_id)
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != InvoiceStatus.DRAFT or invoice.kind != InvoiceKind.INVOICE:
            raise InvoiceError(
                _("%(invoice)s is not a draft invoice: it cannot be issued.") % {"invoice": invoice}
            )
        month = Month.of(invoice.month)
        today = today or billing_today(now)
        if month.next().first_day > today:
            raise InvoiceError(
                _("%(month)s is not over: a month is invoiced once it has ended.")
                % {"month": month}
            )
        subscription = subscription_in_force(customer=customer, month=month)
        if subscription is not None:
            subscription.customer = customer  # the row locked above
        if subscription is None:
            raise InvoiceError(
                _("%(customer)s has no plan in force in %(month)s.")
                % {"customer": customer.code, "month": month}
            )
        tariffs = {tariff.id: tariff for tariff in Tariff.objects.all()}
        usage = usage_from_rows(
            [row[1:] for row in usage_rows(month=month, customers=[customer.id], tariffs=tariffs)],
            tariffs,
        )
        statement = price_month(
            terms=subscription.terms(), usage=usage, vat=customer.vat_decision()
        )
        invoice.customer = customer
        lines = _fill(
            invoice,
            subscription=subscription,
            statement=statement,
            tariffs={tariff.code: tariff for tariff in tariffs.values()},
            month=month,
        )
        invoice.seller = _seller()
        invoice.buyer = _buyer(customer)
        invoice.save()  # still a draft: its lines may be replaced
        InvoiceLine.objects.filter(invoice=invoice).delete()
        InvoiceLine.objects.bulk_create(lines)
        _finalize(invoice, lines, series=SERIES_INVOICE, now=now)
        transaction.on_commit(lambda: invoice_send(invoice_id=invoice.pk))
    return invoice


def invoice_cancel(*, invoice: Invoice, now: datetime | None = None) -> Invoice:
    """Cancel an issued invoice with a credit note (the same lines negated); returns the note.

    The month can then be invoiced again (month close makes a new draft, with any late chats).
    `now`: the moment of issue of the credit note, the present unless given (see _finalize).
    """
    with transaction.atomic():
        _lock_customer(invoice.customer_id)
        original = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if original.status != InvoiceStatus.ISSUED or original.kind != InvoiceKind.INVOICE:
            raise InvoiceError(
                _("%(invoice)s is not an issued invoice: there is nothing to cancel.")
                % {"invoice": original}
            )
        note = Invoice(
            customer_id=original.customer_id,
            month=original.month,
            kind=InvoiceKind.CREDIT_NOTE,
            credited_invoice=original,
            language=original.language,
            plan_name=original.plan_name,
            included_points=original.included_points,
            points_used=original.points_used,
            overage_points=original.overage_points,
            engaged_contacts=original.engaged_contacts,
            net_total=-original.net_total,
            vat_rate=original.vat_rate,
            vat_amount=-original.vat_amount,
            total=-original.total,
            vat_treatment=original.vat_treatment,
            seller=original.seller,
            buyer=original.buyer,
            usage=original.usage,
            computed_at=timezone.now(),
        )
        note.save()
        lines = [
            InvoiceLine(
                invoice=note,
                position=line.position,
                kind=line.kind,
                description=line.description,
                quantity=-line.quantity,
                unit_price=line.unit_price,
                amount=-line.amount,
            )
            for line in original.lines.all()
        ]
        InvoiceLine.objects.bulk_create(lines)
        _finalize(note, lines, series=SERIES_CREDIT_NOTE, now=now)
        original.status = InvoiceStatus.CANCELLED
        original.save(update_fields=["status"])
        transaction.on_commit(lambda: invoice_send(invoice_id=note.pk))
    return note


def invoices_issue_month(
    *, month: Month, today: date | None = None
) -> tuple[list[Invoice], list[str]]:
    """Issue every draft of the month (customer order), each on its own: (the issued invoices,
    the refusals, one message per draft not issued)."""
    drafts = (
        Invoice.objects.filter(
            month=month.first_day, kind=InvoiceKind.INVOICE, status=InvoiceStatus.DRAFT
        )
        .select_related("customer")
        .order_by("customer__code")
    )
    issued, refused = [], []
    for draft in drafts:
        try:
            issued.append(invoice_issue(invoice=draft, today=today))
        except (BillingError, Invoice.DoesNotExist) as error:
            refused.append(f"{draft.customer.code}: {error}")
    return issued, refused


def invoice_mark_paid(*, invoice: Invoice, paid_on: date) -> Invoice:
    if invoice.status != InvoiceStatus.ISSUED or invoice.kind != InvoiceKind.INVOICE:
        raise InvoiceError(_("Only an issued invoice is paid."))
    invoice.paid_on = paid_on
    invoice.save(update_fields=["paid_on"])
    return invoice


# --- E-mail ---------------------------------------------------------------------------------------

# "of October 2026", one string per month: French elides "de" before a vowel (d'avril, d'août,
# d'octobre, but de mars), which a translated "of %(month)s" could not do.
_OF_MONTH = (
    pgettext_lazy("of a month", "of January %(year)d"),
    pgettext_lazy("of a month", "of February %(year)d"),
    pgettext_lazy("of a month", "of March %(year)d"),
    pgettext_lazy("of a month", "of April %(year)d"),
    pgettext_lazy("of a month", "of May %(year)d"),
    pgettext_lazy("of a month", "of June %(year)d"),
    pgettext_lazy("of a month", "of July %(year)d"),
    pgettext_lazy("of a month", "of August %(year)d"),
    pgettext_lazy("of a month", "of September %(year)d"),
    pgettext_lazy("of a month", "of October %(year)d"),
    pgettext_lazy("of a month", "of November %(year)d"),
    pgettext_lazy("of a month", "of December %(year)d"),
)


def of_month(day: date) -> str:
    """The month of `day` after "of", in the active language: "d'octobre 2026"."""
    return str(_OF_MONTH[day.month - 1]) % {"year": day.year}


def invoice_send(*, invoice_id: int) -> Invoice:
    """E-mail an issued invoice or credit note (its stored PDF) to the customer's billing
    addresses, in the invoice's language. A failure is recorded (and can be retried); it never
    un-issues anything."""
    from django.core.mail import EmailMessage

    invoice = Invoice.objects.select_related("customer").get(pk=invoice_id)
    recipients = invoice.customer.billing_email_list
    try:
        if not recipients:
            raise InvoiceError(_("The customer has no billing e-mail address."))
        with translation.override(invoice.language):
            month = date_format(invoice.month, "F Y")
            if invoice.kind == InvoiceKind.CREDIT_NOTE:
                subject = _("Credit note %(number)s (%(month)s)") % {
                    "number": invoice.number,
                    "month": month,
                }
                body = _(
                    "Hello,\n\nPlease find attached credit note %(number)s, which cancels "
                    "invoice %(original)s %(of_month)s.\n\n%(seller)s"
                ) % {
                    "number": invoice.number,
                    "original": invoice.credited_invoice.number,
                    "of_month": of_month(invoice.month),
                    "seller": invoice.seller.get("legal_name", ""),
                }
            else:
                subject = _("Invoice %(number)s — Chatpoints %(month)s") % {
                    "number": invoice.number,
                    "month": month,
                }
                body = _(
                    "Hello,\n\nPlease find attached invoice %(number)s for your Chatpoints "
                    "%(of_month)s: %(total)s including VAT, due on %(due)s.\n\n%(seller)s"
                ) % {
                    "number": invoice.number,
                    "of_month": of_month(invoice.month),
                    "total": format_money(invoice.total),
                    "due": date_format(invoice.due_date, "DATE_FORMAT"),
                    "seller": invoice.seller.get("legal_name", ""),
                }
        message = EmailMessage(
            subject=subject,
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=recipients,
            reply_to=[invoice.seller.get("email")] if invoice.seller.get("email") else None,
        )
        message.attach(f"{invoice.number}.pdf", bytes(invoice.pdf), "application/pdf")
        message.send()
    except Exception as error:  # noqa: BLE001 - any failure to send is recorded, never raised
        invoice.email_status = EmailStatus.FAILED
        invoice.email_error = f"{type(error).__name__}: {error}"[:2000]
        invoice.save(update_fields=["email_status", "email_error"])
        return invoice
    invoice.email_status = EmailStatus.SENT
    invoice.email_sent_at = timezone.now()
    invoice.email_error = ""
    invoice.save(update_fields=["email_status", "email_sent_at", "email_error"])
    return invoice
