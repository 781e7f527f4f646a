"""Staff find a customer's rows in every admin list by part of its code or name, in any case;
the chat list finds a chat by its exact id, through indexes only."""

import json
from datetime import UTC, date, datetime

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse

from billing.admin.events import event_sources
from billing.models import ChatEvent, Invoice, ReminderPause
from billing.payments.methods import MandateInput, mandate_create
from billing.usage.store import events_ingest
from customers.models import BillingChange, Customer
from tests.factories import CustomerFactory, UserFactory, issued_invoice, subscribe

pytestmark = pytest.mark.django_db


def lists_with_a_customer():
    """Every registered model that is a customer or belongs to one."""
    return sorted(
        (
            model
            for model in admin.site._registry
            if model is Customer
            or any(
                getattr(field, "related_model", None) is Customer
                for field in model._meta.get_fields()
                if field.many_to_one or field.one_to_one
            )
        ),
        key=lambda model: model._meta.label,
    )


def chat(external_id, customer, contact=""):
    return {
        "id": external_id,
        "customer": customer,
        "tariff": "contact_engaged" if contact else "test_drive",
        "actor": "team" if contact else "agent",
        "contact": contact or None,
        "occurred_at": "2026-10-10T10:00:00+02:00",
    }


@pytest.fixture
def two_dealers(client, clock):
    clock.now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    lyon = CustomerFactory(code="lyon-automobiles", legal_name="Lyon Automobiles SAS")
    dupont = CustomerFactory(code="garage-dupont", legal_name="Garage Dupont et Fils")
    for customer in (lyon, dupont):
        subscribe(customer, "GROW", first_month=date(2026, 1, 1))
        issued_invoice(customer, date(2026, 9, 1), datetime(2026, 10, 2, tzinfo=UTC))
    events_ingest(
        source="platform",
        events=[
            chat("LY-0001", "lyon-automobiles"),
            chat("LY-0002", "lyon-automobiles", contact="+33612345678"),
            chat("DU-0001", "garage-dupont"),
        ],
    )
    events_ingest(source="legacy-crm", events=[chat("old-7", "garage-dupont")])
    for customer, iban in (
        (lyon, "FR7630006000011234567890189"),
        (dupont, "DE89370400440532013000"),
    ):
        mandate_create(
            customer=customer,
            data=MandateInput(
                debtor_name=customer.legal_name,
                iban=iban,
                signed_on=date(2026, 11, 2),
                signed_place="Lyon",
                signer_name="Paul Martin",
            ),
        )
    for customer in (lyon, dupont):
        ReminderPause.objects.create(customer=customer, reason="dispute")
        BillingChange.objects.create(customer=customer, field="city", old_value="a", new_value="b")
    return lyon, dupont


def found(client, model, term):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.get(url, {"q": term})
    assert response.status_code == 200
    rows = response.context["cl"].result_list
    return {row.code if model is Customer else row.customer.code for row in rows}


def test_every_list_with_a_customer_finds_it_by_part_of_its_code_or_name(client, two_dealers):
    models = lists_with_a_customer()
    assert {model._meta.label for model in models} >= {
        "customers.Customer",
        "billing.Invoice",
        "billing.ChatEvent",
    }
    for model in models:
        assert model._default_manager.exists(), f"{model._meta.label}: add rows to the fixture"
        for term in ("lyon", "LYON", "Automob", "lyon-automobiles", "  lyon  "):
            assert found(client, model, term) == {"lyon-automobiles"}, (model, term)
        assert found(client, model, "dupont fils") == {"garage-dupont"}, model
        assert found(client, model, "nowhere") == set(), model


def test_invoices_are_found_by_part_of_their_number(client, two_dealers):
    lyon, _dupont = two_dealers
    number = Invoice.objects.get(customer=lyon).number
    assert found(client, Invoice, number[-5:]) == {"lyon-automobiles"}


def test_a_chat_is_found_by_its_exact_id_only_and_a_contact_exactly(client, two_dealers):
    assert found(client, ChatEvent, "LY-0002") == {"lyon-automobiles"}
    assert found(client, ChatEvent, "old-7") == {"garage-dupont"}  # another source
    assert found(client, ChatEvent, "ly-0002") == set()  # ids are exact
    assert found(client, ChatEvent, "0002") == set()
    assert found(client, ChatEvent, "+33612345678") == {"lyon-automobiles"}
    assert found(client, ChatEvent, "+3361234567") == set()


def test_the_sources_are_read_from_the_index(two_dealers):
    assert event_sources() == ["legacy-crm", "platform"]


def _chat_table_reads(term):
    """How the chat list's page query for `term` reads the chat table: each (node type, index
    condition or None), from PostgreSQL's plan."""
    model_admin = admin.site._registry[ChatEvent]
    request = RequestFactory().get("/", {"q": term})
    request.user = UserFactory(username=f"planner-{term}", is_staff=True, is_superuser=True)
    changelist = model_admin.get_changelist_instance(request)
    sql, params = changelist.queryset[:50].query.sql_with_params()
    with connection.cursor() as cursor:
        # The test table is tiny: forbid sequential scans, so the plan shows whether an index
        # condition can answer (if none can, PostgreSQL reads a whole table or index).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    reads, nodes = [], [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node.get("Relation Name") == "billing_chatevent" and node["Node Type"] != (
            "Bitmap Heap Scan"  # its Bitmap Index Scans below carry the conditions
        ):
            reads.append((node["Node Type"], node.get("Index Cond")))
        if node["Node Type"] == "Bitmap Index Scan" and node["Index Name"].startswith(
            ("billing_chatevent", "event_")
        ):
            reads.append((node["Node Type"], node.get("Index Cond")))
    return reads


@pytest.mark.postgres
@pytest.mark.parametrize("term", ["lyon", "Automobiles SAS", "LY-0001", "old-7"])
def test_the_chat_search_reads_the_chat_table_through_index_conditions_only(two_dealers, term):
    reads = _chat_table_reads(term)
    assert reads
    for node_type, condition in reads:
        assert node_type in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"), reads
        assert condition, reads
