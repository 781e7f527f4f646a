"""The customer admin as staff use it: pages, statements, plan column, subscriptions inline."""

import datetime
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext

from billing.models import ChatEvent, Plan, Subscription
from billing.months import current_month
from customers.models import Customer, CustomerAccess
from tests.factories import CustomerFactory, UserFactory, enterprise_terms, record, subscribe

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
NBSP = "\N{NO-BREAK SPACE}"

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw-12345678")
    client.force_login(user)
    return client


class _FormFields(HTMLParser):
    """The fields a browser would post from the form with id `form_id` (no JavaScript)."""

    def __init__(self, form_id):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields = {}
        self._select = None
        self._select_first = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.fields[name] = attrs.get("value", "on" if kind == "checkbox" else "")
        elif tag == "select" and name:
            self._select, self._select_first = name, None
        elif tag == "option" and self._select:
            value = attrs.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in attrs:
                self.fields[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select:
            self.fields.setdefault(self._select, self._select_first or "")
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data


def form_data(response, form_id="customer_form"):
    """The rendered admin form's current values, management forms included, as a POST payload."""
    assert response.status_code == 200
    parser = _FormFields(form_id)
    parser.feed(response.content.decode())
    fields = {k: v for k, v in parser.fields.items() if "__prefix__" not in k}
    assert fields, f"no form #{form_id} on the page"
    return fields


def _month_day(month, day):
    return datetime.date(month.year, month.month, day)


# --- every page loads, in French and in English ---------------------------------------------


@pytest.mark.parametrize("headers", [{}, EN], ids=["fr", "en"])
def test_customer_pages_load_with_data_in_both_languages(staff, headers):
    customer = CustomerFactory(code="garage-lyon", legal_name="Garage de Lyon SARL")
    subscribe(customer, "SCALE", first_month=current_month().first_day)
    CustomerAccess.objects.create(user=UserFactory(username="dealer-anna"), customer=customer)
    CustomerFactory(code="garage-nice")

    changelist = staff.get(reverse("admin:customers_customer_changelist"), **headers)
    add = staff.get(reverse("admin:customers_customer_add"), **headers)
    change = staff.get(reverse("admin:customers_customer_change", args=[customer.pk]), **headers)

    assert (changelist.status_code, add.status_code, change.status_code) == (200, 200, 200)
    expected_language = headers and "en" or "fr"
    assert changelist.context["LANGUAGE_CODE"] == expected_language
    assert change.context["LANGUAGE_CODE"] == expected_language
    assert [c.code for c in changelist.context["cl"].result_list] == ["garage-lyon", "garage-nice"]
    assert "Garage de Lyon SARL" in changelist.content.decode()
    # Both inlines are on the change page with the stored rows, and on the add page empty.
    data = form_data(change)
    assert data["subscriptions-TOTAL_FORMS"] == "1"
    assert data["subscriptions-INITIAL_FORMS"] == "1"
    assert data["subscriptions-0-plan"] == str(Plan.objects.get(code="SCALE").pk)
    assert data["accesses-TOTAL_FORMS"] == "1"
    assert data["accesses-0-user"] == str(customer.accesses.get().user_id)
    assert data["code"] == "garage-lyon"
    add_data = form_data(add)
    assert add_data["subscriptions-TOTAL_FORMS"] == "0"
    assert add_data["accesses-TOTAL_FORMS"] == "0"
    # The statements are for existing customers only.
    assert "statement-summary" in change.content.decode()
    assert "statement-summary" not in add.content.decode()


def test_customer_access_has_no_admin_of_its_own(staff):
    """Dealer accesses are managed on the customer page only (the inline above)."""
    from django.contrib import admin

    assert not admin.site.is_registered(CustomerAccess)
    assert admin.site.is_registered(Customer)


# --- statements on the customer page --------------------------------------------------------


@pytest.fixture
def grow_customer_3234_points_last_month(paris):
    """GROW, last month: 49 agent test drives (65) + 49 bot WhatsApp reminders (1) = 3,234."""
    last_month = current_month().previous()
    customer = CustomerFactory(code="garage-grow")
    subscribe(customer, "GROW", first_month=last_month.first_day)
    when = paris(last_month.year, last_month.month, 15, 10, 30)
    for _ in range(49):
        record(customer, "test_drive", "agent", when)
        record(customer, "whatsapp_reminder", "bot", when)
    return customer


def _statements(html):
    """The customer page's read-only statements: (this month so far, last month)."""
    this = html.index("field-current_month_statement")
    last = html.index("field-last_month_statement")
    return html[this:last], html[last : html.index("</fieldset>", last)]


def test_customer_page_shows_last_month_statement_in_french(
    staff, grow_customer_3234_points_last_month
):
    customer = grow_customer_3234_points_last_month
    points = ChatEvent.objects.filter(customer=customer).values_list("points", flat=True)
    assert sum(points) == 3234

    response = staff.get(reverse("admin:customers_customer_change", args=[customer.pk]))

    assert response.status_code == 200
    assert response.context["LANGUAGE_CODE"] == "fr"
    this_month, last_month = _statements(response.content.decode())
    # Last month: 3,234 of 3,000 points, 234 extra at 0.14 = 32.76, net 531.76, VAT 106.35.
    assert f'<td class="num">3{NBSP}234 / 3{NBSP}000</td>' in last_month
    assert '<td class="num">49</td><td class="num">3\N{NO-BREAK SPACE}185</td>' in last_month
    assert '<td class="num">49</td><td class="num">49</td>' in last_month
    assert f'<td class="num">499,00{NBSP}€</td>' in last_month
    assert f'<td class="num">32,76{NBSP}€</td>' in last_month
    assert f'<td class="num">531,76{NBSP}€</td>' in last_month
    assert f'<td class="num">106,35{NBSP}€</td>' in last_month
    assert f'<td class="num">638,11{NBSP}€</td>' in last_month
    assert f"234 × 0,1400{NBSP}€" in last_month
    # This month so far: no chat, the fee alone (499.00 + 99.80 VAT = 598.80), no overage.
    assert f'<td class="num">0 / 3{NBSP}000</td>' in this_month
    assert f'<td class="num">0,00{NBSP}€</td>' in this_month
    assert f'<td class="num">598,80{NBSP}€</td>' in this_month
    assert "32,76" not in this_month
    # Read-only: no input for the statements.
    assert 'name="current_month_statement"' not in response.content.decode()
    assert 'name="last_month_statement"' not in response.content.decode()


def test_customer_page_shows_last_month_statement_in_english(
    staff, grow_customer_3234_points_last_month
):
    customer = grow_customer_3234_points_last_month

    response = staff.get(reverse("admin:customers_customer_change", args=[customer.pk]), **EN)

    assert response.status_code == 200
    assert response.context["LANGUAGE_CODE"] == "en"
    this_month, last_month = _statements(response.content.decode())
    assert '<td class="num">3,234 / 3,000</td>' in last_month
    assert '<td class="num">€499.00</td>' in last_month
    assert '<td class="num">€32.76</td>' in last_month
    assert '<td class="num">€531.76</td>' in last_month
    assert '<td class="num">€106.35</td>' in last_month
    assert '<td class="num">€638.11</td>' in last_month
    assert "Extra Chatpoints: 234 × €0.1400" in last_month
    assert "Points used (plan Grow)" in last_month
    assert "Test drive appointment <code>test_drive</code></td><td>agent</td>" in last_month
    assert '<td class="num">49</td><td class="num">3,185</td>' in last_month
    assert "Appointment reminder via WhatsApp <code>whatsapp_reminder</code>" in last_month
    assert '<td class="num">0 / 3,000</td>' in this_month
    assert '<td class="num">€598.80</td>' in this_month  # the fee and VAT only
    assert "€32.76" not in this_month


@pytest.mark.parametrize("language", ["fr", "en"])
def test_customer_without_subscription_shows_no_plan_in_force(staff, language):
    customer = CustomerFactory(code="garage-sans-plan")

    response = staff.get(
        reverse("admin:customers_customer_change", args=[customer.pk]),
        HTTP_ACCEPT_LANGUAGE=language,
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "statement-summary" not in html
    this_month, last_month = _statements(html)
    # The message in the page's language (whatever the state of the compiled catalogues).
    with translation.override(language):
        message = gettext("%(customer)s has no plan in force in %(month)s.")
    for statement, month in (
        (this_month, current_month()),
        (last_month, current_month().previous()),
    ):
        expected = message % {"customer": "garage-sans-plan", "month": month}
        assert f'<p class="statement-error">{escape(expected)}</p>' in statement


# --- changelist: the plan in force, without a query per row -------------------------------


def _customers_with_plans(count, start):
    this = current_month()
    for index in range(start, start + count):
        customer = CustomerFactory(code=f"dealer-{index:03d}")
        subscribe(customer, ("BASE", "GROW", "SCALE")[index % 3], first_month=this.first_day)


def test_customer_changelist_shows_plan_in_force_this_month(staff):
    this = current_month()
    ended = CustomerFactory(code="a-ended-last-month")
    last = this.previous().first_day
    subscribe(ended, "GROW", first_month=last, last_month=last)
    changed = CustomerFactory(code="b-changed-plan")
    subscribe(changed, "BASE", first_month=last, last_month=last)
    subscribe(changed, "SCALE", first_month=this.first_day)
    starts_next = CustomerFactory(code="c-starts-next-month")
    subscribe(starts_next, "GROW", first_month=this.next().first_day)
    enterprise = CustomerFactory(code="d-enterprise")
    subscribe(enterprise, "ENTERPRISE", first_month=this.first_day, **enterprise_terms())

    response = staff.get(reverse("admin:customers_customer_changelist"))

    assert response.status_code == 200
    rows = {c.code: c.plan_code for c in response.context["cl"].result_list}
    assert rows == {
        "a-ended-last-month": None,
        "b-changed-plan": "SCALE",
        "c-starts-next-month": None,
        "d-enterprise": "ENTERPRISE",
    }
    html = response.content.decode()
    assert html.count('<td class="field-plan_in_force">—</td>') == 2
    assert html.count('<td class="field-plan_in_force">Évolutif</td>') == 1  # in French
    assert html.count('<td class="field-plan_in_force">Entreprise</td>') == 1


def test_customer_changelist_queries_do_not_grow_with_customers(staff, django_assert_num_queries):
    url = reverse("admin:customers_customer_changelist")
    _customers_with_plans(3, start=0)
    staff.get(url)  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as three:
        response = staff.get(url)
    assert len(response.context["cl"].result_list) == 3
    assert response.content.decode().count('<td class="field-plan_in_force">') == 3

    _customers_with_plans(7, start=3)
    with django_assert_num_queries(len(three.captured_queries)):
        response = staff.get(url)

    html = response.content.decode()
    assert len(response.context["cl"].result_list) == 10
    assert html.count('<td class="field-plan_in_force">Basique</td>') == 4  # 0, 3, 6, 9
    assert html.count('<td class="field-plan_in_force">Croissance</td>') == 3
    assert html.count('<td class="field-plan_in_force">Évolutif</td>') == 3


# --- subscriptions inline ---------------------------------------------------------------------


def _plan_id(code):
    return str(Plan.objects.get(code=code).pk)


def _add_subscription(data, customer, plan, first_month, last_month="", **terms):
    """Append one new row to the subscriptions inline of a payload, as the admin's JS does."""
    index = int(data["subscriptions-TOTAL_FORMS"])
    prefix = f"subscriptions-{index}-"
    data.update(
        {
            f"{prefix}id": "",
            f"{prefix}customer": str(customer.pk) if customer else "",
            f"{prefix}plan": _plan_id(plan),
            f"{prefix}first_month": first_month,
            f"{prefix}last_month": last_month,
            f"{prefix}custom_monthly_fee": terms.get("fee", ""),
            f"{prefix}custom_included_points": terms.get("points", ""),
            f"{prefix}custom_price_per_extra_point": terms.get("price", ""),
        }
    )
    data["subscriptions-TOTAL_FORMS"] = str(index + 1)
    return data


def _change_payload(client, customer):
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    data = form_data(client.get(url, **EN))
    # Both inlines' management forms are part of the page, with the admin's prefixes.
    for prefix in ("subscriptions", "accesses"):
        for key in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"):
            assert f"{prefix}-{key}" in data
    data["_save"] = "Save"
    return url, data


def test_customer_change_page_saves_a_subscription_added_in_the_inline(staff):
    customer = CustomerFactory(code="garage-metz")
    url, data = _change_payload(staff, customer)
    _add_subscription(data, customer, "GROW", "2026-03-01", "2026-08-01")

    response = staff.post(url, data, **EN)

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:customers_customer_changelist")
    assert list(
        Subscription.objects.filter(customer=customer).values_list(
            "plan__code", "first_month", "last_month", "custom_monthly_fee"
        )
    ) == [("GROW", datetime.date(2026, 3, 1), datetime.date(2026, 8, 1), None)]


def test_two_overlapping_subscriptions_in_one_post_are_refused(staff):
    customer = CustomerFactory(code="garage-brest")
    url, data = _change_payload(staff, customer)
    _add_subscription(data, customer, "GROW", "2026-01-01", "2026-06-01")
    _add_subscription(data, customer, "SCALE", "2026-03-01")

    response = staff.post(url, data, **EN)

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert errors == [
        "Two subscriptions overlap (from 2026-01 and from 2026-03): one customer has one plan "
        "in force in a month."
    ]
    assert "Two subscriptions overlap (from 2026-01 and from 2026-03)" in response.content.decode()
    assert Subscription.objects.count() == 0


def test_overlapping_subscriptions_on_the_add_page_store_nothing(staff):
    url = reverse("admin:customers_customer_add")
    data = form_data(staff.get(url, **EN))
    data.update(
        {
            "code": "garage-caen",
            "legal_name": "Garage de Caen SAS",
            "address": "3 quai Vendeuvre",
            "postal_code": "14000",
            "city": "Caen",
            "billing_emails": "compta@caen.example",
            "_save": "Save",
        }
    )
    _add_subscription(data, None, "BASE", "2026-02-01")
    _add_subscription(data, None, "GROW", "2026-05-01", "2026-07-01")

    response = staff.post(url, data, **EN)

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors() == [
        "Two subscriptions overlap (from 2026-02 and from 2026-05): one customer has one plan "
        "in force in a month."
    ]
    assert not Customer.objects.filter(code="garage-caen").exists()
    assert Subscription.objects.count() == 0


def test_a_new_subscription_overlapping_a_stored_one_is_refused(staff):
    customer = CustomerFactory(code="garage-tours")
    subscribe(customer, "GROW", first_month=datetime.date(2026, 1, 1))
    url, data = _change_payload(staff, customer)
    assert data["subscriptions-INITIAL_FORMS"] == "1"
    _add_subscription(data, customer, "SCALE", "2026-09-01")

    response = staff.post(url, data, **EN)

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors() == [
        "Two subscriptions overlap (from 2026-01 and from 2026-09): one customer has one plan "
        "in force in a month."
    ]
    assert list(Subscription.objects.values_list("plan__code", "last_month")) == [("GROW", None)]


def test_subscription_not_starting_on_the_first_is_refused_with_a_field_error(staff):
    customer = CustomerFactory(code="garage-dijon")
    url, data = _change_payload(staff, customer)
    _add_subscription(data, customer, "GROW", "2026-03-15")

    response = staff.post(url, data, **EN)

    assert response.status_code == 200
    form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert form.errors["first_month"] == [
        "2026-03-15 is not the first day of a month: a plan starts and ends with whole months."
    ]
    assert "2026-03-15 is not the first day of a month" in response.content.decode()
    assert Subscription.objects.count() == 0


def test_enterprise_subscription_needs_custom_terms(staff):
    customer = CustomerFactory(code="garage-lille")
    url, data = _change_payload(staff, customer)
    _add_subscription(data, customer, "ENTERPRISE", "2026-04-01")

    response = staff.post(url, data, **EN)

    assert response.status_code == 200
    form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert form.errors["plan"] == [
        "Plan ENTERPRISE needs this customer's monthly fee, included points and price per "
        "extra point."
    ]
    assert Subscription.objects.count() == 0


def test_enterprise_subscription_with_custom_terms_is_stored_and_priced(staff):
    customer = CustomerFactory(code="garage-lille")
    url, data = _change_payload(staff, customer)
    _add_subscription(
        data, customer, "ENTERPRISE", "2026-04-01", fee="2500.00", points="20000", price="0.1234"
    )

    response = staff.post(url, data, **EN)

    assert response.status_code == 302
    subscription = Subscription.objects.get(customer=customer)
    terms = subscription.terms()
    assert (subscription.plan.code, subscription.first_month, subscription.last_month) == (
        "ENTERPRISE",
        datetime.date(2026, 4, 1),
        None,
    )
    assert (str(terms.monthly_fee), terms.included_points, str(terms.price_per_extra_point)) == (
        "2500.00",
        20000,
        "0.1234",
    )


def test_fixed_plan_with_custom_terms_is_refused(staff):
    customer = CustomerFactory(code="garage-pau")
    url, data = _change_payload(staff, customer)
    _add_subscription(data, customer, "BASE", "2026-04-01", fee="10.00", points="1", price="0.01")

    response = staff.post(url, data, **EN)

    assert response.status_code == 200
    form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert form.errors["plan"] == ["Plan BASE has fixed terms: leave the custom terms empty."]
    assert Subscription.objects.count() == 0


def test_dealer_access_added_in_the_inline_is_stored(staff):
    customer = CustomerFactory(code="garage-metz")
    dealer = UserFactory(username="dealer-paul")
    url, data = _change_payload(staff, customer)
    assert data["accesses-TOTAL_FORMS"] == "0"
    data.update(
        {
            "accesses-TOTAL_FORMS": "1",
            "accesses-0-id": "",
            "accesses-0-customer": str(customer.pk),
            "accesses-0-user": str(dealer.pk),
        }
    )

    response = staff.post(url, data, **EN)

    assert response.status_code == 302
    assert list(CustomerAccess.objects.values_list("user__username", "customer__code")) == [
        ("dealer-paul", "garage-metz")
    ]
    assert Subscription.objects.count() == 0


def test_plan_change_ending_one_subscription_and_starting_the_next_in_one_save(staff):
    """A change of plan: end the current subscription this month, start the next one from the
    next month, in one save."""
    this_month, next_month = current_month(), current_month().next()
    customer = CustomerFactory(code="garage-reims")
    subscribe(customer, "GROW", first_month=datetime.date(2026, 1, 1))
    url, data = _change_payload(staff, customer)
    data["subscriptions-0-last_month"] = this_month.first_day.isoformat()
    _add_subscription(data, customer, "SCALE", next_month.first_day.isoformat())

    response = staff.post(url, data, **EN)

    assert response.status_code == 302
    assert list(
        Subscription.objects.filter(customer=customer).values_list(
            "plan__code", "first_month", "last_month"
        )
    ) == [
        ("GROW", datetime.date(2026, 1, 1), this_month.first_day),
        ("SCALE", next_month.first_day, None),
    ]


def test_months_already_passed_stay_billed_as_they_were(staff):
    """A subscription in force before this month keeps its plan, first month and terms, and its
    end cannot move into the past: past statements never change."""
    previous = current_month().previous()
    customer = CustomerFactory(code="garage-metz")
    subscribe(customer, "GROW", first_month=datetime.date(2026, 1, 1))
    url, data = _change_payload(staff, customer)

    changed_plan = {**data, "subscriptions-0-plan": str(Plan.objects.get(code="SCALE").pk)}
    response = staff.post(url, changed_plan, **EN)
    assert response.status_code == 200
    assert "its plan, first month and terms are fixed" in response.content.decode()

    ended_in_the_past = {**data, "subscriptions-0-last_month": previous.first_day.isoformat()}
    response = staff.post(url, ended_in_the_past, **EN)
    assert response.status_code == 200
    assert f"{previous} is a past month" in response.content.decode()

    assert list(
        Subscription.objects.filter(customer=customer).values_list(
            "plan__code", "first_month", "last_month"
        )
    ) == [("GROW", datetime.date(2026, 1, 1), None)]


def test_moving_a_plan_change_later_saves_the_shrinking_subscription_first(staff):
    """A ends next month and B starts the month after; moving the change a month later grows A
    into B's first month: saved in that order the database would refuse it (no 500)."""
    this_month = current_month()
    m1, m2, m3 = this_month.next(), this_month.next().next(), this_month.next().next().next()
    customer = CustomerFactory(code="garage-nancy")
    subscribe(customer, "GROW", first_month=datetime.date(2026, 1, 1), last_month=m1.first_day)
    subscribe(customer, "SCALE", first_month=m2.first_day)
    url, data = _change_payload(staff, customer)
    data["subscriptions-0-last_month"] = m2.first_day.isoformat()
    data["subscriptions-1-first_month"] = m3.first_day.isoformat()

    response = staff.post(url, data, **EN)

    assert response.status_code == 302
    assert list(
        Subscription.objects.filter(customer=customer)
        .order_by("first_month")
        .values_list("plan__code", "first_month", "last_month")
    ) == [
        ("GROW", datetime.date(2026, 1, 1), m2.first_day),
        ("SCALE", m3.first_day, None),
    ]


def _future_months(count):
    months, month = [], current_month()
    for _ in range(count):
        month = month.next()
        months.append(month.first_day)
    return months


def test_shifting_a_chain_of_plan_changes_later_saves_in_a_safe_order(staff):
    m = _future_months(8)
    customer = CustomerFactory(code="garage-toul")
    subscribe(customer, "GROW", first_month=m[0], last_month=m[2])
    subscribe(customer, "SCALE", first_month=m[3], last_month=m[5])
    subscribe(customer, "BASE", first_month=m[6])
    url, data = _change_payload(staff, customer)
    data["subscriptions-0-last_month"] = m[3].isoformat()
    data["subscriptions-1-first_month"] = m[4].isoformat()
    data["subscriptions-1-last_month"] = m[6].isoformat()
    data["subscriptions-2-first_month"] = m[7].isoformat()

    response = staff.post(url, data, **EN)

    assert response.status_code == 302
    assert list(
        Subscription.objects.filter(customer=customer)
        .order_by("first_month")
        .values_list("plan__code", "first_month", "last_month")
    ) == [("GROW", m[0], m[3]), ("SCALE", m[4], m[6]), ("BASE", m[7], None)]


def test_exchanging_months_between_subscriptions_asks_for_two_steps(staff):
    m = _future_months(4)
    customer = CustomerFactory(code="garage-bar")
    subscribe(customer, "GROW", first_month=m[0], last_month=m[1])
    subscribe(customer, "SCALE", first_month=m[2], last_month=m[3])
    url, data = _change_payload(staff, customer)
    data["subscriptions-0-first_month"], data["subscriptions-0-last_month"] = (
        m[2].isoformat(),
        m[3].isoformat(),
    )
    data["subscriptions-1-first_month"], data["subscriptions-1-last_month"] = (
        m[0].isoformat(),
        m[1].isoformat(),
    )

    response = staff.post(url, data, **EN)

    assert response.status_code == 200
    assert "save them in two steps" in response.content.decode()
    assert list(
        Subscription.objects.filter(customer=customer)
        .order_by("first_month")
        .values_list("plan__code", "first_month")
    ) == [("GROW", m[0]), ("SCALE", m[2])]


def test_customer_changelist_shows_the_vat_the_months_get_not_the_stored_rate(staff):
    CustomerFactory(code="a-paris")
    CustomerFactory(
        code="b-brussels",
        country="BE",
        vat_number="BE0123456749",
        postal_code="1000",
        city="Bruxelles",
    )
    CustomerFactory(code="c-geneva", country="CH", postal_code="1201", city="Genève")

    html = staff.get(reverse("admin:customers_customer_changelist")).content.decode()

    cells = [
        cell.split("</td>")[0] for cell in html.split('<td class="field-vat">')[1:]
    ]  # in code order
    assert cells == [
        "20,00 %",
        "0,00 %, autoliquidation (entreprise de l&#x27;UE)",
        f"0,00 %, hors UE{NBSP}: pas de TVA française",
    ]
