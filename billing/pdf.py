"""Invoice PDFs: a Django template rendered by WeasyPrint, in the invoice's language (A4)."""

from __future__ import annotations

import threading
from decimal import Decimal

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from .labels import actor_label
from .models import Invoice, InvoiceKind, InvoiceLine

# Fonts are looked up once per process: later invoices render warm. WeasyPrint (Pango,
# fontconfig) is not documented as thread-safe: one render at a time per process.
_FONTS = FontConfiguration()
_RENDERING = threading.Lock()


def invoice_context(invoice: Invoice, lines: list[InvoiceLine]) -> dict:
    # People read labels (the tariff's description was frozen in the invoice's language at
    # issue), never the codes: render in the invoice's language (invoice_html).
    usage = [{**line, "actor_label": actor_label(line["actor"])} for line in invoice.usage]
    included_used = min(invoice.points_used, invoice.included_points)
    return {
        "invoice": invoice,
        "lines": lines,
        "usage": usage,
        "seller": invoice.seller,
        "buyer": invoice.buyer,
        "is_credit_note": invoice.kind == InvoiceKind.CREDIT_NOTE,
        "included_used": included_used,
        "reverse_charge": invoice.vat_treatment == "reverse_charge",
        "outside_eu": invoice.vat_treatment == "outside_eu",
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
