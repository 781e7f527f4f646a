"""Logging in, out, resetting a password, and the lock-out after repeated failures (django-axes),
which a forged X-Forwarded-For header does not get round."""

import re
from datetime import UTC, datetime

import pytest
from django.core import mail
from django.urls import reverse

from billing.invoicing.issue import invoice_cancel
from billing.months import current_month
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NBSP = "\N{NO-BREAK SPACE}"


@pytest.fixture
def dealer(dealers, clock):
    # django-axes reads the real clock (it imported `now` before the tests' clock is set):
    # give the billing clock the real time, as in production.
    clock.now = datetime.now(UTC)
    return dealers["dupont"]


def login(client, username, password, **headers):
    return client.post(reverse("login"), {"username": username, "password": password}, **headers)


def test_the_login_page_is_the_portals_and_french_by_default(client):
    html = client.get(reverse("login")).content.decode()
    assert '<html lang="fr">' in html
    assert "Connexion à vos Chatpoints" in html
    assert 'href="/static/css/portal.css"' in html


def test_a_dealer_logs_in_lands_on_their_report_and_logs_out(client, dealer):
    response = login(client, "dupont", "a-good-password-1")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    # The current month in the billing time zone (the clock is the real one here).
    assert client.get("/", follow=True).redirect_chain[-1][0] == (
        f"/dealers/garage-dupont/report/{current_month()}/"
    )
    response = client.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    assert client.get("/report/")["Location"].startswith(reverse("login"))


def test_a_wrong_password_says_so_without_saying_which_part(client, dealer):
    html = login(client, "dupont", "wrong").content.decode()
    assert "Saisissez un nom d’utilisateur et un mot de passe valides." in html


