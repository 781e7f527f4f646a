"""What the browser may do with the portal's pages: keep none (a dealer's financial data), run
no script, load only our own CSS and images (config/headers.py)."""

import re

import pytest
from django.urls import reverse

from config.headers import ADMIN_CSP, PORTAL_CSP
from tests.factories import UserFactory

from .conftest import NOVEMBER, OCTOBER

pytestmark = pytest.mark.django_db

# What PORTAL_CSP refuses in a page: inline styles and scripts, event handler attributes.
BLOCKED_BY_THE_POLICY = re.compile(r"<script|<style|\sstyle\s*=|\son[a-z]+\s*=", re.IGNORECASE)


def portal_urls(dealer):
    code = dealer.customer.code
    return {
        "home": (reverse("portal:home"), 302),
        "short_report": (reverse("portal:short_report"), 302),
        "short_invoices": (reverse("portal:short_invoices"), 302),
        "report_index": (reverse("portal:report_index", args=[code]), 302),
        "report, issued month": (reverse("portal:report", args=[code, str(OCTOBER)]), 200),
        "report, month in progress": (reverse("portal:report", args=[code, str(NOVEMBER)]), 200),
        "report, filtered, page 2": (
            reverse("portal:report", args=[code, str(OCTOBER)]) + "?actor=agent&page=2",
            200,
        ),
        "csv": (reverse("portal:report_csv", args=[code, str(OCTOBER)]), 200),
        "invoices": (reverse("portal:invoices", args=[code]), 200),
        "invoice pdf": (reverse("portal:invoice_pdf", args=[code, dealer.invoice.number]), 200),
        "another dealer's report": (
            reverse("portal:report", args=["lyon-auto", str(OCTOBER)]),
            404,
        ),
    }


def test_no_portal_page_is_kept_by_any_cache(client, dealers):
    dupont = dealers["dupont"]
    client.force_login(dupont.user)
    for name, (url, status) in portal_urls(dupont).items():
        response = client.get(url)
        assert response.status_code == status, name
        assert response["Cache-Control"] == "private, no-store", name


def test_every_portal_html_page_has_the_strict_policy_and_nothing_it_would_block(client, dealers):
    dupont = dealers["dupont"]
    client.force_login(dupont.user)
    for name, (url, status) in portal_urls(dupont).items():
        response = client.get(url)
        if not response["Content-Type"].startswith("text/html"):
            assert "Content-Security-Policy" not in response, name  # CSV, PDF: downloads
            continue
        assert response["Content-Security-Policy"] == PORTAL_CSP, name
        if status == 200:
            html = response.content.decode()
            assert not BLOCKED_BY_THE_POLICY.findall(html), name
    # The gauge over the included points (an overage) and the chart, drawn with attributes.
    html = client.get(portal_urls(dupont)["report, issued month"][0]).content.decode()
    assert '<rect class="gauge-over"' in html and '<line class="gauge-mark"' in html
    assert '<g class="bars">' in html


def test_the_policy_and_no_caching_on_the_pages_around_the_portal(client):
    user = UserFactory(username="nobody")  # a dealer user not given any customer yet
    pages = [
        reverse("login"),
        reverse("password_reset"),
        "/no-such-page/",
    ]
    for url in pages:
        response = client.get(url)
        assert response["Content-Security-Policy"] == PORTAL_CSP, url
        assert not BLOCKED_BY_THE_POLICY.findall(response.content.decode()), url
    client.force_login(user)
    response = client.get(reverse("portal:home"))
    assert response.status_code == 200
    assert response.templates[0].name == "billing/portal/no_customer.html"
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Security-Policy"] == PORTAL_CSP


def test_the_admin_keeps_its_scripts_under_a_looser_policy_and_the_api_has_none(client, admin_user):
    client.force_login(admin_user)
    admin = client.get(reverse("admin:index"))
    assert admin.status_code == 200
    assert admin["Content-Security-Policy"] == ADMIN_CSP
    assert "script-src" not in ADMIN_CSP and "frame-ancestors 'none'" in ADMIN_CSP
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert "Content-Security-Policy" not in schema
