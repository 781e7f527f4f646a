"""The billing models, a module per concept: plans and subscriptions, tariffs, chat events and
the usage summary, invoices. App label and tables stay `billing_*`.

May import the pure core (pricing, months, vat, errors) and customers.models; no service.
"""

from billing.models.alerts import AlertEmail, UsageAlert
from billing.models.common import Actor, Category, Unit
from billing.models.events import (
    ApiToken,
    ChatEvent,
    ContactMonth,
    HeartbeatSilence,
    UsageDay,
    UsageMonth,
)
from billing.models.invoices import (
    INVOICE_FROZEN_COLUMNS,
    INVOICE_MUTABLE_FIELDS,
    EmailStatus,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    InvoiceStatus,
)
from billing.models.month_close import ItemState, MonthCloseItem, MonthCloseRun
from billing.models.payments import (
    BankEntry,
    BankStatement,
    DirectDebit,
    DirectDebitBatch,
    DirectDebitNotice,
    DirectDebitStatus,
    EntryStatus,
    Mandate,
    MandateScheme,
    Payment,
    PaymentKind,
    PaymentReminder,
    ReminderPause,
    SequenceType,
    StatementFormat,
)
from billing.models.plans import Plan, Subscription
from billing.models.tariffs import Tariff, TariffRate

__all__ = [
    "AlertEmail",
    "UsageAlert",
    "BankEntry",
    "BankStatement",
    "EntryStatus",
    "Payment",
    "PaymentKind",
    "PaymentReminder",
    "ReminderPause",
    "StatementFormat",
    "Actor",
    "ApiToken",
    "Category",
    "ChatEvent",
    "ContactMonth",
    "DirectDebit",
    "DirectDebitBatch",
    "DirectDebitNotice",
    "DirectDebitStatus",
    "EmailStatus",
    "HeartbeatSilence",
    "INVOICE_FROZEN_COLUMNS",
    "INVOICE_MUTABLE_FIELDS",
    "Invoice",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceSequence",
    "InvoiceStatus",
    "ItemState",
    "MonthCloseItem",
    "MonthCloseRun",
    "Mandate",
    "MandateScheme",
    "Plan",
    "SequenceType",
    "Subscription",
    "Tariff",
    "TariffRate",
    "Unit",
    "UsageDay",
    "UsageMonth",
]
