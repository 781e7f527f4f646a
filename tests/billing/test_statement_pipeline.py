"""The worked examples and rules of docs/billing-rules.md, through the real pipeline:
chats stored in the database -> usage selector -> pricing engine."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.catalog.tariffs import TariffBook, tariff_change
from billing.errors import InvalidTariffChange, NoPlanInForce
from billing.models import Tariff, TariffRate
from billing.months import Month
from billing.usage.selectors import month_statement, month_usage
from billing.usage.validate import InvalidChatEvent
from tests.factories import CustomerFactory, enterprise_terms, record, subscribe

pytestmark = pytest.mark.django_db

OCTOBER = Month(2026, 10)
NOVEMBER = Month(2026, 11)


def use_up_quota(customer, paris, points):
    """Chats worth exactly `points` (a multiple of 65 plus reminders at 1 point) in October."""
    drives, reminders = divmod(points, 65)
    for index in range(drives):
        record(customer, "test_drive", "agent", paris(2026, 10, 1 + index % 28, 10))
    for index in range(reminders):
        record(customer, "whatsapp_reminder", "bot", paris(2026, 10, 1 + index % 28, 11))


def statement(customer, month=OCTOBER):
    return month_statement(customer=customer, month=month)


@pytest.fixture
def grow_customer():
    customer = CustomerFactory(code="lyon")
    subscribe(customer, "GROW")
    return customer


@pytest.fixture
def base_customer():
    customer = CustomerFactory(code="dijon")
    subscribe(customer, "BASE")
    return customer


# --- The worked examples ---------------------------------------------------------------------


def test_test_drive_by_an_agent_once_the_quota_is_used_up(grow_customer, base_customer, paris):
    use_up_quota(grow_customer, paris, 3000)
    use_up_quota(base_customer, paris, 250)
    assert statement(grow_customer).overage_amount == Decimal("0.00")
    assert statement(base_customer).overage_amount == Decimal("0.00")

    record(grow_customer, "test_drive", "agent", paris(2026, 10, 30, 15))
    record(base_customer, "test_drive", "agent", paris(2026, 10, 30, 15))

    grow = statement(grow_customer)
    assert (grow.overage_points, grow.overage_amount) == (65, Decimal("9.10"))
    assert grow.net_total == Decimal("508.10")
    base = statement(base_customer)
    assert (base.overage_points, base.overage_amount) == (65, Decimal("11.70"))
    assert base.net_total == Decimal("110.70")


def test_workshop_appointment_by_a_chatbot_once_the_quota_is_used_up(
    grow_customer, base_customer, paris
):
    use_up_quota(grow_customer, paris, 3000)
    use_up_quota(base_customer, paris, 250)
    record(grow_customer, "workshop_appointment", "bot", paris(2026, 10, 30, 15))
    record(base_customer, "workshop_appointment", "bot", paris(2026, 10, 30, 15))
    assert statement(grow_customer).overage_amount == Decimal("5.60")
    assert statement(base_customer).overage_amount == Decimal("7.20")


def test_fifty_contacts_engaged_by_the_team_cost_two_points_each(grow_customer, paris):
    use_up_quota(grow_customer, paris, 3000)
    for number in range(50):
        for chat in range(3):  # unlimited chats with each contact: charged once
            record(
                grow_customer,
                "contact_engaged",
                "team",
                paris(2026, 10, 5 + chat, 9, number),
                contact=f"contact-{number}",
            )
    result = statement(grow_customer)
    line = next(line for line in result.lines if line.tariff == "contact_engaged")
    assert (line.chats, line.points, line.contacts) == (150, 100, 50)
    assert result.engaged_contacts == 50
    assert result.overage_points == 100
    assert result.overage_amount == Decimal("14.00")


def test_grow_month_with_3234_points(grow_customer, paris):
    use_up_quota(grow_customer, paris, 3234)  # 49 test drives (3,185) + 49 reminders
    result = statement(grow_customer)
    assert result.points_used == 3234
    assert [
        (line.kind, line.quantity, line.unit_price, line.amount) for line in result.invoice_lines
    ] == [
        ("plan_fee", 1, Decimal("499.00"), Decimal("499.00")),
        ("overage", 234, Decimal("0.1400"), Decimal("32.76")),
    ]
    assert result.net_total == Decimal("531.76")
    assert result.vat_rate == Decimal("20.00")
    assert result.vat_amount == Decimal("106.35")
    assert result.total == Decimal("638.11")


def test_enterprise_terms_come_from_the_subscription(paris):
    customer = CustomerFactory(code="bavaria")
    subscribe(customer, "ENTERPRISE", **enterprise_terms("2500.00", 1000, "0.1234"))
    use_up_quota(customer, paris, 1000 + 65 * 15)
    result = statement(customer)
    assert result.plan == "ENTERPRISE"
    assert result.overage_points == 975
    assert result.overage_amount == Decimal("120.32")  # 975 x 0.1234 = 120.315 -> half up
    assert result.net_total == Decimal("2620.32")


# --- Rules ------------------------------------------------------------------------------------


def test_a_chat_at_2330_utc_on_31_october_counts_in_november(grow_customer):
    record(grow_customer, "test_drive", "agent", datetime(2026, 10, 31, 23, 30, tzinfo=UTC))
    record(grow_customer, "test_drive", "bot", datetime(2026, 10, 31, 22, 59, tzinfo=UTC))
    october = statement(grow_customer, OCTOBER)
    november = statement(grow_customer, NOVEMBER)
    assert [(line.tariff, line.actor) for line in october.lines] == [("test_drive", "bot")]
    assert october.points_used == 40
    assert [(line.tariff, line.actor) for line in november.lines] == [("test_drive", "agent")]
    assert november.points_used == 65


def test_month_bounds_follow_daylight_saving(grow_customer):
    # Summer time: 1 August 00:00 in Paris is 31 July 22:00 UTC.
    record(grow_customer, "crm_lead", "bot", datetime(2026, 7, 31, 22, 0, tzinfo=UTC))
    record(grow_customer, "crm_lead", "bot", datetime(2026, 7, 31, 21, 59, 59, tzinfo=UTC))
    assert statement(grow_customer, Month(2026, 8)).points_used == 6
    assert statement(grow_customer, Month(2026, 7)).points_used == 6


def test_engaged_contacts_are_counted_once_per_contact_per_month(grow_customer, paris):
    for day in (2, 15, 31):
        record(grow_customer, "contact_engaged", "team", paris(2026, 10, day, 10), contact="c-1")
    record(grow_customer, "contact_engaged", "team", paris(2026, 10, 3, 10), contact="c-2")
    record(grow_customer, "contact_engaged", "team", paris(2026, 11, 1, 10), contact="c-1")
    october = statement(grow_customer, OCTOBER)
    november = statement(grow_customer, NOVEMBER)
    assert (october.engaged_contacts, october.points_used) == (2, 4)
    assert october.lines[0].chats == 4
    assert (november.engaged_contacts, november.points_used) == (1, 2)  # charged again


def test_contacts_of_other_customers_are_their_own(grow_customer, base_customer, paris):
    record(grow_customer, "contact_engaged", "team", paris(2026, 10, 2, 10), contact="same")
    record(base_customer, "contact_engaged", "team", paris(2026, 10, 2, 10), contact="same")
    assert statement(grow_customer).engaged_contacts == 1
    assert statement(base_customer).engaged_contacts == 1


def test_a_tariff_not_offered_for_the_actor_is_refused(grow_customer, paris):
    with pytest.raises(InvalidChatEvent) as refused:
        record(grow_customer, "quote_request", "bot", paris(2026, 10, 2, 10))
    assert refused.value.field == "tariff"
    assert "quote_request is not offered for bot" in str(refused.value)
    with pytest.raises(InvalidChatEvent, match="contact_engaged is not offered for agent"):
        record(grow_customer, "contact_engaged", "agent", paris(2026, 10, 2, 10), contact="x")
    assert statement(grow_customer).lines == ()


def test_unknown_tariff_naive_time_and_missing_contact_are_refused(grow_customer, paris):
    with pytest.raises(InvalidChatEvent, match="'payment_link' is not a known tariff"):
        record(grow_customer, "payment_link", "bot", paris(2026, 10, 2, 10))
    with pytest.raises(
        InvalidChatEvent, match="occurred_at: '2026-10-02T10:00:00' has no time zone offset"
    ):
        record(grow_customer, "crm_lead", "bot", datetime(2026, 10, 2, 10))
    with pytest.raises(InvalidChatEvent, match="contact: contact_engaged is charged per contact"):
        record(grow_customer, "contact_engaged", "team", paris(2026, 10, 2, 10))


def test_an_included_tariff_is_listed_at_zero_points(grow_customer, paris):
    for _ in range(3):
        record(grow_customer, "whatsapp_concierge", "bot", paris(2026, 10, 2, 10))
    record(grow_customer, "whatsapp_standard_reply", "bot", paris(2026, 10, 2, 10))
    result = statement(grow_customer)
    assert [(line.tariff, line.actor, line.chats, line.points) for line in result.lines] == [
        ("whatsapp_concierge", "bot", 3, 0),
        ("whatsapp_standard_reply", "bot", 1, 0),
    ]
    assert result.points_used == 0


def test_lines_are_per_tariff_and_actor_in_category_order(grow_customer, paris):
    record(grow_customer, "crm_lead", "bot", paris(2026, 10, 2, 10))
    record(grow_customer, "test_drive", "bot", paris(2026, 10, 2, 10))
    record(grow_customer, "test_drive", "agent", paris(2026, 10, 2, 10))
    record(grow_customer, "test_drive", "agent", paris(2026, 10, 3, 10))
    record(grow_customer, "contact_engaged", "team", paris(2026, 10, 3, 10), contact="a")
    record(grow_customer, "support_info", "agent", paris(2026, 10, 3, 10))
    lines = [
        (line.tariff, line.actor, line.chats, line.points)
        for line in statement(grow_customer).lines
    ]
    assert lines == [
        ("contact_engaged", "team", 1, 2),
        ("test_drive", "agent", 2, 130),
        ("test_drive", "bot", 1, 40),
        ("support_info", "agent", 1, 45),
        ("crm_lead", "bot", 1, 6),
    ]


def test_a_tariff_change_leaves_last_month_unchanged(grow_customer, paris):
    use_up_quota(grow_customer, paris, 3234)
    before = statement(grow_customer)
    test_drive = Tariff.objects.get(code="test_drive")
    tariff_change(
        tariff=test_drive,
        points_agent=80,
        points_bot=50,
        points_team=None,
        effective_from=date(2026, 11, 15),
        today=date(2026, 11, 10),
    )
    test_drive.refresh_from_db()
    assert (test_drive.points_agent, test_drive.effective_from) == (80, date(2026, 11, 15))
    # A late chat for October is priced with October's tariff, like every chat of its day.
    record(grow_customer, "test_drive", "agent", paris(2026, 10, 31, 23))
    after = statement(grow_customer)
    assert after.points_used == before.points_used + 65
    assert after.overage_amount == before.overage_amount + Decimal("9.10")
    # In November the old points hold until the 14th, the new ones from the 15th.
    record(grow_customer, "test_drive", "agent", paris(2026, 11, 14, 23, 59))
    record(grow_customer, "test_drive", "agent", paris(2026, 11, 15, 0, 0))
    november = statement(grow_customer, NOVEMBER)
    assert [(line.tariff, line.chats, line.points) for line in november.lines] == [
        ("test_drive", 2, 65 + 80)
    ]
    assert TariffRate.objects.filter(tariff=test_drive).count() == 2
    assert TariffBook().price(test_drive.code, "agent", date(2026, 11, 14)).points == 65
    assert TariffBook().price(test_drive.code, "agent", date(2026, 11, 15)).points == 80


def test_a_statement_computed_before_a_change_is_the_same_after_it(grow_customer, paris):
    use_up_quota(grow_customer, paris, 3234)
    before = statement(grow_customer)
    tariff_change(
        tariff=Tariff.objects.get(code="test_drive"),
        points_agent=10,
        points_bot=10,
        points_team=None,
        effective_from=date(2026, 11, 1),
        today=date(2026, 10, 31),
    )
    assert statement(grow_customer) == before


def test_tariff_changes_are_never_retroactive(grow_customer):
    tariff = Tariff.objects.get(code="test_drive")
    for effective_from in (date(2026, 11, 10), date(2026, 10, 1)):
        with pytest.raises(InvalidTariffChange, match="after today"):
            tariff_change(
                tariff=tariff,
                points_agent=1,
                points_bot=1,
                points_team=None,
                effective_from=effective_from,
                today=date(2026, 11, 10),
            )
    engaged = Tariff.objects.get(code="contact_engaged")
    with pytest.raises(InvalidTariffChange, match="first day of a month"):
        tariff_change(
            tariff=engaged,
            points_agent=None,
            points_bot=None,
            points_team=3,
            effective_from=date(2026, 11, 15),
            today=date(2026, 11, 10),
        )
    assert TariffRate.objects.filter(tariff__in=[tariff, engaged]).count() == 2


def test_a_change_to_a_future_change_replaces_it(grow_customer):
    tariff = Tariff.objects.get(code="crm_lead")
    for points in (7, 8):
        tariff_change(
            tariff=tariff,
            points_agent=None,
            points_bot=points,
            points_team=None,
            effective_from=date(2027, 1, 1),
            today=date(2026, 11, 10),
        )
    assert TariffBook().price(tariff.code, "bot", date(2027, 1, 1)).points == 8
    assert TariffRate.objects.filter(tariff=tariff).count() == 3  # history keeps all three
    assert (
        TariffRate.objects.filter(tariff=tariff, cancelled_at__isnull=False).get().points_bot == 7
    )


def test_a_tariff_can_stop_being_offered(grow_customer, paris):
    tariff = Tariff.objects.get(code="mql_to_sql")
    tariff_change(
        tariff=tariff,
        points_agent=None,
        points_bot=None,
        points_team=None,
        effective_from=date(2026, 10, 15),
        today=date(2026, 10, 1),
    )
    record(grow_customer, "mql_to_sql", "bot", paris(2026, 10, 14, 10))
    with pytest.raises(InvalidChatEvent, match="mql_to_sql is not offered for bot"):
        record(grow_customer, "mql_to_sql", "bot", paris(2026, 10, 15, 10))


def test_no_plan_in_force_is_an_error_naming_customer_and_month(paris):
    customer = CustomerFactory(code="nowhere")
    subscribe(customer, "GROW", first_month=date(2026, 11, 1))
    with pytest.raises(NoPlanInForce, match="nowhere has no plan in force in 2026-10"):
        statement(customer, OCTOBER)
    assert statement(customer, NOVEMBER).plan == "GROW"


def test_the_month_is_billed_under_the_plan_in_force_in_it(paris):
    customer = CustomerFactory(code="mover")
    subscribe(customer, "BASE", first_month=date(2026, 1, 1), last_month=date(2026, 9, 1))
    subscribe(customer, "GROW", first_month=date(2026, 10, 1))
    record(customer, "test_drive", "agent", paris(2026, 9, 30, 23))
    record(customer, "test_drive", "agent", paris(2026, 10, 1, 0, 30))
    september = statement(customer, Month(2026, 9))
    october = statement(customer, OCTOBER)
    assert (september.plan, september.monthly_fee, september.points_used) == (
        "BASE",
        Decimal("99.00"),
        65,
    )
    assert (october.plan, october.monthly_fee, october.points_used) == (
        "GROW",
        Decimal("499.00"),
        65,
    )


def test_the_customer_vat_rate_is_used(grow_customer, paris):
    grow_customer.vat_rate = Decimal("0.00")
    grow_customer.save()
    use_up_quota(grow_customer, paris, 3234)
    result = statement(grow_customer)
    assert (result.vat_amount, result.total) == (Decimal("0.00"), Decimal("531.76"))


def test_usage_is_one_query_whatever_the_number_of_events(
    grow_customer, paris, django_assert_num_queries
):
    for day in range(1, 29):
        record(grow_customer, "test_drive", "agent", paris(2026, 10, day, 10))
        record(grow_customer, "contact_engaged", "team", paris(2026, 10, day, 11), contact=f"{day}")
    with django_assert_num_queries(2):  # the tariff table, then one aggregate over the events
        usage = month_usage(customer=grow_customer, month=OCTOBER)
    assert usage.points == 28 * 65 + 28 * 2
    with django_assert_num_queries(3):  # the plan in force, then the usage
        statement(grow_customer)


def test_recording_uses_the_billing_day_not_the_utc_day(grow_customer):
    # 1 November 00:30 in Paris is still 31 October in UTC: the November tariff applies.
    tariff_change(
        tariff=Tariff.objects.get(code="crm_lead"),
        points_agent=None,
        points_bot=9,
        points_team=None,
        effective_from=date(2026, 11, 1),
        today=date(2026, 10, 1),
    )
    moment = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    event = record(grow_customer, "crm_lead", "bot", moment)
    assert event.points == 9
    earlier = record(grow_customer, "crm_lead", "bot", moment - timedelta(hours=1))
    assert earlier.points == 6
