"""The settings module: environment-driven, strict in production."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "kJ8v2Qz7rT5nB1xW9mL4pC6sD3fG0hY8uE2aR7tN5bV1cX4zM9qP3wL6oK0iJ2",
    "ALLOWED_HOSTS": "billing.chatpoints.example",
    "DATABASE_URL": "postgres://chatpoints@db.internal:5432/chatpoints",
}


def manage(*args, env):
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ENV_FILE": os.devnull}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_secret_key_is_required_when_debug_is_off():
    env = {key: value for key, value in PRODUCTION.items() if key != "SECRET_KEY"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_defaults(settings):
    assert settings.LANGUAGE_CODE == "fr"
    assert [code for code, _ in settings.LANGUAGES] == ["fr", "en"]
    assert settings.BILLING_TIME_ZONE == "Europe/Paris"
    assert settings.USE_TZ is True
    assert settings.SELLER["country"] == "FR"
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE
