"""The report's chart of points per day, drawn on the server as SVG (no JavaScript; the same
markup could go into a PDF). Geometry only: the numbers come from billing.portal.selectors."""

from __future__ import annotations

import calendar
from dataclasses import dataclass

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from billing.months import Month

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 20, 34


def _grouped(value: int) -> str:
    return number_format(value, decimal_pos=0, use_l10n=True, force_grouping=True)


def _nice_step(span: int) -> int:
    """A round step (1, 2 or 5 × a power of ten) giving about four gridlines over `span`."""
    raw = max(span / 4, 1)
    power = 1
    while power * 10 <= raw:
        power *= 10
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power  # pragma: no cover


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    y: float  # top of the part within the included points
    height: float
    over_y: float  # the part beyond them (height 0 when there is none)
    over_height: float
    title: str


def points_chart(*, days, month: Month, included: int | None, projected: int | None) -> dict:
    """Cumulative points at the end of each day, the included points as a line and, for the month
    in progress, the pace so far extended to the month's end."""
    length = calendar.monthrange(month.year, month.month)[1]
    last = days[-1].cumulative if days else 0
    top_value = max(last, included or 0, projected or 0, 1)
    step = _nice_step(top_value)
    y_max = (top_value // step + 1) * step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / length

    def y(value: int) -> float:
        return round(TOP + plot_h - plot_h * value / y_max, 1)

    bars = []
    for index, day in enumerate(days):
        top = y(day.cumulative)
        split = y(min(day.cumulative, included)) if included is not None else top
        bars.append(
            Bar(
                x=round(LEFT + index * slot + slot * 0.15, 1),
                width=round(slot * 0.7, 1),
                y=split,
                height=round(TOP + plot_h - split, 1),
                over_y=top,
                over_height=round(split - top, 1),
                title=_("%(day)s: %(points)s points that day, %(total)s since the 1st")
                % {
                    "day": date_format(day.day, "DATE_FORMAT"),
                    "points": _grouped(day.points),
                    "total": _grouped(day.cumulative),
                },
            )
        )
    ticks = [{"y": y(value), "label": _grouped(value)} for value in range(0, y_max + 1, step)]
    labelled = sorted({1, *range(5, length - 2, 5), length})
    x_labels = [{"x": round(LEFT + (day - 0.5) * slot, 1), "label": str(day)} for day in labelled]
    quota = None
    if included is not None:
        quota = {
            "y": y(included),
            "label": _("Included: %(points)s") % {"points": _grouped(included)},
        }
    pace = None
    if projected is not None and days:
        pace = {
            "x1": round(LEFT + (len(days) - 0.5) * slot, 1),
            "y1": y(last),
            "x2": round(LEFT + (length - 0.5) * slot, 1),
            "y2": y(projected),
            "label": _("At this pace: %(points)s") % {"points": _grouped(projected)},
        }
    description = _("%(total)s points used over %(days)s days; %(included)s points included.") % {
        "total": _grouped(last),
        "days": len(days),
        "included": _grouped(included) if included is not None else "—",
    }
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "bottom": TOP + plot_h,
        "label_y": HEIGHT - 12,
        "bars": bars,
        "ticks": ticks,
        "x_labels": x_labels,
        "quota": quota,
        "pace": pace,
        "description": description,
    }


def gauge(*, used: int, included: int) -> dict:
    """The gauge of points used against included points: widths in percent of the whole bar,
    whose length is the larger of the two (so an overage shows as a second segment)."""
    whole = max(used, included, 1)
    within = min(used, included)
    return {
        "within": round(100 * within / whole, 2),
        "over": round(100 * (used - within) / whole, 2),
        "included_at": round(100 * included / whole, 2),
        "percent": round(100 * used / included) if included else None,
    }
