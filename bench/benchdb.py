"""What the benchmarks share: their own PostgreSQL database, kept between runs, and Django set up
as in production (DEBUG off, no developer's .env)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def admin_url(url: str) -> str:
    """The same server, database `postgres`: where CREATE/DROP DATABASE run."""
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def dataset_complete(url: str, dataset: str) -> bool:
    """The chat-event table carries `dataset` as its comment once a load is complete."""
    with psycopg.connect(url) as conn:
        comment = conn.execute(
            "SELECT obj_description(to_regclass('billing_chatevent'), 'pg_class')"
        ).fetchone()[0]
    return comment == dataset


def prepare_database(url: str, rebuild: bool, dataset: str) -> bool:
    """Create (or drop and create) the bench database; True when the dataset must be generated."""
    name = database_name(url)
    if "bench" not in name:
        sys.exit(f"refusing to use database {name!r}: its name must contain 'bench'")
    with psycopg.connect(admin_url(url), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not rebuild and dataset_complete(url, dataset):
            return False
        if exists:
            why = "--rebuild" if rebuild else "dataset missing or incomplete"
            print(f"dropping database {name} ({why})")
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        print(f"creating database {name}")
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["ENV_FILE"] = "/dev/null"  # no developer's .env (DEBUG=1) in the way
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Production-like: DEBUG off (no query logging in the cursor), so a key is needed.
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def open_dataset(url: str, *, rebuild: bool, dataset: str, generate, what: str):
    """Prepare the database, set Django up, migrate, and generate the dataset unless a complete
    one is there (`generate(connection)` returns its seconds). Returns Django's connection."""
    must_generate = prepare_database(url, rebuild, dataset)
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    if must_generate:
        print(f"generating {what} into {database_name(url)} ...")
        print(f"data generated in {generate(connection):.1f} s")
    else:
        print(f"reusing the dataset in {database_name(url)} (--rebuild to regenerate)")
    return connection
