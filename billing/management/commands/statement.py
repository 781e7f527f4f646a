import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from billing.errors import BillingError
from billing.formats import money, points
from billing.models import Actor
from billing.months import Month
from billing.usage.selectors import month_statement
from customers.models import Customer, VatTreatment


def _money(value) -> str:
    return f"{value:.2f}"


def statement_as_dict(*, customer: Customer, month: Month, statement) -> dict:
    return {
        "customer": customer.code,
        "month": str(month),
        "plan": statement.plan,
        "monthly_fee": _money(statement.monthly_fee),
        "included_points": statement.included_points,
        "points_used": statement.points_used,
        "overage_points": statement.overage_points,
        "price_per_extra_point": f"{statement.price_per_extra_point:.4f}",
        "overage_amount": _money(statement.overage_amount),
        "net_total": _money(statement.net_total),
        "vat_treatment": statement.vat_treatment,
        "vat_rate": _money(statement.vat_rate),
        "vat_amount": _money(statement.vat_amount),
        "total": _money(statement.total),
        "engaged_contacts": statement.engaged_contacts,
        "lines": [
            {"tariff": line.tariff, "actor": line.actor, "chats": line.chats, "points": line.points}
            for line in statement.lines
        ],
    }


class Command(BaseCommand):
    help = "Print a customer's Chatpoint statement for a month."

    def add_arguments(self, parser):
        parser.add_argument("customer", help="customer code")
        parser.add_argument("month", help="billing month, YYYY-MM")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, customer, month, **options):
        try:
            parsed = Month.parse(month)
            found = Customer.objects.filter(code=customer).first()
            if found is None:
                raise CommandError(_("Unknown customer %(value)r.") % {"value": customer})
            statement = month_statement(customer=found, month=parsed)
        except BillingError as error:
            raise CommandError(str(error)) from None
        data = statement_as_dict(customer=found, month=parsed, statement=statement)
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False))
            return
        self.stdout.write(self._text(found, statement, parsed))

    def _text(self, customer, statement, month) -> str:
        """The statement for people, in the active language (French by default)."""
        head = (_("Tariff"), _("Actor"), _("Chats"), _("Points"))
        rows = [
            f"{customer.legal_name} ({customer.code}) — {month} — {statement.plan}",
            "",
            f"{head[0]:<26}{head[1]:<9}{head[2]:>8}{head[3]:>10}",
        ]
        for line in statement.lines:
            actor = str(Actor(line.actor).label)
            rows.append(
                f"{line.tariff:<26}{actor:<9}{points(line.chats):>8}{points(line.points):>10}"
            )
        totals = [
            (_("Engaged contacts"), points(statement.engaged_contacts)),
            (
                _("Points used"),
                f"{points(statement.points_used)} / {points(statement.included_points)}",
            ),
            (_("Monthly fee"), money(statement.monthly_fee)),
            (
                _("Extra Chatpoints: %(quantity)s × %(price)s")
                % {
                    "quantity": points(statement.overage_points),
                    "price": money(statement.price_per_extra_point, 4),
                },
                money(statement.overage_amount),
            ),
            (_("Net total"), money(statement.net_total)),
            (
                _("VAT %(rate)s %%") % {"rate": number_format(statement.vat_rate, 2)},
                money(statement.vat_amount),
            ),
            (_("Total"), money(statement.total)),
        ]
        width = max(len(label) for label, _value in totals) + 2
        rows.append("")
        rows += [f"{label:<{width}}{value:>16}" for label, value in totals]
        rows.append(
            _("VAT treatment: %(treatment)s")
            % {"treatment": VatTreatment(statement.vat_treatment).label}
        )
        return "\n".join(rows)
