"""Issued invoices are final (billing rule 8), held by the database.

Once an invoice is no longer a draft, triggers refuse any change to what issuing froze
(billing.models.INVOICE_FROZEN_COLUMNS), any status but issued -> cancelled, its deletion, and
any insert, change or deletion of its lines. What may still change: cancelled by a credit note,
paid, e-mailed.
"""

from django.db import migrations

# As billing.models.INVOICE_FROZEN_COLUMNS said when this migration was written.
INVOICE_FROZEN_COLUMNS = (
    "customer_id",
    "month",
    "kind",
    "credited_invoice_id",
    "number",
    "series",
    "year",
    "sequence",
    "issued_at",
    "issue_date",
    "due_date",
    "language",
    "plan_name",
    "included_points",
    "points_used",
    "overage_points",
    "engaged_contacts",
    "net_total",
    "vat_rate",
    "vat_amount",
    "total",
    "vat_treatment",
    "seller",
    "buyer",
    "usage",
    "pdf",
)

_CHANGED = " OR ".join(
    f"NEW.{column} IS DISTINCT FROM OLD.{column}" for column in INVOICE_FROZEN_COLUMNS
)

POSTGRES_UP = f"""
CREATE FUNCTION billing_invoice_final() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice_is_final: issued invoice % is never deleted', OLD.number
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (
        {_CHANGED}
        OR NOT (NEW.status = OLD.status OR (OLD.status = 'issued' AND NEW.status = 'cancelled'))
    ) THEN
        RAISE EXCEPTION 'invoice_is_final: issued invoice % cannot be changed', OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER invoice_is_final BEFORE UPDATE OR DELETE ON billing_invoice
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_final();

CREATE FUNCTION billing_invoiceline_final() RETURNS trigger AS $$
DECLARE
    parent_status varchar;
BEGIN
    SELECT status INTO parent_status FROM billing_invoice
        WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.invoice_id ELSE NEW.invoice_id END;
    IF parent_status IS DISTINCT FROM 'draft' AND parent_status IS NOT NULL THEN
        RAISE EXCEPTION 'invoice_is_final: the lines of an issued invoice never change'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.invoice_id <> NEW.invoice_id THEN
        SELECT status INTO parent_status FROM billing_invoice WHERE id = OLD.invoice_id;
        IF parent_status <> 'draft' THEN
            RAISE EXCEPTION 'invoice_is_final: the lines of an issued invoice never change'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER invoiceline_is_final BEFORE INSERT OR UPDATE OR DELETE ON billing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION billing_invoiceline_final();
"""
POSTGRES_DOWN = """
DROP TRIGGER invoiceline_is_final ON billing_invoiceline;
DROP FUNCTION billing_invoiceline_final();
DROP TRIGGER invoice_is_final ON billing_invoice;
DROP FUNCTION billing_invoice_final();
"""

_SQLITE_CHANGED = " OR ".join(
    f"NEW.{column} IS NOT OLD.{column}" for column in INVOICE_FROZEN_COLUMNS
)
_LINE_FINAL = "SELECT RAISE(ABORT, 'invoice_is_final: the lines of an issued invoice never change')"
SQLITE_UP = [
    f"""CREATE TRIGGER invoice_is_final_update BEFORE UPDATE ON billing_invoice
    WHEN OLD.status <> 'draft' AND (
        {_SQLITE_CHANGED}
        OR NOT (NEW.status = OLD.status OR (OLD.status = 'issued' AND NEW.status = 'cancelled'))
    )
    BEGIN SELECT RAISE(ABORT, 'invoice_is_final: an issued invoice cannot be changed'); END;""",
    """CREATE TRIGGER invoice_is_final_delete BEFORE DELETE ON billing_invoice
    WHEN OLD.status <> 'draft'
    BEGIN SELECT RAISE(ABORT, 'invoice_is_final: an issued invoice is never deleted'); END;""",
    f"""CREATE TRIGGER invoiceline_is_final_insert BEFORE INSERT ON billing_invoiceline
    WHEN (SELECT status FROM billing_invoice WHERE id = NEW.invoice_id) <> 'draft'
    BEGIN {_LINE_FINAL}; END;""",
    f"""CREATE TRIGGER invoiceline_is_final_update BEFORE UPDATE ON billing_invoiceline
    WHEN (SELECT status FROM billing_invoice WHERE id = OLD.invoice_id) <> 'draft'
      OR (SELECT status FROM billing_invoice WHERE id = NEW.invoice_id) <> 'draft'
    BEGIN {_LINE_FINAL}; END;""",
    f"""CREATE TRIGGER invoiceline_is_final_delete BEFORE DELETE ON billing_invoiceline
    WHEN (SELECT status FROM billing_invoice WHERE id = OLD.invoice_id) <> 'draft'
    BEGIN {_LINE_FINAL}; END;""",
]
SQLITE_DOWN = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in (
        "invoice_is_final_update",
        "invoice_is_final_delete",
        "invoiceline_is_final_insert",
        "invoiceline_is_final_update",
        "invoiceline_is_final_delete",
    )
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:  # no parameters: % is plpgsql's own
            cursor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    elif vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_invoices")]

    operations = [migrations.RunPython(forwards, backwards)]
