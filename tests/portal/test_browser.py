"""End to end in a real headless Chromium (Debian's, driven by Playwright): a dealer logs in,
switches month, reads a total, switches to English and downloads the invoice PDF."""

import importlib
import io
import os
import shutil

import pytest
from django.db import connection
from pypdf import PdfReader

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NBSP = "\N{NO-BREAK SPACE}"


@pytest.fixture
def browser(settings):
    if not shutil.which(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} not found: the browser test needs Debian's chromium "
            "(`make test` and .ci/run install it: apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # made before and after the browser works, never concurrently.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    # The test server speaks plain HTTP.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    # The server's request threads close their connections (none left behind on the test
    # database when it is dropped).
    max_age = connection.settings_dict.get("CONN_MAX_AGE", 0)
    connection.settings_dict["CONN_MAX_AGE"] = 0
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            yield chromium
            chromium.close()
        if connection.vendor == "postgresql":
            # A request thread of the live server can leave its connection open (seen with
            # the PDF download): end it, or the test database cannot be dropped afterwards.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = max_age
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def removable_invoices():
    """Issued invoices are final, held by database triggers; a test that does not run in a
    transaction must still leave an empty database. PostgreSQL empties it with TRUNCATE (no
    row trigger fires); SQLite deletes row by row: lift its triggers for that, then restore."""
    yield
    if connection.vendor != "sqlite":
        return
    final = importlib.import_module("billing.migrations.0006_issued_invoices_are_final")
    with connection.cursor() as cursor:
        for statement in final.SQLITE_DOWN:
            cursor.execute(statement)
        cursor.execute("DELETE FROM billing_invoiceline")
        cursor.execute("UPDATE billing_invoice SET credited_invoice_id = NULL")
        cursor.execute("DELETE FROM billing_invoice")
        for statement in final.SQLITE_UP:
            cursor.execute(statement)


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


