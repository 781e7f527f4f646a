import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from billing.errors import BillingError
from billing.months import Month
from billing.usage import month_statement
from customers.models import Customer


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
        self.stdout.write(self._text(found, data))

    def _text(self, customer, data) -> str:
        rows = [
            f"{customer.legal_name} ({customer.code}) — {data['month']} — {data['plan']}",
            "",
            f"{'tariff':<26}{'actor':<8}{'chats':>8}{'points':>10}",
        ]
        rows += [
            f"{line['tariff']:<26}{line['actor']:<8}{line['chats']:>8}{line['points']:>10}"
            for line in data["lines"]
        ]
        rows += [
            "",
            f"{_('Engaged contacts')}: {data['engaged_contacts']}",
            f"{_('Points used')}: {data['points_used']} / {data['included_points']}",
            f"{_('Extra points')}: {data['overage_points']} × {data['price_per_extra_point']} €"
            f" = {data['overage_amount']} €",
            f"{_('Monthly fee')}: {data['monthly_fee']} €",
            f"{_('Net total')}: {data['net_total']} €",
            f"{_('VAT')} {data['vat_rate']} %: {data['vat_amount']} €",
            f"{_('Total')}: {data['total']} €",
        ]
        return "\n".join(rows)
