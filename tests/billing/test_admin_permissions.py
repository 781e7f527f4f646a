"""Every admin action and every custom admin page asks for an explicit permission.

The actions and pages are found in the admin site's registry, not listed by hand: an action or a
page added later without a permission check fails `test_a_view_only_user_*`, and one missing from
the tables below fails `test_every_action_and_page_has_its_permission_listed`.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.test import RequestFactory
from django.urls import reverse

from billing.invoicing.content import _buyer
from billing.invoicing.drafts import invoices_draft
from billing.invoicing.facturx import facturx_xml_from_pdf
from billing.invoicing.issue import _seller
from billing.models import ApiToken, ChatEvent, Invoice, InvoiceLine
from billing.months import Month
from billing.payments.debits import direct_debit_notices_send, direct_debits_export
from billing.payments.methods import MandateInput, mandate_create
from billing.usage.store import events_ingest
from billing.usage.tokens import api_token_create
from tests.factories import CustomerFactory, UserFactory, due_invoice, subscribe

pytestmark = pytest.mark.django_db

# Each action that does something, and the permission that lets a user run it. Django's own
# "delete_selected" asks for the model's delete permission: never given on billing's models.
ACTION_PERMISSIONS = {
    "billing.invoice:issue_drafts": "billing.issue_invoice",
    "billing.invoice:cancel_with_credit_note": "billing.cancel_invoice",
    "billing.invoice:send_again": "billing.issue_invoice",
    "billing.invoice:record_payment": "billing.issue_invoice",
    "billing.chatevent:void_events": "billing.void_chatevent",
    "billing.apitoken:revoke": "billing.add_apitoken",
    "billing.mandate:revoke_selected": "billing.change_mandate",
    "billing.bankentry:match_to_invoice": "billing.add_payment",
    "axes.accessattempt:cleanup_expired_attempts": "axes.delete_accessattempt",
}

# Each custom page (a ModelAdmin's get_urls beyond Django's own), and the permission that lets a
# user use it: for a page that changes something, the permission its POST needs.
PAGE_PERMISSIONS = {
    "billing_invoice_close": "billing.issue_invoice",
    "billing_invoice_close_progress": "billing.view_invoice",
    "billing_invoice_pdf": "billing.view_invoice",
    "billing_invoice_xml": "billing.view_invoice",
    "billing_invoice_accounting_export": "billing.view_payment",  # and view_invoice
    "billing_chatevent_import": "billing.add_chatevent",
    "billing_directdebitbatch_export": "billing.add_directdebitbatch",
    "billing_directdebitbatch_xml": "billing.view_directdebitbatch",
    "billing_bankstatement_import": "billing.add_bankstatement",
    "auth_user_password_change": "auth.change_user",
}

_STANDARD_PAGES = ("changelist", "add", "history", "delete", "change")
_SITE_PAGES = {
    "index",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "autocomplete",
    "jsi18n",
    "view_on_site",
    "app_list",
    "all_models",  # the stock index, under the dashboard (billing.admin.dashboard)
}


def _label(model) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def registered_actions():
    """(model, action name) of every action of every registered ModelAdmin."""
    found = []
    for model, model_admin in admin.site._registry.items():
        for _function, name, _description in model_admin._get_base_actions():
            found.append((model, name))
    return sorted(found, key=lambda item: (_label(item[0]), item[1]))


def custom_pages():
    """(model or None, URL pattern) of every admin page that is not one of Django's own."""
    found = []
    for model, model_admin in admin.site._registry.items():
        prefix = f"{model._meta.app_label}_{model._meta.model_name}"
        own = {f"{prefix}_{page}" for page in _STANDARD_PAGES}
        found += [(model, u) for u in model_admin.get_urls() if u.name and u.name not in own]
    found += [
        (None, url)
        for url in admin.site.get_urls()
        if getattr(url, "name", None) and url.name not in _SITE_PAGES
    ]
    return sorted(found, key=lambda item: item[1].name)