# The browser talks to a live server thread: the data must be committed. serialized_rollback
# brings back what the migrations load (plans, tariffs) if an earlier such test emptied them.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_dealer_reads_the_report_and_downloads_the_invoice(
    removable_invoices, real_pdf, dealers, live_server, browser, tmp_path
):
    invoice = dealers["dupont"].invoice
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, accept_downloads=True, locale="fr-FR"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    # The portal's Content-Security-Policy (config/headers.py) refuses nothing its pages use:
    # Chromium reports any refusal (and any other error) in the console.
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))

    page.goto(f"{live_server.url}/report/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Nom d'utilisateur").fill("dupont")
    page.get_by_label("Mot de passe").fill("a-good-password-1")
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/dealers/garage-dupont/report/2026-11/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Rapport Chatpoints")

    # Switch to October with the month picker, and read the month's total.
    page.get_by_role("combobox", name="Mois").select_option("2026-10")
    page.get_by_role("button", name="Afficher").click()
    page.wait_for_url("**/dealers/garage-dupont/report/2026-10/")
    total = page.get_by_test_id("total-points").inner_text()
    assert total.replace(NBSP, " ").replace("\u202f", " ") == "1 565"
    assert page.get_by_test_id("overage-points").inner_text().replace(NBSP, " ") == "1 315"

    # English, remembered on the next page.
    page.get_by_role("button", name="EN").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Chatpoint report October 2026"
    assert page.get_by_test_id("total-points").inner_text() == "1,565"
    page.get_by_role("link", name="Invoices").click()
    page.wait_for_url("**/dealers/garage-dupont/invoices/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert invoice.number in page.locator("#invoices").inner_text()
    assert "€402.84" in page.locator("#invoices").inner_text()

    # The invoice PDF, downloaded from the report of its month.
    page.goto(f"{live_server.url}/dealers/garage-dupont/report/2026-10/")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the invoice (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"{invoice.number}.pdf"
    path = tmp_path / "invoice.pdf"
    download.save_as(path)
    data = path.read_bytes()
    invoice.refresh_from_db()
    assert data == bytes(invoice.pdf)
    text = pdf_text(data)
    assert f"FACTURE {invoice.number}" in text.upper()
    assert "Garage-Dupont SAS" in text
    assert f"Total TTC 402,84{NBSP}€".replace(NBSP, " ") in text.replace(NBSP, " ")
    assert [line for line in console if line.startswith(("error", "warning"))] == []
    context.close()


FITS = """() => {
  const table = document.querySelector('#plans');
  const box = table.parentElement;
  const total = table.querySelector('tbody tr:last-child td:last-child').getBoundingClientRect();
  return {
    table: table.scrollWidth,
    box: box.clientWidth,
    totalVisible: total.right <= box.getBoundingClientRect().right + 0.5,
    page: document.documentElement.scrollWidth,
    viewport: document.documentElement.clientWidth,
  };
}"""


@pytest.fixture
def dupont_session(dealers, client):
    """The session cookie of dupont, logged in (set up before the browser: the test's body,
    run beside Playwright's loop, makes no database call of its own)."""
    client.force_login(dealers["dupont"].user)
    return client.cookies["sessionid"].value


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_plan_comparison_fits_a_laptop_and_the_report_a_phone(
    removable_invoices, dupont_session, live_server, browser, language
):
    """At 1280 px the plan comparison fits its box, totals in sight (its French headers once
    made it 1,383 px wide in 1,098); on a 390 px phone the report does not scroll sideways."""
    cookies = [
        {"name": "sessionid", "value": dupont_session, "url": live_server.url},
        {"name": "django_language", "value": language, "url": live_server.url},
    ]
    url = f"{live_server.url}/dealers/garage-dupont/report/2026-10/"
    for width, height in ((1280, 900), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.add_cookies(cookies)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(url)
        assert page.locator("html").get_attribute("lang") == language
        fit = page.evaluate(FITS)
        if width == 1280:
            assert fit["table"] <= fit["box"], fit
            assert fit["totalVisible"], fit
        assert fit["page"] <= fit["viewport"], fit
        context.close()


@pytest.fixture
def billing_manager_session(dealers, client):
    """dupont allowed to manage billing, under a signed mandate, logged in."""
    from datetime import date

    from billing.payments.methods import MandateInput, mandate_create
    from customers.models import CustomerAccess

    dupont = dealers["dupont"]
    CustomerAccess.objects.filter(user=dupont.user).update(can_manage_billing=True)
    mandate_create(
        customer=dupont.customer,
        data=MandateInput(
            debtor_name="Garage Dupont SAS",
            iban="FR7630006000011234567890189",
            signed_on=date(2026, 11, 2),
            signed_place="Dijon",
            signer_name="Marie Dupont",
        ),
        today=date(2026, 11, 2),
    )
    client.force_login(dupont.user)
    return client.cookies["sessionid"].value


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_billing_section_fits_a_laptop_and_a_phone(
    removable_invoices, billing_manager_session, live_server, browser, language
):
    """The billing section and the mandate page at 1280 and 390 px: nothing scrolls sideways.
    Screenshots are left in SCREENSHOTS_DIR when it is set, to be looked at."""
    cookies = [
        {"name": "sessionid", "value": billing_manager_session, "url": live_server.url},
        {"name": "django_language", "value": language, "url": live_server.url},
    ]
    shots = os.environ.get("SCREENSHOTS_DIR")
    pages = {
        "billing": f"{live_server.url}/dealers/garage-dupont/billing/",
        "mandate": f"{live_server.url}/dealers/garage-dupont/billing/mandate/",
    }
    for width, height in ((1280, 900), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.add_cookies(cookies)
        page = context.new_page()
        page.set_default_timeout(15_000)
        for name, url in pages.items():
            page.goto(url)
            assert page.locator("html").get_attribute("lang") == language
            fit = page.evaluate(
                "() => ({page: document.documentElement.scrollWidth, viewport: innerWidth})"
            )
            assert fit["page"] <= fit["viewport"], (name, width, fit)
            if shots:
                page.screenshot(path=f"{shots}/{name}-{language}-{width}.png", full_page=True)
        context.close()
