"""What staff and customers read: French wording (elision, capitals, decimal commas, plan names in
the page's language, credit notes called so), words instead of a red icon for a neutral "no",
labels beside tariff codes, and no reference to internal documents."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polib
import pytest
from django.contrib import admin
from django.core import mail
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from billing.invoicing.drafts import invoices_draft
from billing.invoicing.emails import invoice_send, of_month
from billing.models import ChatEvent, Invoice, Plan, Tariff
from billing.months import Month
from billing.usage.store import events_ingest
from customers.models import Customer
from tests.factories import CustomerFactory, UserFactory, subscribe

pytestmark = pytest.mark.django_db
LOCALE = Path(__file__).resolve().parents[2] / "locale"


@pytest.fixture
def staff(client, clock):
    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    user = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def page(client, url, language="fr"):
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, url
    return response.content.decode()


def _issued(customer, month, number, **fields):
    return Invoice.objects.create(
        customer=customer,
        month=month,
        status="issued",
        issued_at=datetime(2026, 11, 2, tzinfo=UTC),
        issue_date=date(2026, 11, 2),
        due_date=date(2026, 12, 2),
        series=number[:2] if number.startswith("AV") else "F",
        year=2026,
        sequence=int(number[-5:]),
        number=number,
        language=customer.language,
        total=Decimal("598.80"),
        seller={"legal_name": "Chatpoints SAS"},
        pdf=b"%PDF-1.4 test",
        **fields,
    )


# --- The invoice e-mail ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "french", "english"),
    [
        (4, "d'avril 2026", "of April 2026"),
        (8, "d'août 2026", "of August 2026"),
        (10, "d'octobre 2026", "of October 2026"),
        (11, "de novembre 2026", "of November 2026"),
        (3, "de mars 2026", "of March 2026"),
    ],
)
def test_the_month_after_de_is_elided_before_a_vowel(month, french, english):
    with translation.override("fr"):
        assert of_month(date(2026, month, 1)) == french
    with translation.override("en"):
        assert of_month(date(2026, month, 1)) == english


@pytest.mark.parametrize("month", range(1, 13))
def test_every_month_of_the_french_e_mail_reads_well(month):
    with translation.override("fr"):
        phrase = of_month(date(2026, month, 1))
    assert not re.search(r"\bde [aeiouyàâéèêîôû]", phrase), phrase
    assert phrase.endswith(" 2026")


def test_the_invoice_and_credit_note_e_mails_say_d_octobre():
    customer = CustomerFactory(code="lyon-automobiles", language="fr")
    invoice = _issued(customer, date(2026, 10, 1), "F2026-00007")
    note = _issued(
        customer, date(2026, 10, 1), "AV2026-00001", kind="credit_note", credited_invoice=invoice
    )
    invoice_send(invoice_id=invoice.pk)
    invoice_send(invoice_id=note.pk)
    bodies = [message.body for message in mail.outbox]
    assert "de vos Chatpoints d'octobre 2026\xa0: " in bodies[0]
    assert "qui annule la facture F2026-00007 d'octobre 2026." in bodies[1]
    assert not any("de octobre" in body for body in bodies)


def test_the_english_e_mail_reads_of_october():
    customer = CustomerFactory(code="dublin-motors", country="IE", language="en")
    invoice = _issued(customer, date(2026, 10, 1), "F2026-00008")
    invoice_send(invoice_id=invoice.pk)
    assert "for your Chatpoints of October 2026: " in mail.outbox[0].body


# --- Plan names in the page's language -----------------------------------------------------------


@pytest.fixture
def two_languages():
    french = CustomerFactory(code="lyon-automobiles", language="fr")
    english = CustomerFactory(code="dublin-motors", country="IE", language="en")
    subscribe(french, "GROW", first_month=date(2026, 1, 1))
    subscribe(
        english,
        "ENTERPRISE",
        first_month=date(2026, 1, 1),
        custom_monthly_fee=Decimal("2400.00"),
        custom_included_points=30000,
        custom_price_per_extra_point=Decimal("0.1150"),
    )
    return french, english


def _plan_cells(html):
    return re.findall(r"<td>(Croissance|Grow|Entreprise|Enterprise)</td>", html)


def test_the_month_close_page_names_plans_in_its_own_language(client, staff, two_languages):
    invoices_draft(month=Month(2026, 10))
    assert set(Invoice.objects.values_list("plan_name", flat=True)) == {"Croissance", "Enterprise"}
    url = reverse("admin:billing_invoice_close") + "?month=2026-10"
    assert _plan_cells(page(client, url, "fr")) == ["Entreprise", "Croissance"]
    assert _plan_cells(page(client, url, "en")) == ["Enterprise", "Grow"]


def test_the_customer_list_names_plans_in_its_own_language(client, staff, two_languages):
    url = reverse("admin:customers_customer_changelist")
    french = page(client, url, "fr")
    assert "Croissance" in french and "Entreprise" in french
    assert "Grow" not in french and "ENTERPRISE" not in french
    english = page(client, url, "en")
    assert "Grow" in english and "Enterprise" in english


# --- A credit note is called a credit note ----------------------------------------------------


def test_a_credit_note_page_is_titled_credit_note(client, staff):
    customer = CustomerFactory(code="lyon-automobiles")
    invoice = _issued(customer, date(2026, 10, 1), "F2026-00007")
    note = _issued(
        customer, date(2026, 10, 1), "AV2026-00001", kind="credit_note", credited_invoice=invoice
    )

    def title(obj, language):
        html = page(client, reverse("admin:billing_invoice_change", args=[obj.pk]), language)
        return re.search(r"<h1>(.*?)</h1>", html).group(1)

    assert title(note, "fr") == "Affichage de l&#x27;avoir"
    assert title(note, "en") == "View credit note"
    assert title(invoice, "fr") == "Affichage de facture"  # Django's own wording


# --- Capitalised labels, decimal commas -------------------------------------------------------


def _labels(html):
    texts = (
        re.sub(r"<[^>]+>", "", label).strip().removesuffix(":").strip()
        for label in re.findall(r"<label[^>]*>(.*?)</label>", html, re.S)
    )
    return [text for text in texts if text]


@pytest.fixture
def a_row_everywhere(staff, two_languages):
    french, _english = two_languages
    events_ingest(
        source="platform",
        events=[
            {
                "id": "c1",
                "customer": french.code,
                "tariff": "test_drive",
                "actor": "agent",
                "occurred_at": "2026-10-10T10:00:00+02:00",
            }
        ],
    )
    invoices_draft(month=Month(2026, 10))
    return french


def test_every_label_of_our_admin_forms_starts_with_a_capital_in_french(client, a_row_everywhere):
    pages = []
    for model in admin.site._registry:
        if model._meta.app_label not in ("billing", "customers"):
            continue
        info = (model._meta.app_label, model._meta.model_name)
        row = model._default_manager.first()
        if row is not None:
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[row.pk]))
        pages.append(reverse("admin:{}_{}_add".format(*info)))
    checked = 0
    for url in pages:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="fr")
        if response.status_code == 403:
            continue  # no add page (invoices, tariff history)
        assert response.status_code == 200, url
        for label in _labels(response.content.decode()):
            checked += 1
            assert not label[0].islower(), f"{url}: {label!r}"
    assert checked > 50
    html = page(client, reverse("admin:customers_customer_change", args=[a_row_everywhere.pk]))
    assert "Numéro de TVA" in _labels(html)


def test_the_customer_form_writes_and_reads_decimals_as_the_page_language_does(
    client, staff, two_languages
):
    customer, _english = two_languages
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    assert 'name="vat_rate" value="20,00"' in page(client, url, "fr")
    assert 'name="vat_rate" value="20.00"' in page(client, url, "en")
    request = RequestFactory().get(url)
    request.user = staff
    form_class = admin.site._registry[Customer].get_form(request, customer)
    data = {
        "code": customer.code,
        "legal_name": customer.legal_name,
        "address": customer.address,
        "postal_code": customer.postal_code,
        "city": customer.city,
        "country": customer.country,
        "siren": customer.siren,
        "language": customer.language,
        "billing_emails": customer.billing_emails,
    }
    with translation.override("fr"):
        form = form_class(data={**data, "vat_rate": "5,5"}, instance=customer)
        assert form.is_valid(), form.errors
        assert form.cleaned_data["vat_rate"] == Decimal("5.5")
        assert form_class(data={**data, "vat_rate": "20.00"}, instance=customer).is_valid()
        wrong = form_class(data={**data, "vat_rate": "vingt"}, instance=customer)
        assert not wrong.is_valid() and "vat_rate" in wrong.errors


def test_the_subscription_and_plan_forms_show_decimal_commas(client, staff, two_languages):
    _french, english = two_languages
    html = page(client, reverse("admin:customers_customer_change", args=[english.pk]))
    assert 'value="2400,00"' in html and 'value="0,1150"' in html
    add_plan = page(client, reverse("admin:billing_plan_add"))
    assert 'name="monthly_fee"' in add_plan and 'type="number" name="monthly_fee"' not in add_plan


# --- No red icon for a neutral "no" -----------------------------------------------------------


def test_no_red_icon_says_no_for_a_normal_chat_or_plan(client, a_row_everywhere):
    event = ChatEvent.objects.get(external_id="c1")
    assert not event.late
    html = page(client, reverse("admin:billing_chatevent_change", args=[event.pk]))
    assert "icon-no.svg" not in html
    assert re.search(r"En retard.*?<div class=\"readonly\">non</div>", html, re.S)
    ChatEvent.objects.filter(pk=event.pk).update(late=True)
    late = page(client, reverse("admin:billing_chatevent_change", args=[event.pk]), "en")
    assert "yes: its month&#x27;s invoice was issued before it arrived" in late
    plans = page(client, reverse("admin:billing_plan_changelist"))
    assert "icon-no.svg" not in plans and "icon-yes.svg" not in plans
    grow = Plan.objects.get(code="GROW")
    assert "icon-no.svg" not in page(client, reverse("admin:billing_plan_change", args=[grow.pk]))


def test_no_page_of_ours_shows_the_red_icon(client, a_row_everywhere):
    for model, _model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("billing", "customers"):
            continue
        info = (model._meta.app_label, model._meta.model_name)
        html = page(client, reverse("admin:{}_{}_changelist".format(*info)))
        assert "icon-no.svg" not in html, model
        for row in model._default_manager.all()[:3]:
            html = page(client, reverse("admin:{}_{}_change".format(*info), args=[row.pk]))
            assert "icon-no.svg" not in html, (model, row.pk)


# --- Tariffs by their label; no internal references -------------------------------------------


def test_the_tariff_list_shows_each_label_beside_its_code(client, staff):
    url = reverse("admin:billing_tariff_changelist")
    french, english = page(client, url, "fr"), page(client, url, "en")
    for tariff in Tariff.objects.all():
        assert tariff.code in french
        assert tariff.description_fr.replace("'", "&#x27;") in french
        assert tariff.description_en.replace("'", "&#x27;") in english


def test_the_chat_pages_show_the_tariff_label_beside_its_code(client, a_row_everywhere):
    label = 'Rendez-vous pour un essai <code class="code">test_drive</code>'
    html = page(client, reverse("admin:billing_chatevent_changelist"))
    assert label in html
    assert "Rendez-vous pour un essai (test_drive)</a>" in html  # the tariff filter
    event = ChatEvent.objects.get(external_id="c1")
    assert label in page(client, reverse("admin:billing_chatevent_change", args=[event.pk]))
    english = page(client, reverse("admin:billing_tariffrate_changelist"), "en")
    assert 'Test drive appointment <code class="code">test_drive</code>' in english
    assert "Test drive appointment (test_drive)</a>" in english


def test_an_invoice_names_the_actors_in_the_page_language(client, a_row_everywhere):
    customer = a_row_everywhere
    invoice = _issued(
        customer,
        date(2026, 9, 1),
        "F2026-00009",
        usage=[
            {
                "tariff": "test_drive",
                "description": "Rendez-vous pour un essai",
                "category": "sales_leads",
                "actor": "bot",
                "chats": 2,
                "points": 80,
                "contacts": 0,
            }
        ],
    )
    html = page(client, reverse("admin:billing_invoice_change", args=[invoice.pk]))
    assert "<td>chatbot</td>" in html and "<td>bot</td>" not in html
    assert '"fieldset-heading">Détail des Chatpoints</h2>' in html
    assert re.search(r">\s*Lignes\s*<", html)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_no_user_facing_string_refers_to_internal_documents_or_rule_numbers(language):
    po = polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))
    internal = re.compile(r"DOMAIN\.md|DESIGN\.md|\b(rules?|règles?) \d", re.IGNORECASE)
    found = [entry.msgstr for entry in po if internal.search(entry.msgstr or entry.msgid)]
    assert found == []


def test_the_late_help_text_explains_itself():
    help_text = str(ChatEvent._meta.get_field("late").help_text)
    assert "DOMAIN" not in help_text and "credit note" in help_text
