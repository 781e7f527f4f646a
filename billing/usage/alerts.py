"""Usage alerts: when a dealer's month reaches 80 % and then 100 % of its included points
(settings.USAGE_ALERT_THRESHOLDS), its billing addresses get one e-mail per threshold and month,
in the customer's language; the portal shows the same figures as a banner.

The figures are the report page's own (billing.usage.report.month_report: points used, the
projection and the plan comparison of billing.pricing), so the e-mail, the banner and the report
cannot disagree. A UsageAlert row is written before its e-mail is sent; its unique constraint
(customer, month, threshold) is what keeps an alert from going twice, even when two beat
processes run the hourly job at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from billing.formats import format_money
from billing.models import AlertEmail, Tariff, UsageAlert
from billing.months import Month, current_month
from billing.pricing import Projection
from billing.usage.report import MonthReport, PlanOption, month_report
from billing.usage.selectors import subscriptions_in_force, usage_from_rows, usage_rows_by_customer
from config.celery import enqueue
from customers.models import Customer


@dataclass(frozen=True)
class AlertFigures:
    threshold: int  # the highest threshold reached
    points_used: int
    included_points: int
    percent: int
    projection: Projection | None
    overage_points: int
    overage_amount: Decimal  # what the extra points cost so far, excl. VAT
    cheapest: PlanOption | None
    on_cheapest: bool


def thresholds() -> list[int]:
    return sorted(set(settings.USAGE_ALERT_THRESHOLDS))


def _reached(points: int, included: int) -> list[int]:
    if included <= 0:
        return []
    return [t for t in thresholds() if points * 100 >= t * included]


def usage_alert_figures(*, report: MonthReport) -> AlertFigures | None:
    """The alert of a month's report (the banner, the e-mail); None below the first threshold."""
    statement = report.statement
    if statement is None:
        return None
    reached = _reached(statement.points_used, statement.included_points)
    if not reached:
        return None
    cheapest = next((option for option in report.plans if option.cheapest), None)
    return AlertFigures(
        threshold=reached[-1],
        points_used=statement.points_used,
        included_points=statement.included_points,
        percent=statement.points_used * 100 // statement.included_points,
        projection=report.projection,
        overage_points=statement.overage_points,
        overage_amount=statement.overage_amount,
        cheapest=cheapest,
        on_cheapest=bool(cheapest and cheapest.current),
    )


def usage_alerts_send(*, now: datetime | None = None) -> int:
    """The hourly job: an alert row for each threshold a customer's month reached and has no
    row for yet (customers who turned alerts off are left out), its e-mail sent after commit;
    when several are reached at once only the highest is e-mailed (the others are marked
    covered). Usage is read for every customer in one query. Returns the e-mails enqueued."""
    month = current_month(now)
    subscriptions = list(
        subscriptions_in_force(month=month)
        .filter(customer__usage_alerts=True)
        .select_related("customer", "plan")
    )
    if not subscriptions:
        return 0
    tariffs = {tariff.id: tariff for tariff in Tariff.objects.all()}
    rows = usage_rows_by_customer(
        month=month, customers=[s.customer_id for s in subscriptions], tariffs=tariffs
    )
    existing = set(
        UsageAlert.objects.filter(month=month.first_day).values_list("customer_id", "threshold")
    )
    enqueued = 0
    for subscription in subscriptions:
        points = usage_from_rows(rows.get(subscription.customer_id, []), tariffs).points
        new = [
            t
            for t in _reached(points, subscription.terms().included_points)
            if (subscription.customer_id, t) not in existing
        ]
        for threshold in new:
            try:
                with transaction.atomic():
                    alert = UsageAlert.objects.create(
                        customer_id=subscription.customer_id,
                        month=month.first_day,
                        threshold=threshold,
                        points_used=points,
                        included_points=subscription.terms().included_points,
                        email_status=AlertEmail.WAITING
                        if threshold == new[-1]
                        else AlertEmail.COVERED,
                    )
            except IntegrityError:
                continue  # another run of the job wrote it first: it sends it
            if alert.email_status == AlertEmail.WAITING:
                enqueue("billing.usage_alert_send", alert_id=alert.pk)
                enqueued += 1
    return enqueued


