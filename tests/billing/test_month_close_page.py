"""The admin's month close page while a run issues: issued / failed with the reason / waiting,
refreshing itself until none waits, a retry for the failed drafts; without a broker the issue
is done when the page comes back, as before."""

from __future__ import annotations

from datetime import UTC, date, datetime
from html import unescape

import pytest
from django.urls import reverse

from billing.invoicing import month_close as month_close_service
from billing.invoicing.drafts import invoices_draft
from billing.models import Invoice, MonthCloseRun, Subscription
from billing.months import Month
from tests.factories import CustomerFactory, UserFactory, subscribe

pytestmark = pytest.mark.django_db
URL = reverse("admin:billing_invoice_close") + "?month=2026-10"


@pytest.fixture
def staff(client, clock):
    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    customers = [CustomerFactory(code=f"dealer-{n}") for n in range(3)]
    for customer in customers:
        subscribe(customer, "BASE", first_month=date(2026, 1, 1))
    invoices_draft(month=Month(2026, 10))
    return customers


def page_text(response) -> str:
    """The page as read: entities decoded, French no-break spaces as plain spaces."""
    return unescape(response.content.decode()).replace("\xa0", " ").replace("\u202f", " ")


def drafts():
    return list(Invoice.objects.filter(status="draft").values_list("pk", flat=True))


def test_without_a_broker_the_page_comes_back_with_everything_issued(client, staff):
    response = client.post(URL, {"do": "issue", "invoice": drafts()}, follow=True)
    html = page_text(response)
    assert "3 factures émises : F2026-00001, F2026-00002, F2026-00003." in html
    assert "3 émises, 0 en échec, 0 en attente (sur 3)" in html
    assert 'http-equiv="refresh"' not in html
    assert MonthCloseRun.objects.get().started_by.username == "boss"


def test_while_workers_issue_the_page_shows_the_progress_and_refreshes(client, staff, monkeypatch):
    monkeypatch.setattr(month_close_service, "_dispatch", lambda item_ids: None)  # no worker yet
    response = client.post(URL, {"do": "issue", "invoice": drafts()}, follow=True)
    html = page_text(response)
    assert "3 brouillons en cours d'émission : la page en suit l'avancement." in html
    assert "0 émises, 0 en échec, 3 en attente (sur 3)" in html
    assert '<meta http-equiv="refresh" content="3">' in html
    run = MonthCloseRun.objects.get()
    first = run.items.order_by("customer__code").first()
    month_close_service.month_close_item_issue(item_id=first.pk)  # a worker issues one
    html = page_text(client.get(URL))
    assert "1 émises, 0 en échec, 2 en attente (sur 3)" in html


def test_failed_drafts_show_their_reason_and_are_retried(client, staff):
    Subscription.objects.filter(customer=staff[1]).delete()
    html = page_text(client.post(URL, {"do": "issue", "invoice": drafts()}, follow=True))
    assert "2 émises, 1 en échec, 0 en attente (sur 3)" in html
    assert "dealer-1: dealer-1 n'a aucun plan en vigueur en 2026-10." in html
    assert "Relancer les brouillons en échec" in html
    subscribe(staff[1], "BASE", first_month=date(2026, 1, 1))
    html = page_text(client.post(URL, {"do": "retry"}, follow=True))
    assert "3 émises, 0 en échec, 0 en attente (sur 3)" in html
    assert "F2026-00003" in html


def test_a_viewer_sees_the_progress_but_cannot_retry(client, staff):
    from django.contrib.auth.models import Permission

    Subscription.objects.filter(customer=staff[1]).delete()
    client.post(URL, {"do": "issue", "invoice": drafts()})
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    client.force_login(viewer)
    html = page_text(client.get(URL))
    assert "2 émises, 1 en échec, 0 en attente (sur 3)" in html
    assert "Relancer les brouillons en échec" not in html
    assert client.post(URL, {"do": "retry"}).status_code == 403


# --- the invoice list's action "Issue the selected drafts": the month close's path -------------

CHANGELIST = reverse("admin:billing_invoice_changelist")


def issue_action(client, invoice_ids):
    data = {"action": "issue_drafts", "_selected_action": invoice_ids, "index": "0"}
    return client.post(CHANGELIST, data, follow=True)


