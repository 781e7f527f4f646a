"""The four plans and the tariff table of docs/billing-rules.md, as loaded on day one.

The first version of every tariff is effective from 2022-01-01, the date of the original pricing
page; later changes are new TariffRate rows made in the admin.
"""

import datetime
from decimal import Decimal

from django.db import migrations

PLANS = [
    # code, name fr, name en, fee, included points, price per extra point
    ("BASE", "Basique", "Base", Decimal("99.00"), 250, Decimal("0.1800")),
    ("GROW", "Croissance", "Grow", Decimal("499.00"), 3000, Decimal("0.1400")),
    ("SCALE", "Évolutif", "Scale", Decimal("1499.00"), 12000, Decimal("0.1300")),
    ("ENTERPRISE", "Entreprise", "Enterprise", None, None, None),
]

# code, category, unit, description fr, description en, agent, bot, team (None: not offered)
TARIFFS = [
    (
        "contact_engaged",
        "messaging",
        "contact_month",
        "Contact engagé par mois (chats illimités)",
        "Engaged contact per month (unlimited chats)",
        None,
        None,
        2,
    ),
    (
        "test_drive",
        "sales_leads",
        "chat",
        "Rendez-vous pour un essai",
        "Test drive appointment",
        65,
        40,
        None,
    ),
    (
        "video_call",
        "sales_leads",
        "chat",
        "Rendez-vous par appel vidéo",
        "Video call appointment",
        65,
        40,
        None,
    ),
    (
        "showroom_visit",
        "sales_leads",
        "chat",
        "Rendez-vous pour une visite du showroom",
        "Showroom visit appointment",
        65,
        40,
        None,
    ),
    ("quote_request", "sales_leads", "chat", "Demande de devis", "Quote request", 65, None, None),
    (
        "info_request",
        "sales_leads",
        "chat",
        "Demande d'informations",
        "Information request",
        65,
        None,
        None,
    ),
    (
        "tradein_valuation",
        "sales_leads",
        "chat",
        "Évaluation de reprise",
        "Trade-in valuation",
        65,
        40,
        None,
    ),
    (
        "workshop_appointment",
        "after_sales",
        "chat",
        "Rendez-vous en atelier",
        "Workshop appointment",
        65,
        40,
        None,
    ),
    (
        "whatsapp_reminder",
        "after_sales",
        "chat",
        "Rappel de rendez-vous via WhatsApp",
        "Appointment reminder via WhatsApp",
        None,
        1,
        None,
    ),
    (
        "support_info",
        "support",
        "chat",
        "Information communiquée",
        "Information provided",
        45,
        None,
        None,
    ),
    (
        "intervention_request",
        "support",
        "chat",
        "Demande d'intervention",
        "Service request",
        45,
        None,
        None,
    ),
    ("crm_lead", "other", "chat", "Leads vers votre CRM", "Lead sent to your CRM", None, 6, None),
    ("mql_to_sql", "other", "chat", "Lead MQL à SQL", "MQL-to-SQL lead", None, 40, None),
    (
        "whatsapp_concierge",
        "other",
        "chat",
        "Chatbot WhatsApp Concierge",
        "WhatsApp concierge chatbot",
        None,
        0,
        None,
    ),
    (
        "whatsapp_standard_reply",
        "other",
        "chat",
        "Réponse standard WhatsApp",
        "WhatsApp standard reply",
        None,
        0,
        None,
    ),
]

FIRST_DAY = datetime.date(2022, 1, 1)


def load(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Tariff = apps.get_model("billing", "Tariff")
    TariffRate = apps.get_model("billing", "TariffRate")
    for code, name_fr, name_en, fee, included, price in PLANS:
        Plan.objects.update_or_create(
            code=code,
            defaults={
                "name_fr": name_fr,
                "name_en": name_en,
                "is_custom": fee is None,
                "monthly_fee": fee,
                "included_points": included,
                "price_per_extra_point": price,
            },
        )
    for code, category, unit, fr, en, agent, bot, team in TARIFFS:
        tariff, created = Tariff.objects.get_or_create(
            code=code,
            defaults={
                "category": category,
                "unit": unit,
                "description_fr": fr,
                "description_en": en,
                "points_agent": agent,
                "points_bot": bot,
                "points_team": team,
                "effective_from": FIRST_DAY,
            },
        )
        if created:
            TariffRate.objects.create(
                tariff=tariff,
                effective_from=FIRST_DAY,
                points_agent=agent,
                points_bot=bot,
                points_team=team,
            )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