ACTIONS = registered_actions()
PAGES = custom_pages()


def test_every_action_and_page_has_its_permission_listed():
    for model, name in ACTIONS:
        if name == "delete_selected":
            continue
        assert f"{_label(model)}:{name}" in ACTION_PERMISSIONS, (
            f"new admin action {_label(model)}:{name}: give it @admin.action(permissions=[…]) "
            "and list it in ACTION_PERMISSIONS"
        )
    assert {url.name for _model, url in PAGES} == set(PAGE_PERMISSIONS)
    for model, name in ACTIONS:
        function = admin.site._registry[model].get_action(name)[0]
        assert getattr(function, "allowed_permissions", None), f"{_label(model)}:{name}"
        assert set(function.allowed_permissions) != {"view"}, f"{_label(model)}:{name}"


# --- A world with a row in every list ---------------------------------------------------------


@pytest.fixture
def world(clock):
    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    boss = UserFactory(username="boss", is_staff=True, is_superuser=True)
    Group.objects.create(name="accounting")
    customer = CustomerFactory(code="lyon-automobiles", legal_name="Lyon Automobiles SAS")
    subscribe(customer, "GROW", first_month=date(2026, 1, 1))
    events_ingest(
        source="platform",
        events=[
            {
                "id": f"c{n}",
                "customer": customer.code,
                "tariff": "test_drive",
                "actor": "agent",
                "occurred_at": f"2026-10-{10 + n}T10:00:00+02:00",
            }
            for n in range(3)
        ],
    )
    invoices_draft(month=Month(2026, 10))
    issued = Invoice.objects.create(  # an issued invoice of September, with its PDF bytes
        customer=customer,
        month=date(2026, 9, 1),
        status="draft",  # issued below, once its line is in
        issued_at=datetime(2026, 10, 2, tzinfo=UTC),
        issue_date=date(2026, 10, 2),
        due_date=date(2026, 11, 1),
        series="T",
        year=2026,
        sequence=1,
        number="T2026-00001",
        net_total="499.00",
        vat_rate="20.00",
        vat_amount="99.80",
        total="598.80",
        vat_treatment="standard",
        seller=_seller(),
        buyer=_buyer(customer),
        pdf=b"%PDF-1.4 test",
    )
    InvoiceLine.objects.create(
        invoice=issued,
        position=1,
        kind="plan_fee",
        description="Plan Croissance — septembre 2026",
        quantity=1,
        unit_price="499.00",
        amount="499.00",
    )
    issued.status = "issued"
    issued.save()
    api_token_create(source="platform", user=boss)
    mandate_create(
        customer=customer,
        data=MandateInput(
            debtor_name="Lyon Automobiles SAS",
            iban="FR7630006000011234567890189",
            signed_on=date(2026, 11, 2),
            signed_place="Lyon",
            signer_name="Paul Martin",
        ),
    )
    direct_debit_notices_send()  # the issued invoice, collected on 8 November
    direct_debits_export(collection_date=date(2026, 11, 8))
    return {"boss": boss, "customer": customer, "issued": issued}


def login(client, user):
    """Log in, then leave an expired login attempt behind (logging in cleans them up)."""
    from axes.models import AccessAttempt

    client.force_login(user)
    attempt = AccessAttempt.objects.create(
        username="someone",
        ip_address="192.0.2.1",
        user_agent="test",
        get_data="",
        post_data="",
        failures_since_start=3,
    )
    AccessAttempt.objects.filter(pk=attempt.pk).update(
        attempt_time=attempt.attempt_time - timedelta(days=30)
    )


def staff_user(username, *codenames):
    """A staff user with view permission on every registered model, and `codenames` (app.perm)."""
    user = UserFactory(username=username, is_staff=True)
    views = [
        Permission.objects.get(
            content_type__app_label=model._meta.app_label,
            codename=f"view_{model._meta.model_name}",
        )
        for model in admin.site._registry
    ]
    extra = [
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in (name.split(".") for name in codenames)
    ]
    user.user_permissions.add(*views, *extra)
    return type(user).objects.get(pk=user.pk)  # no cached permissions


