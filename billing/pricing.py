"""The pricing engine: plan terms + a month's usage -> a Statement. Pure: no ORM, no I/O.

Every amount of money the portal shows (statement, report, invoice, PDF, CLI) is computed here, so
they cannot disagree. The billing rules (docs/billing-rules.md):

- overage points = max(0, points used - included points)              (rule 4)
- each invoice line is quantity x unit price, rounded half up to the cent  (rule 5)
- VAT is computed on the net total, rounded half up to the cent          (rule 5)
- line 1 is the plan fee, line 2 exists only when there is overage       (rule 7)

The VAT treatment and rate are not decided here but by billing.vat (rule 11): a Statement carries
the VatDecision it was priced with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from billing.vat import STANDARD, VatDecision

CENT = Decimal("0.01")
PRICE_PER_POINT_QUANTUM = Decimal("0.0001")
HUNDRED = Decimal(100)

LINE_PLAN_FEE = "plan_fee"
LINE_OVERAGE = "overage"


def round_money(amount: Decimal) -> Decimal:
    """Round to the cent, half up: the one rounding rule of the portal."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def line_amount(quantity: int, unit_price: Decimal) -> Decimal:
    return round_money(Decimal(quantity) * unit_price)


def vat_on(net: Decimal, rate_percent: Decimal) -> Decimal:
    return round_money(net * rate_percent / HUNDRED)


