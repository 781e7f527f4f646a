"""Only a credit note cancels an invoice, and the invoice tables are never truncated, held by
the database (DOMAIN.md rule 8; the model says so too: billing.models.Invoice.save).

- An invoice becomes `cancelled` (by an update, or inserted so) only when an issued credit note
  referencing it exists: billing.invoicing.issue.invoice_cancel issues the note first, then cancels
  the invoice, in one transaction.
- PostgreSQL: TRUNCATE of billing_invoice, billing_invoiceline or billing_invoicesequence (also
  through TRUNCATE … CASCADE from the customers) is refused, unless the session has set
  `chatpoints.allow_truncate` to `on`. Only the test suite sets it (tests/conftest.py: Django
  empties the test database with TRUNCATE between transactional tests); to empty a development
  database with `manage.py flush`, run it with PGOPTIONS='-c chatpoints.allow_truncate=on'.
  (SQLite has no TRUNCATE: its DELETE triggers, migration 0006, hold issued invoices.)
"""

from django.db import migrations

_NO_CREDIT_NOTE = """NOT EXISTS (
    SELECT 1 FROM billing_invoice note
    WHERE note.credited_invoice_id = NEW.id AND note.kind = 'credit_note' AND note.status = 'issued'
)"""

TRUNCATE_GUARDED = ("billing_invoice", "billing_invoiceline", "billing_invoicesequence")

POSTGRES_UP = f"""
CREATE FUNCTION billing_invoice_cancelled_by_credit_note() RETURNS trigger AS $$
BEGIN
    IF NEW.status = 'cancelled'
        AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'cancelled')
        AND {_NO_CREDIT_NOTE}
    THEN
        RAISE EXCEPTION 'invoice_cancelled_by_credit_note: only a credit note cancels invoice %',
            COALESCE(NEW.number, NEW.id::text)
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER invoice_cancelled_by_credit_note BEFORE INSERT OR UPDATE OF status
    ON billing_invoice
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_cancelled_by_credit_note();

CREATE FUNCTION billing_invoice_tables_never_truncated() RETURNS trigger AS $$
BEGIN
    IF current_setting('chatpoints.allow_truncate', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'invoice_is_final: % is never truncated (issued invoices are final)',
            TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
""" + "".join(
    f"""
CREATE TRIGGER {table}_never_truncated BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION billing_invoice_tables_never_truncated();
"""
    for table in TRUNCATE_GUARDED
)

POSTGRES_DOWN = "".join(
    f"DROP TRIGGER {table}_never_truncated ON {table};\n" for table in TRUNCATE_GUARDED
) + (
    "DROP FUNCTION billing_invoice_tables_never_truncated();\n"
    "DROP TRIGGER invoice_cancelled_by_credit_note ON billing_invoice;\n"
    "DROP FUNCTION billing_invoice_cancelled_by_credit_note();\n"
)

_SQLITE_REFUSE = (
    "SELECT RAISE(ABORT, 'invoice_cancelled_by_credit_note: only a credit note cancels an invoice')"
)
SQLITE_UP = [
    f"""CREATE TRIGGER invoice_cancelled_by_credit_note_update BEFORE UPDATE OF status
    ON billing_invoice
    WHEN NEW.status = 'cancelled' AND OLD.status IS NOT 'cancelled' AND {_NO_CREDIT_NOTE}
    BEGIN {_SQLITE_REFUSE}; END;""",
    f"""CREATE TRIGGER invoice_cancelled_by_credit_note_insert BEFORE INSERT ON billing_invoice
    WHEN NEW.status = 'cancelled' AND {_NO_CREDIT_NOTE}
    BEGIN {_SQLITE_REFUSE}; END;""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS invoice_cancelled_by_credit_note_update;",
    "DROP TRIGGER IF EXISTS invoice_cancelled_by_credit_note_insert;",
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
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(POSTGRES_DOWN)
    elif vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("billing", "0007_usage_summary")]

    operations = [migrations.RunPython(forwards, backwards)]