def usage_alert_send(*, alert_id: int, now: datetime | None = None) -> UsageAlert:
    """E-mail one alert (once: its row is locked and its status is the truth)."""
    with transaction.atomic():
        alert = UsageAlert.objects.select_for_update().select_related("customer").get(pk=alert_id)
        if alert.email_status in (AlertEmail.SENT, AlertEmail.COVERED):
            return alert
        try:
            _send(alert, now=now)
        except Exception as error:  # noqa: BLE001 - recorded on the alert, tried again
            alert.email_status = AlertEmail.FAILED
            alert.email_error = f"{type(error).__name__}: {error}"[:2000]
            alert.save(update_fields=["email_status", "email_error"])
            return alert
        alert.email_status = AlertEmail.SENT
        alert.email_sent_at = timezone.now()
        alert.email_error = ""
        alert.save(update_fields=["email_status", "email_sent_at", "email_error"])
    return alert


def _send(alert: UsageAlert, *, now: datetime | None) -> None:
    from django.core.mail import EmailMessage

    customer = alert.customer
    recipients = customer.billing_email_list
    if not recipients:
        raise ValueError(_("The customer has no billing e-mail address."))
    with translation.override(customer.language):
        report = month_report(customer=customer, month=Month.of(alert.month), now=now)
        figures = usage_alert_figures(report=report)
        subject, body = alert_message(alert=alert, figures=figures, customer=customer)
    EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        reply_to=[settings.SELLER["email"]] if settings.SELLER.get("email") else None,
    ).send()


def alert_message(*, alert: UsageAlert, figures: AlertFigures | None, customer: Customer):
    """(subject, body) in the active language."""
    month = date_format(alert.month, "YEAR_MONTH_FORMAT")
    subject = _("Chatpoints %(month)s: %(threshold)d %% of your included points used") % {
        "month": month,
        "threshold": alert.threshold,
    }
    lines = [_("Hello,"), ""]
    points_used = figures.points_used if figures else alert.points_used
    included = figures.included_points if figures else alert.included_points
    lines.append(
        _("%(customer)s has used %(used)s of its %(included)s included points in %(month)s.")
        % {
            "customer": customer.legal_name,
            "used": number_format(points_used, force_grouping=True),
            "included": number_format(included, force_grouping=True),
            "month": month,
        }
    )
    if figures and figures.projection:
        lines.append(
            _("At this pace the month ends at about %(points)s points.")
            % {"points": number_format(figures.projection.points, force_grouping=True)}
        )
    if figures and figures.overage_points:
        lines.append(
            _("Extra points so far: %(points)s, %(amount)s excl. VAT.")
            % {
                "points": number_format(figures.overage_points, force_grouping=True),
                "amount": format_money(figures.overage_amount),
            }
        )
    if figures and figures.cheapest:
        if figures.on_cheapest:
            lines.append(_("Your plan is the cheapest for this month's usage."))
        else:
            lines.append(
                _("The cheapest plan for this month's usage: %(plan)s, %(amount)s excl. VAT.")
                % {
                    "plan": figures.cheapest.name,
                    "amount": format_money(figures.cheapest.statement.net_total),
                }
            )
    lines += [
        "",
        _("You can turn these e-mails off in the portal, under Usage alerts."),
        "",
        settings.SELLER.get("legal_name", ""),
    ]
    return subject, "\n".join(lines)


def customer_alerts_set(*, customer: Customer, enabled: bool) -> Customer:
    """A dealer turns its usage alerts on or off."""
    with transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(usage_alerts=enabled)
    customer.usage_alerts = enabled
    return customer


def usage_alerts_of(*, customer: Customer):
    return UsageAlert.objects.filter(customer=customer)
