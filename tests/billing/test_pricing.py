"""The pure pricing engine: exact amounts, and properties that hold for any usage (Hypothesis)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.pricing import (
    LINE_OVERAGE,
    LINE_PLAN_FEE,
    PlanTerms,
    Usage,
    UsageLine,
    compare_plans,
    line_amount,
    price_month,
    round_money,
    vat_on,
)

GROW = PlanTerms("GROW", Decimal("499.00"), 3000, Decimal("0.14"))
BASE = PlanTerms("BASE", Decimal("99.00"), 250, Decimal("0.18"))
SCALE = PlanTerms("SCALE", Decimal("1499.00"), 12000, Decimal("0.13"))


def usage_of(points: int) -> Usage:
    return Usage(lines=(UsageLine("test_drive", "sales_leads", "agent", 1, points),))


def test_grow_month_with_3234_points():
    statement = price_month(terms=GROW, usage=usage_of(3234), vat_rate=Decimal("20.00"))
    assert statement.points_used == 3234
    assert statement.overage_points == 234
    assert statement.invoice_lines[0].kind == LINE_PLAN_FEE
    assert statement.invoice_lines[0].amount == Decimal("499.00")
    assert statement.invoice_lines[1].kind == LINE_OVERAGE
    assert (statement.invoice_lines[1].quantity, statement.invoice_lines[1].unit_price) == (
        234,
        Decimal("0.14"),
    )
    assert statement.overage_amount == Decimal("32.76")
    assert statement.net_total == Decimal("531.76")
    assert statement.vat_amount == Decimal("106.35")
    assert statement.total == Decimal("638.11")


def test_month_within_quota_has_one_line_and_no_overage():
    statement = price_month(terms=GROW, usage=usage_of(2999), vat_rate=Decimal("20.00"))
    assert [line.kind for line in statement.invoice_lines] == [LINE_PLAN_FEE]
    assert statement.overage_points == 0
    assert statement.overage_amount == Decimal("0.00")
    assert statement.net_total == Decimal("499.00")
    assert statement.vat_amount == Decimal("99.80")
    assert statement.total == Decimal("598.80")


def test_exactly_the_quota_is_not_overage():
    statement = price_month(terms=BASE, usage=usage_of(250), vat_rate=Decimal("20.00"))
    assert statement.overage_points == 0
    assert len(statement.invoice_lines) == 1


def test_lines_round_half_up_to_the_cent():
    # 0.1234 x 1001 = 123.5234 -> 123.52; 0.1235 x 1 = 0.1235 -> 0.12; 0.0125 x 1 -> 0.01
    assert line_amount(1001, Decimal("0.1234")) == Decimal("123.52")
    assert line_amount(1, Decimal("0.1235")) == Decimal("0.12")
    assert line_amount(3, Decimal("0.0050")) == Decimal("0.02")  # 0.015 -> half up -> 0.02
    assert round_money(Decimal("0.005")) == Decimal("0.01")
    assert round_money(Decimal("2.675")) == Decimal("2.68")  # a float would give 2.67


def test_vat_is_computed_on_the_net_total():
    # Two lines each with a VAT of x.xx5 would round up twice; on the net it rounds once.
    assert vat_on(Decimal("531.76"), Decimal("20.00")) == Decimal("106.35")
    assert vat_on(Decimal("0.025"), Decimal("20")) == Decimal("0.01")
    assert vat_on(Decimal("100.00"), Decimal("0")) == Decimal("0.00")


def test_enterprise_price_per_point_with_four_decimals():
    terms = PlanTerms("ENTERPRISE", Decimal("2500.00"), 20000, Decimal("0.1234"))
    statement = price_month(terms=terms, usage=usage_of(21001), vat_rate=Decimal("20.00"))
    assert statement.overage_points == 1001
    assert statement.overage_amount == Decimal("123.52")
    assert statement.net_total == Decimal("2623.52")
    assert statement.vat_amount == Decimal("524.70")
    assert statement.total == Decimal("3148.22")


def test_floats_are_refused():
    with pytest.raises(TypeError):
        PlanTerms("GROW", 499.0, 3000, Decimal("0.14"))
    with pytest.raises(TypeError):
        price_month(terms=GROW, usage=usage_of(1), vat_rate=20.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"monthly_fee": Decimal("-1.00")},
        {"included_points": -1},
        {"price_per_extra_point": Decimal("-0.01")},
        {"monthly_fee": Decimal("1.001")},
        {"price_per_extra_point": Decimal("0.12345")},
    ],
)
def test_invalid_terms_are_refused(kwargs):
    values = {
        "plan": "X",
        "monthly_fee": Decimal("1.00"),
        "included_points": 1,
        "price_per_extra_point": Decimal("0.1"),
    }
    with pytest.raises(ValueError):
        PlanTerms(**{**values, **kwargs})


def test_negative_usage_and_bad_vat_rates_are_refused():
    with pytest.raises(ValueError):
        UsageLine("test_drive", "sales_leads", "agent", 1, -65)
    with pytest.raises(ValueError):
        price_month(terms=GROW, usage=usage_of(1), vat_rate=Decimal("100.01"))


def test_compare_plans_puts_the_cheapest_first():
    # 3,234 points: GROW 531.76; BASE 99 + 2,984 x 0.18 = 636.12; SCALE 1,499.00.
    statements = compare_plans(
        options=[SCALE, BASE, GROW], usage=usage_of(3234), vat_rate=Decimal("20.00")
    )
    assert [(s.plan, s.net_total) for s in statements] == [
        ("GROW", Decimal("531.76")),
        ("BASE", Decimal("636.12")),
        ("SCALE", Decimal("1499.00")),
    ]


# --- Properties -------------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False)
price = st.decimals(min_value=0, max_value=10, places=4, allow_nan=False)
rates = st.sampled_from([Decimal(r) for r in ("0", "5.5", "10", "17", "19", "20", "21", "25.5")])
terms_strategy = st.builds(
    PlanTerms,
    plan=st.just("P"),
    monthly_fee=money,
    included_points=st.integers(0, 100_000),
    price_per_extra_point=price,
)
line_strategy = st.builds(
    UsageLine,
    tariff=st.sampled_from(["test_drive", "crm_lead", "contact_engaged"]),
    category=st.just("other"),
    actor=st.sampled_from(["agent", "bot", "team"]),
    chats=st.integers(0, 10_000),
    points=st.integers(0, 100_000),
)
usage_strategy = st.builds(Usage, lines=st.lists(line_strategy, max_size=8).map(tuple))


@given(terms=terms_strategy, usage=usage_strategy, vat_rate=rates)
def test_overage_is_never_negative(terms, usage, vat_rate):
    statement = price_month(terms=terms, usage=usage, vat_rate=vat_rate)
    assert statement.overage_points >= 0
    assert statement.overage_amount >= 0
    assert statement.overage_points == max(0, usage.points - terms.included_points)


@given(terms=terms_strategy, usage=usage_strategy, vat_rate=rates)
def test_net_is_fee_plus_overage_and_total_is_net_plus_vat(terms, usage, vat_rate):
    statement = price_month(terms=terms, usage=usage, vat_rate=vat_rate)
    assert statement.net_total == statement.monthly_fee + statement.overage_amount
    assert statement.total == statement.net_total + statement.vat_amount
    assert statement.vat_amount == (statement.net_total * vat_rate / 100).quantize(
        Decimal("0.01"), rounding="ROUND_HALF_UP"
    )
    for amount in (statement.net_total, statement.vat_amount, statement.total):
        assert amount == amount.quantize(Decimal("0.01"))  # to the cent, exactly
    assert sum(line.amount for line in statement.invoice_lines) == statement.net_total


@given(
    terms=terms_strategy,
    usage=usage_strategy,
    extra=st.integers(0, 50_000),
    vat_rate=rates,
)
def test_more_usage_never_costs_less(terms, usage, extra, vat_rate):
    more = Usage(lines=(*usage.lines, UsageLine("crm_lead", "other", "bot", 1, extra)))
    cheaper = price_month(terms=terms, usage=usage, vat_rate=vat_rate)
    dearer = price_month(terms=terms, usage=more, vat_rate=vat_rate)
    assert dearer.net_total >= cheaper.net_total
    assert dearer.total >= cheaper.total
