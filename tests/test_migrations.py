"""The models and the migrations agree: every change of a field (help text too) is migrated."""

from io import StringIO

from django.core.management import call_command


def test_no_migration_is_missing(db):
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    assert "No changes detected" in out.getvalue()
