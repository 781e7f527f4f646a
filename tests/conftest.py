from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.backends.signals import connection_created
from django.utils import translation

PARIS = ZoneInfo("Europe/Paris")


def _the_test_database_may_be_truncated(sender, connection, **kwargs):
    """Django empties the test database with TRUNCATE after transactional tests (its `flush`);
    PostgreSQL refuses TRUNCATE of the invoice tables unless the session allows it (billing
    migration 0008). The test suite's connections allow it; production's never do."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET chatpoints.allow_truncate = on")


connection_created.connect(
    _the_test_database_may_be_truncated, weak=False, dispatch_uid="chatpoints-allow-truncate"
)


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Tests render templates without running collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` need row locks and real concurrency: skipped on SQLite."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _english_outside_requests():
    """Code called directly (services, commands) speaks English in tests unless a test switches;
    requests choose their language as in production (French by default)."""
    with translation.override("en"):
        yield


@pytest.fixture
def clock(monkeypatch):
    """The billing code's clock (django.utils.timezone.now), set by the test: `clock.now = …`."""
    from types import SimpleNamespace

    from django.utils import timezone

    state = SimpleNamespace(now=timezone.now())
    monkeypatch.setattr(timezone, "now", lambda: state.now)
    return state


@pytest.fixture
def paris():
    def at(*args) -> datetime:
        return datetime(*args, tzinfo=PARIS)

    return at


@pytest.fixture
def db_vendor(db):
    return connection.vendor


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Users are made by the dozen in tests: a fast hasher (production keeps Django's default)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