def _as_decimal(value, what: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{what} must be a Decimal, not a float")
    return Decimal(value)


@dataclass(frozen=True)
class PlanTerms:
    """What a customer pays in a month: the plan's, or the customer's own ENTERPRISE terms."""

    plan: str
    monthly_fee: Decimal
    included_points: int
    price_per_extra_point: Decimal

    def __post_init__(self):
        object.__setattr__(self, "monthly_fee", _as_decimal(self.monthly_fee, "monthly_fee"))
        object.__setattr__(
            self,
            "price_per_extra_point",
            _as_decimal(self.price_per_extra_point, "price_per_extra_point"),
        )
        if self.monthly_fee < 0 or self.price_per_extra_point < 0 or self.included_points < 0:
            raise ValueError(f"plan terms cannot be negative: {self!r}")
        if self.monthly_fee != round_money(self.monthly_fee):
            raise ValueError(f"monthly fee {self.monthly_fee} has more than two decimals")
        if self.price_per_extra_point != self.price_per_extra_point.quantize(
            PRICE_PER_POINT_QUANTUM
        ):
            raise ValueError(
                f"price per extra point {self.price_per_extra_point} has more than four decimals"
            )


@dataclass(frozen=True)
class UsageLine:
    """One tariff and actor in a month: how many chats, how many points they cost."""

    tariff: str
    category: str
    actor: str
    chats: int
    points: int
    contacts: int = 0  # distinct contacts, for tariffs charged per engaged contact

    def __post_init__(self):
        if self.chats < 0 or self.points < 0 or self.contacts < 0:
            raise ValueError(f"usage cannot be negative: {self!r}")


@dataclass(frozen=True)
class Usage:
    lines: tuple[UsageLine, ...] = ()
    engaged_contacts: int = 0

    @property
    def points(self) -> int:
        return sum(line.points for line in self.lines)

    @property
    def chats(self) -> int:
        return sum(line.chats for line in self.lines)


@dataclass(frozen=True)
class InvoiceLine:
    kind: str  # LINE_PLAN_FEE or LINE_OVERAGE
    quantity: int
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Statement:
    terms: PlanTerms
    usage: Usage
    points_used: int
    overage_points: int
    overage_amount: Decimal
    net_total: Decimal
    vat_rate: Decimal
    vat_amount: Decimal
    total: Decimal
    invoice_lines: tuple[InvoiceLine, ...] = field(default=())
    vat_treatment: str = STANDARD

    @property
    def vat(self) -> VatDecision:
        return VatDecision(self.vat_treatment, self.vat_rate)

    @property
    def vat_mention(self) -> str:
        """The key of the invoice's legal VAT mention ("" for none), see VatDecision.mention."""
        return self.vat.mention

    @property
    def plan(self) -> str:
        return self.terms.plan

    @property
    def monthly_fee(self) -> Decimal:
        return self.terms.monthly_fee

    @property
    def included_points(self) -> int:
        return self.terms.included_points

    @property
    def price_per_extra_point(self) -> Decimal:
        return self.terms.price_per_extra_point

    @property
    def lines(self) -> tuple[UsageLine, ...]:
        return self.usage.lines

    @property
    def engaged_contacts(self) -> int:
        return self.usage.engaged_contacts


def _vat(vat: VatDecision | None, vat_rate: Decimal | None) -> VatDecision:
    if (vat is None) == (vat_rate is None):
        raise TypeError("give the VAT decision (vat) or a plain rate (vat_rate), not both")
    return vat if vat is not None else VatDecision(STANDARD, _as_decimal(vat_rate, "vat_rate"))


def price_month(
    *,
    terms: PlanTerms,
    usage: Usage,
    vat: VatDecision | None = None,
    vat_rate: Decimal | None = None,
) -> Statement:
    """Price one month of usage under the given terms, taxed as `vat` says (billing.vat's
    decision), or at a plain `vat_rate` percent (standard treatment)."""
    vat = _vat(vat, vat_rate)
    vat_rate = vat.rate
    points_used = usage.points
    overage_points = max(0, points_used - terms.included_points)
    lines = [InvoiceLine(LINE_PLAN_FEE, 1, terms.monthly_fee, line_amount(1, terms.monthly_fee))]
    if overage_points:
        lines.append(
            InvoiceLine(
                LINE_OVERAGE,
                overage_points,
                terms.price_per_extra_point,
                line_amount(overage_points, terms.price_per_extra_point),
            )
        )
    overage_amount = lines[1].amount if overage_points else Decimal("0.00")
    net_total = sum((line.amount for line in lines), Decimal("0.00"))
    vat_amount = vat_on(net_total, vat_rate)
    return Statement(
        terms=terms,
        usage=usage,
        points_used=points_used,
        overage_points=overage_points,
        overage_amount=overage_amount,
        net_total=net_total,
        vat_rate=vat_rate,
        vat_amount=vat_amount,
        total=net_total + vat_amount,
        invoice_lines=tuple(lines),
        vat_treatment=vat.treatment,
    )


def compare_plans(
    *,
    options: Iterable[PlanTerms],
    usage: Usage,
    vat: VatDecision | None = None,
    vat_rate: Decimal | None = None,
) -> list[Statement]:
    """The same month priced under each plan (and the same VAT), cheapest (by net total) first."""
    vat = _vat(vat, vat_rate)
    statements = [price_month(terms=terms, usage=usage, vat=vat) for terms in options]
    return sorted(statements, key=lambda statement: statement.net_total)


@dataclass(frozen=True)
class Projection:
    """Where a month in progress is heading at the pace so far (an estimate, never billed)."""

    points: int
    overage_points: int
    overage_amount: Decimal
    net_total: Decimal


def project_month(*, terms: PlanTerms, points_so_far: int, elapsed: int, length: int) -> Projection:
    """The month's points extrapolated from the pace so far, priced under `terms`.

    `elapsed` and `length` are the seconds of the month gone by and in all (a month of the billing
    time zone can be an hour shorter or longer). Points are rounded half up to a whole point; the
    overage is priced as invoice line 2 would be.
    """
    if length <= 0 or not 0 <= elapsed <= length:
        raise ValueError(f"elapsed {elapsed} s is not within a month of {length} s")
    if elapsed == 0:
        points = points_so_far
    else:
        points = int(
            (Decimal(points_so_far) * length / elapsed).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        )
    overage_points = max(0, points - terms.included_points)
    overage_amount = line_amount(overage_points, terms.price_per_extra_point)
    return Projection(
        points=points,
        overage_points=overage_points,
        overage_amount=overage_amount,
        net_total=line_amount(1, terms.monthly_fee) + overage_amount,
    )
