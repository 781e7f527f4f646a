"""The customer, tariff and chat lists fit a 1440 px wide screen, in French and in English
(headless Chromium, Debian's, driven by Playwright)."""

import os
import shutil
from datetime import UTC, date, datetime

import pytest
from django.conf import settings as django_settings
from django.db import connection

from billing.models import ChatEvent
from billing.usage.store import events_ingest, events_void
from tests.factories import CustomerFactory, UserFactory, enterprise_terms, subscribe

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
LISTS = [
    "/admin/customers/customer/",
    "/admin/billing/tariff/",
    "/admin/billing/chatevent/",
]


@pytest.fixture
def browser(settings):
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: the layout test needs Debian's chromium")
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    # The server's request threads close their connections after each request.
    max_age = connection.settings_dict.get("CONN_MAX_AGE", 0)
    connection.settings_dict["CONN_MAX_AGE"] = 0
    try:
        with sync_playwright() as playwright:
            # The test's code runs inside Playwright's event loop, with a connection of its own:
            # another browser test may have ended it (it ends the server's leftover ones).
            if connection.connection is not None and not connection.is_usable():
                connection.close()
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            yield chromium
            chromium.close()
            connection.close()  # the one the test's code used, in Playwright's loop
        if connection.vendor == "postgresql":
            # A request thread of the live server can leave its connection open: end it, or
            # the test database cannot be dropped afterwards.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = max_age
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def demo_like_rows():
    """Rows as wide as the demo's: long codes and names, every plan, late and voided chats."""
    dealers = [
        ("lyon-automobiles", "Lyon Automobiles SA", "Lyon", "FR", "GROW"),
        ("paris-premium", "Paris Premium Cars SAS", "Paris", "FR", "SCALE"),
        ("bavaria-cars", "Bavaria Cars GmbH", "München", "DE", "ENTERPRISE"),
        ("dublin-motors", "Dublin Motors Ltd", "Dublin", "IE", "GROW"),
        ("auto-bretagne", "Auto Bretagne SAS", "Quimper", "FR", "BASE"),
    ]
    for code, name, city, country, plan in dealers:
        customer = CustomerFactory(code=code, legal_name=name, city=city, country=country)
        terms = enterprise_terms() if plan == "ENTERPRISE" else {}
        subscribe(customer, plan, first_month=date(2025, 11, 1), **terms)
    tariffs = [
        ("showroom_visit", "agent", None),
        ("contact_engaged", "team", "contact-0013"),
        ("whatsapp_standard_reply", "bot", "visitor-452918"),
        ("tradein_valuation", "agent", "visitor-669676"),
    ]
    events = []
    for index, (code, *_rest) in enumerate(dealers):
        for number, (tariff, actor, contact) in enumerate(tariffs):
            events.append(
                {
                    "id": f"demo-{code}-2026-11-{index * 10 + number:05d}",
                    "customer": code,
                    "tariff": tariff,
                    "actor": actor,
                    "contact": contact,
                    "occurred_at": f"2026-11-{10 + number}T19:58:00+01:00",
                }
            )
    events_ingest(source="demo", events=events, now=datetime(2026, 11, 30, tzinfo=UTC))
    ChatEvent.objects.filter(external_id__endswith="00001").update(late=True)
    events_void(
        events=ChatEvent.objects.filter(external_id__endswith="00002"),
        reason="test",
        user=None,
    )


# The browser talks to a live server thread: the data must be committed. serialized_rollback
# brings back what the migrations load (plans, tariffs), as the other browser test expects.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_lists_fit_1440_px(browser, live_server, client):
    demo_like_rows()
    boss = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(boss)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    widths = {}
    for language in ("fr", "en"):
        context = browser.new_context(
            viewport={"width": 1440, "height": 900},
            locale=language,
            timezone_id="Europe/Paris",
            extra_http_headers={"Accept-Language": language},
        )
        context.add_cookies(
            [
                {
                    "name": django_settings.SESSION_COOKIE_NAME,
                    "value": session,
                    "url": live_server.url,
                }
            ]
        )
        page = context.new_page()
        for path in LISTS:
            page.goto(live_server.url + path)
            assert page.locator("#result_list tbody tr").count() > 0, path
            widths[language, path] = page.evaluate(
                "[document.documentElement.scrollWidth,"
                " document.querySelector('#result_list').scrollWidth,"
                " document.querySelector('.results').clientWidth]"
            )
        context.close()
    for (language, path), (page_width, table, box) in widths.items():
        assert page_width <= 1440, (language, path, page_width)
        assert table <= box, (language, path, table, box)
