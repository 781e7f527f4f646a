"""Customers without a SIREN get the one their French VAT number contains (key checked), where
they have one; the others stay empty, listed in the admin ("SIREN missing") for staff to fill."""

from django.db import migrations, models


def siren_from_vat_number(apps, schema_editor):
    from customers.models import SIREN_COUNTRIES, siren_from_vat_number

    Customer = apps.get_model("customers", "Customer")
    found = []
    for customer in Customer.objects.filter(
        siren="", country__in=SIREN_COUNTRIES, vat_number__startswith="FR"
    ).only("id", "vat_number"):
        siren = siren_from_vat_number(customer.vat_number)
        if siren:
            customer.siren = siren
            found.append(customer)
    Customer.objects.bulk_update(found, ["siren"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0005_billing_managers"),
    ]

    operations = [
        migrations.AlterField(
            model_name="customer",
            name="siren",
            field=models.CharField(
                blank=True,
                help_text="Required for a company in France (e-invoices carry it); in Monaco if it has one. 9 digits; taken from a French VAT number when empty.",
                max_length=9,
                verbose_name="SIREN",
            ),
        ),
        migrations.RunPython(siren_from_vat_number, migrations.RunPython.noop),
    ]