def snapshot():
    """Every row of every table (sessions aside): what a refused request must leave as it was."""
    state = {}
    for model in apps.get_models():
        if model._meta.label == "sessions.Session" or model._meta.proxy:
            continue
        state[model._meta.label] = [
            {k: bytes(v) if isinstance(v, memoryview) else v for k, v in row.items()}
            for row in model._default_manager.order_by("pk").values()
        ]
    return state


def _action_posts(model, name):
    """The ways an action is posted: straight from the list, and confirmed from its own page."""
    selected = [str(pk) for pk in model._default_manager.values_list("pk", flat=True)]
    base = {"action": name, "_selected_action": selected}
    return [
        {**base, "index": "0"},
        {**base, "select_across": "1", "index": "0"},
        {
            **base,
            "confirm": "1",
            "reason": "test",
            "paid_on": "2026-11-02",
            "select_across": "1",
        },
    ]


def _page_urls(model, url):
    """The URLs of a custom page: one per row of its model when it takes an id."""
    if not url.pattern.converters:
        return [reverse(f"admin:{url.name}")]
    (name,) = url.pattern.converters
    rows = model._default_manager.values_list("pk", flat=True) if model else []
    return [reverse(f"admin:{url.name}", kwargs={name: pk}) for pk in rows]


def _page_posts():
    csv = (
        "id,customer,tariff,actor,occurred_at\n"
        "new-1,lyon-automobiles,test_drive,agent,2026-11-02T10:00:00+01:00\n"
    )
    invoices = [str(pk) for pk in Invoice.objects.values_list("pk", flat=True)]
    return [
        {},
        {"do": "draft"},
        {"do": "issue", "invoice": invoices},
        {"source": "platform", "file": _named(BytesIO(csv.encode()), "chats.csv")},
        {"password1": "An0ther-secret!", "password2": "An0ther-secret!"},
    ]


# --- A view-only user is refused everything that acts -----------------------------------------


@pytest.mark.parametrize(("model", "name"), ACTIONS, ids=[f"{_label(m)}:{n}" for m, n in ACTIONS])
def test_a_view_only_user_is_not_offered_and_cannot_run_any_action(
    client, world, model, name, django_capture_on_commit_callbacks
):
    viewer = staff_user("viewer")
    request = RequestFactory().get("/")
    request.user = viewer
    model_admin = admin.site._registry[model]
    assert name not in model_admin.get_actions(request)

    login(client, viewer)
    before = snapshot()
    changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    for data in _action_posts(model, name):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(changelist, data)
        assert response.status_code in (200, 302, 403)
    assert snapshot() == before
    assert mail.outbox == []


@pytest.mark.parametrize(("model", "url"), PAGES, ids=[url.name for _m, url in PAGES])
def test_a_view_only_user_cannot_change_anything_through_a_custom_page(
    client, world, model, url, django_capture_on_commit_callbacks
):
    viewer = staff_user("viewer")
    login(client, viewer)
    before = snapshot()
    urls = _page_urls(model, url)
    assert urls
    for address in urls:
        with django_capture_on_commit_callbacks(execute=True):
            assert client.get(address).status_code in (200, 403, 404)
        for data in _page_posts():
            with django_capture_on_commit_callbacks(execute=True):
                response = client.post(address, data)
            assert response.status_code in (403, 405), (address, data, response.status_code)
    assert snapshot() == before
    assert mail.outbox == []


# --- A user with the permission can still use each ----------------------------------------------


def _run(client, model, name, **data):
    changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return client.post(changelist, {"action": name, **data}, HTTP_ACCEPT_LANGUAGE="en")


