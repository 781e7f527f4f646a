"""Invoice PDFs: a Django template rendered by WeasyPrint, in the invoice's language (A4).

While rendering, WeasyPrint fetches only the project's own static files (`static_file`): no
http(s), no file outside the static directories, no `..` out of them. Anything else is refused
and logged as an error, and the PDF is rendered without it (an invoice never makes a request).
"""

from __future__ import annotations

import logging
import mimetypes
import threading
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from billing.labels import actor_label
from billing.models import Invoice, InvoiceKind, InvoiceLine
from billing.usage.selectors import invoiced_vat

logger = logging.getLogger(__name__)

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
        "vat_mention": invoiced_vat(invoice).mention,
        "late_payment_rate": Decimal(invoice.seller.get("late_payment_rate") or "0"),
        "iban": _grouped(invoice.seller.get("iban", "")),
        # A customer under a SEPA mandate: the debited account, masked but its last four.
        "direct_debit": _direct_debit(invoice.buyer.get("direct_debit")),
        # The seller's country is printed to a buyer abroad (the reform's mention).
        "seller_country_name": _seller_country_name(invoice),
    }


def _direct_debit(debit: dict | None) -> dict | None:
    if not debit:
        return None
    iban = debit["iban"]
    return {**debit, "masked_iban": _grouped(iban[:4] + "•" * (len(iban) - 8) + iban[-4:])}


def _grouped(iban: str) -> str:
    """An IBAN as printed: groups of four characters."""
    return " ".join(iban[index : index + 4] for index in range(0, len(iban), 4))


def _seller_country_name(invoice: Invoice) -> str:
    from customers.models import COUNTRIES

    country = invoice.seller.get("country", "")
    if not country or country == invoice.buyer.get("country"):
        return ""
    return str(dict(COUNTRIES).get(country, country))


def invoice_html(invoice: Invoice, lines: list[InvoiceLine]) -> str:
    with translation.override(invoice.language):
        return render_to_string("billing/invoice_pdf.html", invoice_context(invoice, lines))


def invoice_pdf(invoice: Invoice, lines: list[InvoiceLine], *, variant: str | None = None) -> bytes:
    """The invoice as PDF bytes. `variant`: a PDF variant WeasyPrint writes ("pdf/a-3b" for the
    Factur-X that issuing stores, billing.invoicing.facturx)."""
    return pdf_from_html(invoice_html(invoice, lines), variant=variant)


def pdf_from_html(html: str, *, variant: str | None = None) -> bytes:
    """HTML rendered as PDF; relative URLs are static files (e.g. `img/logo.svg`)."""
    document = HTML(string=html, base_url=str(_static_dirs()[0]), url_fetcher=_fetcher())
    options = {"pdf_variant": variant} if variant else {}
    with _RENDERING:
        return document.write_pdf(font_config=_FONTS, **options)


# --- What a PDF may fetch -------------------------------------------------------------------------


class RefusedResource(ValueError):
    """A URL a PDF may not fetch."""


def _static_dirs() -> list[Path]:
    """The project's static directories (STATICFILES_DIRS), resolved."""
    dirs = []
    for entry in settings.STATICFILES_DIRS:
        path = entry[1] if isinstance(entry, tuple | list) else entry  # (prefix, path) or path
        dirs.append(Path(path).resolve())
    return dirs


def static_file(url: str) -> tuple[Path, str]:
    """The static file a `file:` URL names, and its MIME type; anything else raises
    RefusedResource (logged as an error): another scheme (http, https, ftp, data…), a host, a
    path outside the static directories once resolved (`..`, symbolic links), or no such file."""
    try:
        path = _static_path(url)
    except RefusedResource as error:
        logger.error("PDF rendering: refused to fetch %.200s: %s", url, error)
        raise
    mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path, mime_type


def _static_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        raise RefusedResource(f"only the project's static files are fetched, not {parts.scheme}:")
    if parts.netloc not in ("", "localhost"):
        raise RefusedResource(f"a file URL on another host ({parts.netloc})")
    try:
        path = Path(unquote(parts.path, errors="strict")).resolve()
    except (ValueError, OSError) as error:  # a NUL byte, undecodable bytes, a loop of links
        raise RefusedResource(f"not a file path ({error})") from None
    if not any(path.is_relative_to(root) for root in _static_dirs()):
        raise RefusedResource("outside the static directories")
    if not path.is_file():
        raise RefusedResource("no such static file")
    return path


try:  # recent WeasyPrint (70 is installed): a fetcher is a URLFetcher
    from weasyprint.urls import URLFetcher, URLFetcherResponse
except ImportError:  # pragma: no cover - older WeasyPrint: a function returning a dict
    URLFetcher = URLFetcherResponse = None


def static_fetch(url: str):
    """The url_fetcher of older WeasyPrint versions: a function returning a dict."""
    path, mime_type = static_file(url)
    return {"string": path.read_bytes(), "mime_type": mime_type, "redirected_url": path.as_uri()}


if URLFetcher is not None:

    class StaticFilesFetcher(URLFetcher):
        """The url_fetcher of recent WeasyPrint versions: static files only, nothing opened."""

        def fetch(self, url, headers=None):
            path, mime_type = static_file(url)
            return URLFetcherResponse(
                path.as_uri(), body=path.read_bytes(), headers={"Content-Type": mime_type}
            )


def _fetcher():
    return StaticFilesFetcher() if URLFetcher is not None else static_fetch
