"""The billing staff's dashboard: the admin's first page. The stock list of every model stays one
click away ("All models", admin:all_models). The figures come from one selector,
billing.invoicing.dashboard.dashboard_figures; this module only draws and links them."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.translation import gettext

from billing.formats import format_money
from billing.invoicing.dashboard import AGING, Revenue, dashboard_figures
from billing.usage.heartbeat import business_days, business_hours

SUNDAY = date(2026, 11, 1)
WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 84, 16, 20, 34
# One colour per plan, in the plans' order (the portal's palette); a plan beyond them is grey.
PLAN_COLOURS = ("#7aa7d6", "#2f6db5", "#1b3f73", "#c9822b", "#8a8f98")


def _link(name: str, **query) -> str:
    url = reverse(name)
    return f"{url}?{urlencode(query)}" if query else url


def _nice_step(top: float) -> float:
    raw = max(top / 4, 1)
    power = 1
    while power * 10 <= raw:
        power *= 10
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power  # pragma: no cover


def revenue_chart(revenue: Revenue) -> dict:
    """Stacked bars: each month's net revenue by plan, drawn on the server as SVG. Geometry only
    (floats for the drawing; the amounts shown are the selector's Decimals, formatted)."""
    top_value = max([float(month.total) for month in revenue.months] + [1.0])
    step = _nice_step(top_value)
    y_max = (top_value // step + 1) * step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(revenue.months), 1)
    colours = {code: PLAN_COLOURS[min(i, 4)] for i, (code, _n) in enumerate(revenue.plans)}
    names = dict(revenue.plans)

    def y(value: float) -> float:
        return round(TOP + plot_h - plot_h * value / y_max, 1)

    bars = []
    for index, month in enumerate(revenue.months):
        x = round(LEFT + index * slot + slot * 0.15, 1)
        base = 0.0
        parts = []
        for code, amount in month.by_plan.items():
            if amount <= 0:
                continue
            top = base + float(amount)
            parts.append(
                {
                    "y": y(top),
                    "height": round(y(base) - y(top), 1),
                    "colour": colours[code],
                    "title": f"{month.month} · {names[code] or gettext('other')}: "
                    f"{format_money(amount)}",
                }
            )
            base = top
        bars.append(
            {
                "x": x,
                "width": round(slot * 0.7, 1),
                "parts": parts,
                "label": f"{month.month.month:02d}/{month.month.year % 100:02d}",
                "label_x": round(LEFT + (index + 0.5) * slot, 1),
                "url": _link("admin:billing_invoice_changelist", month=str(month.month)),
                "total": format_money(month.total),
            }
        )
    ticks = []
    value = 0.0
    while value <= y_max:
        ticks.append({"y": y(value), "label": format_money(Decimal(int(value)), 0)})
        value += step
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "bottom": TOP + plot_h,
        "label_y": HEIGHT - 12,
        "bars": bars,
        "ticks": ticks,
        "legend": [
            {"name": name or gettext("other"), "colour": colours[code]}
            for code, name in revenue.plans
        ],
    }


def dashboard_links(figures) -> dict:
    """The filtered admin list behind each figure."""
    month = str(figures.quota.month)
    last = str(figures.close.month)
    invoices = "admin:billing_invoice_changelist"
    issued = {"kind__exact": "invoice", "status__exact": "issued"}
    aging = {
        f"overdue_{low}" + (f"_{high}" if high else ""): _link(
            invoices, **issued, payment=f"overdue_{low}" + (f"_{high}" if high else "")
        )
        for low, high in AGING
    }
    chats = "admin:billing_chatevent_changelist"
    return {
        "points": _link(chats, month=month, counted="yes"),
        "over": _link("admin:customers_customer_changelist", quota="over"),
        "near": _link("admin:customers_customer_changelist", quota="near"),
        "close": _link("admin:billing_invoice_close", month=last),
        "drafts": _link(invoices, month=last, status__exact="draft"),
        "issued": _link(invoices, **issued),
        "paid": _link(invoices, **issued, payment="paid"),
        "due": _link(invoices, **issued, payment="due"),
        "overdue": _link(invoices, **issued, payment="overdue"),
        "aging": aging,
        "failed": _link(invoices, email_status__exact="failed"),
        "unbilled": {
            str(m): _link(chats, billing="unbilled", month=str(m))
            for m in figures.attention.unbilled
        },
        "late": _link(chats, billing="pending"),
        "voided": _link(chats, voided_in=month),
        "all_models": reverse("admin:all_models"),
    }


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """Billing staff (who may view invoices) see the dashboard; anyone else the stock index."""
    if not request.user.has_perm("billing.view_invoice"):
        return admin.site.index(request)
    figures = dashboard_figures()
    receivables = figures.receivables
    aging = [
        {
            "label": label,
            "figure": receivables.states[f"overdue_{low}" + (f"_{high}" if high else "")],
            "key": f"overdue_{low}" + (f"_{high}" if high else ""),
        }
        for (low, high), label in zip(
            AGING,
            (gettext("0–30 days"), gettext("31–60 days"), gettext("over 60 days")),
            strict=True,
        )
    ]
    chats = reverse("admin:billing_chatevent_changelist")
    beats = [
        {**beat.__dict__, "url": f"{chats}?{urlencode({'source': beat.source})}"}
        for beat in figures.heartbeat
    ]
    opens, closes = business_hours()
    days = [d for d in range(1, 8) if d in business_days()]
    context = {
        **admin.site.each_context(request),
        "title": gettext("Billing dashboard"),
        "figures": figures,
        "links": dashboard_links(figures),
        "aging": aging,
        "unbilled": list(figures.attention.unbilled.items()),
        "chart": revenue_chart(figures.revenue),
        "heartbeat": beats,
        "silence_minutes": settings.HEARTBEAT_SILENCE_MINUTES,
        "business_hours": gettext("%(first)s to %(last)s, %(opens)d:00 to %(closes)d:00")
        % {
            # 2026-11-01 is a Sunday: day d (ISO, 1 = Monday) of that week is d days after.
            "first": date_format(SUNDAY + timedelta(days=days[0]), "l"),
            "last": date_format(SUNDAY + timedelta(days=days[-1]), "l"),
            "opens": opens,
            "closes": closes,
        },
    }
    return TemplateResponse(request, "admin/billing/dashboard.html", context)


def _with_dashboard(get_urls):
    """The admin site's URLs with the dashboard as its index and the stock index under
    `all-models/`."""

    def urls():
        site = admin.site
        return [
            path("", site.admin_view(dashboard_view), name="index"),
            path("all-models/", site.admin_view(site.index), name="all_models"),
            *get_urls(),
        ]

    return urls


admin.site.get_urls = _with_dashboard(admin.site.get_urls)