@pytest.mark.parametrize("action", sorted(ACTION_PERMISSIONS))
def test_a_user_with_the_permission_runs_the_action(
    client, world, action, django_capture_on_commit_callbacks
):
    label, name = action.split(":")
    model = apps.get_model(label)
    user = staff_user("clerk", ACTION_PERMISSIONS[action])
    request = RequestFactory().get("/")
    request.user = user
    assert name in admin.site._registry[model].get_actions(request)
    login(client, user)
    draft = Invoice.objects.get(status="draft")
    issued = world["issued"]

    if name == "issue_drafts":
        _run(client, model, name, _selected_action=[draft.pk], index="0")
        draft.refresh_from_db()
        assert draft.status == "issued" and draft.number == "F2026-00001"
    elif name == "cancel_with_credit_note":
        _run(client, model, name, _selected_action=[issued.pk], confirm="1")
        issued.refresh_from_db()
        assert issued.status == "cancelled"
        assert Invoice.objects.get(kind="credit_note").credited_invoice == issued
    elif name == "send_again":
        with django_capture_on_commit_callbacks(execute=True):
            _run(client, model, name, _selected_action=[issued.pk], index="0")
        assert [message.to for message in mail.outbox] == [["compta@lyon-automobiles.example"]]
        issued.refresh_from_db()
        assert issued.email_status == "sent"
    elif name == "record_payment":
        _run(
            client,
            model,
            name,
            _selected_action=[issued.pk],
            confirm="1",
            paid_on="2026-11-02",
        )
        issued.refresh_from_db()
        assert issued.paid_on == date(2026, 11, 2)
    elif name == "void_events":
        event = ChatEvent.objects.get(external_id="c0")
        _run(client, model, name, _selected_action=[event.pk], confirm="1", reason="test")
        event.refresh_from_db()
        assert event.voided_at is not None and event.void_reason == "test"
    elif name == "revoke":
        token = ApiToken.objects.get()
        _run(client, model, name, _selected_action=[token.pk], index="0")
        token.refresh_from_db()
        assert token.revoked_at is not None
    elif name == "revoke_selected":
        from billing.models import Mandate

        mandate = Mandate.objects.get()
        _run(client, model, name, _selected_action=[mandate.pk], index="0")
        assert Mandate.objects.get().revoked_on == date(2026, 11, 3)
    elif name == "match_to_invoice":
        from billing.models import BankEntry
        from billing.payments.statements import bank_statement_import

        csv = (
            "booking_date,amount,bank_reference,counterparty_name,counterparty_iban,remittance\n"
            "2026-11-02,10.00,B-1,Someone,,?\n"
        )
        bank_statement_import(filename="s.csv", content=csv.encode())
        entry = BankEntry.objects.get()
        _run(client, model, name, _selected_action=[entry.pk], confirm="1", invoice="T2026-00001")
        entry.refresh_from_db()
        assert entry.status == "matched" and entry.invoice == issued
    elif name == "cleanup_expired_attempts":
        from axes.models import AccessAttempt

        attempt = AccessAttempt.objects.get()
        _run(client, model, name, _selected_action=[attempt.pk], index="0")
        assert not AccessAttempt.objects.exists()
    else:  # pragma: no cover - a new action: say what it does here
        pytest.fail(f"no positive test for {action}")