def test_the_list_action_issues_through_a_month_close_run_eagerly_without_a_broker(client, staff):
    # September's drafts too: the selection spans two months, one run each (month order).
    invoices_draft(month=Month(2026, 9))
    ids = list(Invoice.objects.filter(status="draft").values_list("pk", flat=True))
    html = page_text(issue_action(client, ids))
    assert "3 factures émises : F2026-00001, F2026-00002, F2026-00003." in html  # September
    assert "3 factures émises : F2026-00004, F2026-00005, F2026-00006." in html  # October
    runs = list(MonthCloseRun.objects.order_by("month"))
    assert [(run.month, run.items.count(), run.started_by.username) for run in runs] == [
        (date(2026, 9, 1), 3, "boss"),
        (date(2026, 10, 1), 3, "boss"),
    ]
    assert not Invoice.objects.filter(status="draft").exists()
    assert set(runs[1].items.values_list("state", flat=True)) == {"issued"}


def test_the_list_action_never_blocks_with_workers_it_links_to_the_progress(
    client, staff, monkeypatch
):
    sent = []
    monkeypatch.setattr(month_close_service, "_dispatch", sent.extend)  # workers get the tasks
    html = page_text(issue_action(client, drafts()[:2]))
    assert "2 brouillons de 2026-10 en cours d'émission." in html
    assert f'href="{URL}"' in html
    assert "Voir l'avancement sur la page de clôture du mois" in html
    run = MonthCloseRun.objects.get()
    assert sorted(sent) == sorted(run.items.values_list("pk", flat=True))
    assert Invoice.objects.filter(status="draft").count() == 3  # nothing issued in the request
    for item_id in sent:  # the workers
        month_close_service.month_close_item_issue(item_id=item_id)
    html = page_text(client.get(URL))
    assert "2 émises, 0 en échec, 0 en attente (sur 2)" in html


def test_the_list_action_on_no_draft_says_so(client, staff):
    issued = drafts()[0]
    issue_action(client, [issued])
    html = page_text(issue_action(client, [issued]))
    assert "Aucun brouillon parmi les factures sélectionnées." in html
    assert MonthCloseRun.objects.count() == 1


def test_while_drafts_wait_the_page_polls_its_progress_box_alone(
    client, staff, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(month_close_service, "_dispatch", lambda item_ids: None)  # no worker yet
    html = page_text(client.post(URL, {"do": "issue", "invoice": drafts()}, follow=True))
    progress_url = reverse("admin:billing_invoice_close_progress") + "?month=2026-10"
    assert f'var url = "{progress_url}";' in html
    run = MonthCloseRun.objects.get()
    month_close_service.month_close_item_issue(item_id=run.items.order_by("pk").first().pk)
    with django_assert_max_num_queries(8):  # session, user, run, counts: not the month's rows
        fragment = page_text(client.get(progress_url))
    assert "1 émises, 0 en échec, 2 en attente (sur 3)" in fragment
    assert 'data-done="0"' in fragment and "<table" not in fragment
    for item in run.items.filter(state="waiting"):
        month_close_service.month_close_item_issue(item_id=item.pk)
    assert 'data-done="1"' in page_text(client.get(progress_url))


def test_the_progress_box_needs_the_permission_to_view_invoices(client, staff):
    client.force_login(UserFactory(username="nobody", is_staff=True))
    url = reverse("admin:billing_invoice_close_progress") + "?month=2026-10"
    assert client.get(url).status_code == 403


def test_a_month_of_many_dealers_is_listed_by_pages_and_issued_whole(client, staff, monkeypatch):
    from billing.admin import month_close as page_module

    monkeypatch.setattr(page_module, "PAGE_SIZE", 2)
    first = page_text(client.get(URL))
    assert "Page 1 sur 2 (3 documents)" in first
    assert first.count('name="invoice"') == 2  # this page's drafts only
    assert "Émettre les 3 brouillons du mois, toutes pages confondues" in first
    second = page_text(client.get(URL + "&page=2"))
    assert second.count('name="invoice"') == 1 and "dealer-2" in second
    html = page_text(client.post(URL, {"do": "issue_all"}, follow=True))
    assert "3 factures émises : F2026-00001, F2026-00002, F2026-00003." in html
    assert MonthCloseRun.objects.get().items.count() == 3