def test_five_failures_lock_the_login_even_with_the_right_password(client, dealer):
    for _ in range(4):
        assert login(client, "dupont", "wrong").status_code == 200
    assert login(client, "dupont", "wrong").status_code == 429  # the fifth failure locks
    locked = login(client, "dupont", "a-good-password-1")
    assert locked.status_code == 429
    assert "Trop de tentatives" in locked.content.decode()
    assert "15 minutes" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_forged_x_forwarded_for_does_not_escape_the_lock_out(client, dealer):
    """Each attempt claims another address: the lock still counts REMOTE_ADDR (and the user)."""
    for n in range(5):
        login(client, "nobody", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    response = login(client, "dupont", "a-good-password-1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 429


def test_one_user_name_is_locked_whatever_the_address(client, dealer):
    for n in range(5):
        login(client, "dupont", "wrong", REMOTE_ADDR=f"192.0.2.{n}")
    assert login(client, "dupont", "a-good-password-1", REMOTE_ADDR="192.0.2.99").status_code == (
        429
    )


def test_behind_our_own_proxy_the_address_it_appended_counts(rf, settings):
    from config.security import client_ip

    settings.TRUSTED_PROXY_COUNT = 1
    request = rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7", REMOTE_ADDR="10.0.0.1")
    assert client_ip(request) == "198.51.100.7"  # what the client wrote (6.6.6.6) is ignored
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.1"


def test_a_password_reset_by_e_mail(client, dealer, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = client.post(reverse("password_reset"), {"email": "dupont@garage-dupont.example"})
    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Votre mot de passe Chatpoints"
    link = re.search(r"https?://[^/]+(/accounts/password-reset/\S+/)", message.body).group(1)
    form = client.get(link, follow=True)
    assert "Choisir un nouveau mot de passe" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "Une-autre-phrase-42", "new_password2": "Une-autre-phrase-42"},
    )
    assert done["Location"] == reverse("password_reset_complete")
    assert login(client, "dupont", "Une-autre-phrase-42").status_code == 302


def test_unknown_e_mail_addresses_get_the_same_answer_and_no_mail(client, dealer, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = client.post(reverse("password_reset"), {"email": "who@example.com"})
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_a_user_without_any_dealer_is_told_so(client, db):
    client.force_login(UserFactory(username="lonely"))
    response = client.get("/report/")
    assert response.status_code == 200
    assert "Aucun concessionnaire" in response.content.decode()


def test_a_dealer_group_switches_between_its_sites(client, dealers):
    group = UserFactory(username="groupe")
    for dealer in dealers.values():
        dealer.customer.accesses.create(user=group)
    client.force_login(group)
    html = client.get("/dealers/lyon-auto/report/2026-10/").content.decode()
    assert "Changer de concessionnaire" in html
    assert 'href="/dealers/garage-dupont/report/"' in html
    # The short URLs follow the dealer chosen last.
    assert client.get("/invoices/")["Location"] == "/dealers/lyon-auto/invoices/"
    client.get("/dealers/garage-dupont/report/")
    assert client.get("/invoices/")["Location"] == "/dealers/garage-dupont/invoices/"


def test_the_invoices_page_and_the_stored_pdf(client, dealers, clock):
    dupont = dealers["dupont"]
    client.force_login(dupont.user)
    note = invoice_cancel(invoice=dupont.invoice)
    html = client.get(reverse("portal:invoices", kwargs={"customer": "garage-dupont"})).content
    html = html.decode()
    assert dupont.invoice.number in html and note.number in html
    assert f"Annulée par {note.number}" in html
    assert f"Annule {dupont.invoice.number}" in html
    assert f"402,84{NBSP}€" in html  # 335.70 + 20 % VAT
    assert f"-402,84{NBSP}€" in html
    assert "Octobre 2026" in html
    assert dealers["lyon"].invoice.number not in html
    response = client.get(
        reverse(
            "portal:invoice_pdf",
            kwargs={"customer": "garage-dupont", "number": note.number},
        )
    )
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{note.number}.pdf"'
    note.refresh_from_db()
    assert response.content == bytes(note.pdf)


def test_staff_find_the_dealer_report_on_the_customer_page(admin_client, dealers):
    customer = dealers["dupont"].customer
    html = admin_client.get(
        reverse("admin:customers_customer_change", args=[customer.pk])
    ).content.decode()
    assert 'href="/dealers/garage-dupont/report/"' in html
    assert admin_client.get("/dealers/garage-dupont/report/2026-10/").status_code == 200


def test_staff_start_from_the_admin_then_the_short_urls_follow_their_last_report(
    client, dealers, staff_viewer
):
    client.force_login(staff_viewer)
    assert client.get("/")["Location"] == reverse("admin:index")
    client.get("/dealers/lyon-auto/report/")
    assert client.get("/invoices/")["Location"] == "/dealers/lyon-auto/invoices/"


def test_logging_into_ones_own_account_does_not_wipe_the_failures_on_another(client, dealer):
    """The failures on a user name are forgotten when *that* user logs in, not when anyone
    logs in from the same address."""
    UserFactory(username="attacker")
    for _ in range(4):
        login(client, "dupont", "wrong")
        assert login(client, "attacker", "a-good-password-1").status_code == 302
        client.post(reverse("logout"))
    assert login(client, "dupont", "wrong").status_code == 429


def test_a_successful_login_forgets_the_users_own_failures(client, dealer):
    for _ in range(4):
        login(client, "dupont", "wrong")
    assert login(client, "dupont", "a-good-password-1").status_code == 302
    client.post(reverse("logout"))
    for _ in range(4):
        assert login(client, "dupont", "wrong").status_code == 200


def test_odd_urls_are_not_found(client, dealer):
    client.force_login(dealer.user)
    for url in [
        "/dealers/garage%00/invoices/",
        "/dealers/garage-dupont/invoices/%00.pdf",
        "/dealers/GARAGE-DUPONT/report/",
        "/dealers/garage-dupont/report/2026-1/",
    ]:
        assert client.get(url).status_code == 404, url
    assert client.head("/dealers/garage-dupont/invoices/").status_code == 200


def test_the_portal_is_french_until_english_is_chosen(client, dealer):
    client.force_login(dealer.user)
    url = "/dealers/garage-dupont/invoices/"
    english_browser = {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}
    assert '<html lang="fr">' in client.get(url, **english_browser).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": url})
    assert '<html lang="en">' in client.get(url).content.decode()
    assert '<html lang="en">' in client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
