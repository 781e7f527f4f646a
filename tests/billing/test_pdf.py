"""What WeasyPrint may fetch while rendering a PDF: the project's static files, nothing else."""

import io
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from pypdf import PdfReader

from billing.invoicing import pdf as pdf
from billing.invoicing.pdf import RefusedResource, pdf_from_html, static_file

STATIC = Path(settings.BASE_DIR / "static").resolve()
LOGO = STATIC / "img" / "logo.svg"


@pytest.fixture
def web_server():
    """A web server on 127.0.0.1 that records every request it gets."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.end_headers()
            self.wfile.write(b"body { color: red }")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", requests
    server.shutdown()
    server.server_close()


def fetch(url):
    """The fetcher WeasyPrint is given, called as WeasyPrint calls it."""
    fetcher = pdf._fetcher()
    response = fetcher(url)
    if isinstance(response, dict):  # older WeasyPrint
        return response["string"], response["mime_type"]
    try:
        return response.read(), response.content_type
    finally:
        response.close()


def test_a_static_file_is_served():
    assert static_file(LOGO.as_uri()) == (LOGO, "image/svg+xml")
    assert static_file(f"file://localhost{LOGO}") == (LOGO, "image/svg+xml")
    assert fetch(LOGO.as_uri()) == (LOGO.read_bytes(), "image/svg+xml")
    css = STATIC / "css" / "portal.css"
    assert fetch(css.as_uri()) == (css.read_bytes(), "text/css")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://{server}/x.css", "not http:"),
        ("https://example.com/x.png", "not https:"),
        ("ftp://example.com/x.png", "not ftp:"),
        ("data:text/css,body%7Bcolor:red%7D", "not data:"),
        ("file:///etc/passwd", "outside the static directories"),
        ("file://{static}/../config/settings.py", "outside the static directories"),
        ("file://{static}/img/../../config/settings.py", "outside the static directories"),
        ("file://{static}/%2e%2e/config/settings.py", "outside the static directories"),
        ("file://{static}/img/%2E%2E/%2E%2E/pyproject.toml", "outside the static directories"),
        ("file://{static}-elsewhere/x.css", "outside the static directories"),
        ("file://example.com/{static}/img/logo.svg", "another host"),
        ("file://{static}/img/nothing-here.svg", "no such static file"),
        ("file://{static}/img", "no such static file"),
        ("file://{static}/img/logo.svg%00.png", "not a file path"),
    ],
)
def test_anything_else_is_refused_and_logged(url, reason, web_server, caplog):
    server, requests = web_server
    url = url.format(server=server.removeprefix("http://"), static=STATIC)
    with (
        caplog.at_level(logging.ERROR, logger="billing.invoicing.pdf"),
        pytest.raises(RefusedResource),
    ):
        fetch(url)
    assert reason in str(caplog.records[-1].getMessage())
    assert caplog.records[-1].levelno == logging.ERROR
    assert requests == []


def test_a_link_out_of_the_static_directory_is_refused(tmp_path, settings, caplog):
    static = tmp_path / "static"
    static.mkdir()
    (static / "ok.css").write_text("p { color: blue }")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for PDFs")
    (static / "link.css").symlink_to(secret)
    settings.STATICFILES_DIRS = [static]
    assert static_file((static / "ok.css").as_uri())[0] == (static / "ok.css").resolve()
    with (
        caplog.at_level(logging.ERROR, logger="billing.invoicing.pdf"),
        pytest.raises(RefusedResource),
    ):
        static_file((static / "link.css").as_uri())
    assert "outside the static directories" in caplog.text


def test_rendering_fetches_nothing_from_outside(web_server, caplog):
    server, requests = web_server
    html = f"""<html><head>
      <link rel="stylesheet" href="{server}/style.css">
      <link rel="stylesheet" href="file:///etc/passwd">
      <style>@import url("{server}/imported.css");
        p {{ background: url("{server}/bg.png") }}</style>
    </head><body>
      <p>Facture</p>
      <img src="{server}/pixel.png"><img src="file:///etc/hostname"><img src="../pyproject.toml">
      <img src="img/logo.svg">
    </body></html>"""
    with caplog.at_level(logging.ERROR, logger="billing.invoicing.pdf"):
        data = pdf_from_html(html)
    assert requests == []
    refused = [
        record.getMessage() for record in caplog.records if record.name == "billing.invoicing.pdf"
    ]
    assert len(refused) >= 6
    assert all(message.startswith("PDF rendering: refused to fetch") for message in refused)
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "Facture" in text and "Chatpoints" in text  # the logo (an SVG with its name) is drawn


@pytest.mark.django_db
def test_an_issued_invoice_still_has_its_logo_and_style(clock, monkeypatch, caplog):
    from tests.billing.test_invoicing import ISSUE_DAY, grow_3234, issue

    clock.now = ISSUE_DAY
    served = []
    real = pdf.static_file

    def spy(url):
        found = real(url)
        served.append(found[0])
        return found

    monkeypatch.setattr(pdf, "static_file", spy)
    with caplog.at_level(logging.WARNING):
        invoice = issue(grow_3234())
    assert served == [LOGO]
    assert not [record for record in caplog.records if record.name.startswith("billing")]
    reader = PdfReader(io.BytesIO(bytes(invoice.pdf)))
    page = reader.pages[0]
    # A4 from the template's @page rule, its footer (a margin box), the invoice's number.
    assert [round(float(value)) for value in page.mediabox[2:]] == [595, 842]
    text = page.extract_text()
    assert invoice.number in text and "page 1 /" in text
