"""Invoice PDFs: a Django template rendered by WeasyPrint, in the invoice's language (A4)."""

from __future__ import annotations

import threading
from decimal import Decimal

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from .models import Actor, Invoice, InvoiceKind, InvoiceLine
from .usage import invoiced_vat

# Fonts are looked up once per process: later invoices render warm. WeasyPrint (Pango,
# fontconfig) is not documented as thread-safe: one render at a time per process.
_FONTS = FontConfiguration()
_RENDERING = threading.Lock()


def invoice_context(invoice: Invoice, lines: list[InvoiceLine]) -> dict:
    actors = dict(Actor.choices)
    usage = [
        {**line, "actor_label": actors.get(line["actor"], line["actor"])} for line in invoice.usage
    ]
    included_used = min(invoice.points_used, invoice.included_points)
    return {
        "invoice": invoice,
        "lines": lines,
        "usage": usage,
        "seller": invoice.seller,
        "buyer": invoice.buyer,
        "is_credit_note": invoice.kind == InvoiceKind.CREDIT_NOTE,
        "included_used": included_used,
        "vat_mention": invoiced_vat(invoice).mention,
        "late_payment_rate": Decimal(invoice.seller.get("late_payment_rate") or "0"),
    }


def invoice_html(invoice: Invoice, lines: list[InvoiceLine]) -> str:
    with translation.override(invoice.language):
        return render_to_string("billing/invoice_pdf.html", invoice_context(invoice, lines))


def invoice_pdf(invoice: Invoice, lines: list[InvoiceLine]) -> bytes:
    """The invoice as PDF bytes (stored when it is issued; downloads return these bytes)."""
    html = HTML(string=invoice_html(invoice, lines), base_url=str(settings.BASE_DIR / "static"))
    with _RENDERING:
        return html.write_pdf(font_config=_FONTS)