def test_a_user_with_the_permission_uses_each_custom_page(client, world):
    pages = {url.name for _model, url in PAGES}
    assert pages == set(PAGE_PERMISSIONS)
    customer, issued = world["customer"], world["issued"]

    client.force_login(staff_user("issuer", PAGE_PERMISSIONS["billing_invoice_close"]))
    close = reverse("admin:billing_invoice_close") + "?month=2026-10"
    Invoice.objects.filter(status="draft").delete()
    assert client.post(close, {"do": "draft"}).status_code == 302
    draft = Invoice.objects.get(status="draft", customer=customer)
    assert client.post(close, {"do": "issue", "invoice": [draft.pk]}).status_code == 302
    draft.refresh_from_db()
    assert draft.status == "issued"

    client.force_login(staff_user("reader", PAGE_PERMISSIONS["billing_invoice_pdf"]))
    progress = client.get(reverse("admin:billing_invoice_close_progress") + "?month=2026-10")
    assert progress.status_code == 200 and b'data-done="1"' in progress.content
    pdf = client.get(reverse("admin:billing_invoice_pdf", args=[issued.pk]))
    assert pdf.status_code == 200 and pdf.content == b"%PDF-1.4 test"
    xml = client.get(reverse("admin:billing_invoice_xml", args=[draft.pk]))
    assert xml.status_code == 200 and xml["Content-Type"] == "application/xml"
    assert xml.content == facturx_xml_from_pdf(bytes(draft.pdf))
    assert b"<ram:ID>" + draft.number.encode() + b"</ram:ID>" in xml.content
    # A PDF without e-invoice (stored before Factur-X): no XML to give.
    assert client.get(reverse("admin:billing_invoice_xml", args=[issued.pk])).status_code == 404

    client.force_login(
        staff_user("accountant", PAGE_PERMISSIONS["billing_invoice_accounting_export"])
    )
    export = client.get(
        reverse("admin:billing_invoice_accounting_export"),
        {"start": "2026-10-01", "end": "2026-10-31", "download": "fec"},
    )
    assert export.status_code == 200
    assert export["Content-Disposition"] == 'attachment; filename="732829320FEC20261031.txt"'
    assert b"\tT2026-00001\t20261002\t" in export.content

    client.force_login(staff_user("importer", PAGE_PERMISSIONS["billing_chatevent_import"]))
    csv = (
        "id,customer,tariff,actor,occurred_at\n"
        "new-1,lyon-automobiles,test_drive,agent,2026-11-02T10:00:00+01:00\n"
    )
    upload = BytesIO(csv.encode())
    upload.name = "chats.csv"
    response = client.post(
        reverse("admin:billing_chatevent_import"), {"source": "legacy", "file": upload}
    )
    assert response.status_code == 200
    assert ChatEvent.objects.filter(source="legacy", external_id="new-1").exists()

    from billing.models import DirectDebitBatch

    due_invoice(customer, date(2026, 8, 1), "118.80", date(2026, 11, 5))
    direct_debit_notices_send()
    client.force_login(staff_user("collector", PAGE_PERMISSIONS["billing_directdebitbatch_export"]))
    response = client.post(
        reverse("admin:billing_directdebitbatch_export"), {"collection_date": "2026-11-08"}
    )
    assert response.status_code == 302
    batch = DirectDebitBatch.objects.latest("pk")
    assert batch.total == Decimal("118.80")
    client.force_login(staff_user("xml-reader", PAGE_PERMISSIONS["billing_directdebitbatch_xml"]))
    xml = client.get(reverse("admin:billing_directdebitbatch_xml", args=[batch.pk]))
    assert xml.status_code == 200 and xml.content == bytes(batch.xml)

    from billing.models import BankEntry

    client.force_login(staff_user("bank", PAGE_PERMISSIONS["billing_bankstatement_import"]))
    csv = (
        "booking_date,amount,bank_reference,counterparty_name,counterparty_iban,remittance\n"
        "2026-11-02,10.00,B-2,Someone,,T2026-00001\n"
    )
    response = client.post(
        reverse("admin:billing_bankstatement_import"),
        {"file": _named(BytesIO(csv.encode()), "statement.csv")},
    )
    assert response.status_code == 200
    assert BankEntry.objects.get(bank_reference="B-2").invoice == issued

    other = UserFactory(username="someone-else", is_staff=True)
    client.force_login(staff_user("admin-of-users", PAGE_PERMISSIONS["auth_user_password_change"]))
    password = reverse("admin:auth_user_password_change", args=[other.pk])
    response = client.post(
        password,
        {"password1": "An0ther-secret!", "password2": "An0ther-secret!", "usable_password": "true"},
    )
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.check_password("An0ther-secret!")


def _named(upload, name):
    upload.name = name
    return upload
