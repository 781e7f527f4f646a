"""The one settings module: everything that differs between machines comes from the environment.

Read with django-environ; a `.env` file beside manage.py (or the file ENV_FILE names) is read
too when present, without overriding the real environment.
Production: DEBUG off (the default), SECRET_KEY and ALLOWED_HOSTS set, DATABASE_URL pointing at
PostgreSQL, served by gunicorn behind TLS with WhiteNoise for static files.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set in the environment when DEBUG is off "
            "(for local work: DEBUG=1, or `make run`)."
        )
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 (DEBUG only)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",
    "axes",
    "customers",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.headers.SecurityHeadersMiddleware",  # portal: no caching, a strict CSP
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.locale.PortalLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# Database: an embedded SQLite file by default, PostgreSQL in production (DATABASE_URL).
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'chatpoints.sqlite3'}"),
}
if "DATABASE_URL" not in env:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    DATABASES["default"]["TEST"] = {"NAME": None}
else:
    # Connections are kept between requests (CONN_MAX_AGE seconds) and checked before a request
    # reuses one: after PostgreSQL dropped it (a restart, a failover, an idle timeout), the
    # request opens a new one instead of answering 500.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses logins while locked out
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24  # a reset link works for a day

# Brute force (django-axes): after AXES_FAILURE_LIMIT failed logins from one address, or on one
# user name from anywhere, further attempts are refused for AXES_COOLOFF_MINUTES. The address is
# REMOTE_ADDR, or the one our own proxies appended (config/security.py, TRUSTED_PROXY_COUNT).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "config.security.client_ip"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = False  # config.security.forget_failed_logins: the user name only
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Languages: French first, English second. Catalogues live in locale/ and are committed compiled.
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 60 * 60 * 24 * 365  # the dealer's choice is remembered for a year
LANGUAGE_COOKIE_SAMESITE = "Lax"
USE_I18N = True
USE_TZ = True
# Dates as our customers write them (config/formats/): English in day-month order, like the
# French (30 November 2026, 30/11/2026), where Django's English is American.
FORMAT_MODULE_PATH = ["config.formats"]

# The billing time zone decides which month a chat belongs to (billing rule 1).
BILLING_TIME_ZONE = env.str("BILLING_TIME_ZONE", default="Europe/Paris")
TIME_ZONE = BILLING_TIME_ZONE

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"

# Security: strict unless DEBUG. Behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# E-mail: EMAIL_URL (SMTP in production, e.g. smtp+tls://user:password@host:587). Without it,
# development (DEBUG) writes each message to its own .eml file under var/mail/ (config/mail.py:
# readable, the PDF kept, nothing floods the terminal); otherwise the console.
if "EMAIL_URL" in env or not DEBUG:
    vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
else:
    EMAIL_BACKEND = "config.mail.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="facturation@chatpoints.example")

# The seller: printed on statements now, frozen on every invoice later.
SELLER = {
    "legal_name": env.str("SELLER_LEGAL_NAME", default="Chatpoints SAS"),
    "legal_form": env.str("SELLER_LEGAL_FORM", default="SAS"),
    "capital": env.str("SELLER_CAPITAL", default="50 000 €"),
    # The address, structured (the e-invoice carries each part): street (several lines if
    # needed), postcode, city, country (ISO code).
    "street": env.str("SELLER_STREET", default="12 rue de la Messagerie"),
    "postcode": env.str("SELLER_POSTCODE", default="75011"),
    "city": env.str("SELLER_CITY", default="Paris"),
    "country": env.str("SELLER_COUNTRY", default="FR"),
    "siren": env.str("SELLER_SIREN", default="732829320"),
    "rcs": env.str("SELLER_RCS", default="RCS Paris 732 829 320"),
    "vat_number": env.str("SELLER_VAT_NUMBER", default="FR44732829320"),
    "email": env.str("SELLER_EMAIL", default="facturation@chatpoints.example"),
    # How to pay: the account dealers pay by credit transfer (printed and in the e-invoice).
    "iban": env.str("SELLER_IBAN", default="FR7630006000011234567890189"),
    "bic": env.str("SELLER_BIC", default="AGRIFRPP"),
    # The option for paying VAT on debits (art. 269-2-c CGI): printed, and the VAT point of the
    # e-invoice is the invoice date, only when chosen; otherwise VAT on services is due on payment.
    "vat_on_debits": env.bool("SELLER_VAT_ON_DEBITS", default=False),
}

# E-invoices (Factur-X). A platform connector: the dotted path of a function called with each
# issued invoice or credit note (billing.models.Invoice) after the issuing transaction commits.
# None by default: no platform.
EINVOICE_ISSUED_HOOK = env.str("EINVOICE_ISSUED_HOOK", default="") or None

# Invoices (billing rules 7-8). Numbers: one gapless series per year for invoices and one for
# credit notes; the format receives the year and the number in the year.
INVOICE_NUMBER_FORMAT = env.str("INVOICE_NUMBER_FORMAT", default="F{year}-{number:05d}")
CREDIT_NOTE_NUMBER_FORMAT = env.str("CREDIT_NOTE_NUMBER_FORMAT", default="AV{year}-{number:05d}")
PAYMENT_TERMS_DAYS = env.int("PAYMENT_TERMS_DAYS", default=30)
# Late payment: the annual penalty rate (percent) and the fixed recovery indemnity (euros) that
# French law requires every invoice to state (Code de commerce, L441-10).
LATE_PAYMENT_RATE = env.str("LATE_PAYMENT_RATE", default="10.00")
RECOVERY_INDEMNITY = env.str("RECOVERY_INDEMNITY", default="40.00")

# Background work (Celery, config/celery.py). CELERY_BROKER_URL: Redis in production
# (redis://host:6379/0); none: every task runs eagerly in the calling process (development, tests).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"  # never used: eager tasks do not touch a broker
# A task is acknowledged once done, and given back to the queue if its worker dies: every task
# is idempotent (billing/tasks.py), a redelivery does nothing twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A pool process is replaced after this many tasks, or once it holds more than this (KiB) after
# a task: rendering PDFs (WeasyPrint: Pango, fontconfig) keeps about 60 KiB per invoice that is
# never given back (measured, bench/issue_month.py), so a process living for 5,000 invoices would
# grow by 300 MiB. 1,000 tasks (500 invoices and their e-mails) bound it to about 30 MiB; the
# new process costs a second. (The prefork pool only, `celery worker`'s default; not --pool=solo.)
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD", default=1000)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=400_000)
# Redis gives an unacknowledged task (its worker killed) to another worker after this long.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_TIMEZONE = BILLING_TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Retries of a failed e-mail: 5 more tries, after 1, 2, 4, 8 and 16 minutes.
EMAIL_TASK_RETRIES = env.int("EMAIL_TASK_RETRIES", default=5)
EMAIL_TASK_BACKOFF_SECONDS = env.int("EMAIL_TASK_BACKOFF_SECONDS", default=60)

# The schedule (`celery -A config beat`; each job is also a management command, for cron):
# drafts of the month that ended on the 1st at 05:30 Paris time (issued too only if
# MONTH_CLOSE_AUTO_ISSUE), usage alerts every hour, failed e-mails and missing PDFs daily.
MONTH_CLOSE_AUTO_ISSUE = env.bool("MONTH_CLOSE_AUTO_ISSUE", default=False)
# Usage alerts: the shares of its included points at which a dealer is told (percent).
USAGE_ALERT_THRESHOLDS = [int(v) for v in env.list("USAGE_ALERT_THRESHOLDS", default=["80", "100"])]
CELERY_BEAT_SCHEDULE = {
    "month-close-drafts": {
        "task": "billing.month_close_scheduled",
        "schedule": crontab(minute=30, hour=5, day_of_month=1),
    },
    "usage-alerts": {"task": "billing.usage_alerts_send", "schedule": crontab(minute=5)},
    "retry-unsent": {
        "task": "billing.invoices_retry_unsent",
        "schedule": crontab(minute=15, hour=7),
    },
    "direct-debit-notices": {
        "task": "billing.direct_debit_notices_send",
        "schedule": crontab(minute=30, hour=7),
    },
    "payment-reminders": {
        "task": "billing.reminders_send",
        "schedule": crontab(minute=45, hour=7),
    },
    "ingestion-heartbeat": {"task": "billing.heartbeat_check", "schedule": crontab(minute="*/10")},
}

# Ingestion heartbeat (billing.usage.heartbeat): a source of chat events (an API token's) silent
# for longer than HEARTBEAT_SILENCE_MINUTES of business time is shown red on the dashboard and
# staff (HEARTBEAT_EMAILS) are e-mailed once. Business time: HEARTBEAT_BUSINESS_HOURS (local
# hours, from-to) on HEARTBEAT_BUSINESS_DAYS (ISO weekdays, 1 = Monday), in the billing time zone:
# by default 08:00 to 20:00, Monday to Saturday (dealers' showrooms open on Saturdays).
HEARTBEAT_SILENCE_MINUTES = env.int("HEARTBEAT_SILENCE_MINUTES", default=120)
HEARTBEAT_BUSINESS_HOURS = env.str("HEARTBEAT_BUSINESS_HOURS", default="8-20")
HEARTBEAT_BUSINESS_DAYS = env.str("HEARTBEAT_BUSINESS_DAYS", default="1-6")
HEARTBEAT_EMAILS = env.list("HEARTBEAT_EMAILS", default=[SELLER["email"]])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

# Getting paid (billing.payments). The seller's bank account, where transfers go and direct
# debits are credited; the SEPA creditor identifier (ICS) printed on every mandate.
SELLER_IBAN = env.str("SELLER_IBAN", default="FR7630006000011234567890189")
SELLER_BIC = env.str("SELLER_BIC", default="AGRIFRPPXXX")
SEPA_CREDITOR_ID = env.str("SEPA_CREDITOR_ID", default="FR72ZZZ123456")
# A new mandate's scheme unless chosen: B2B (business customers) or CORE.
SEPA_DEFAULT_SCHEME = env.str("SEPA_DEFAULT_SCHEME", default="B2B")
# The pre-notification of a direct debit is e-mailed this many days before its collection date.
DIRECT_DEBIT_NOTICE_DAYS = env.int("DIRECT_DEBIT_NOTICE_DAYS", default=5)
# Reminders of an overdue invoice: days after its due date, one e-mail per step.
REMINDER_OFFSETS = env.list("REMINDER_OFFSETS", cast=int, default=[3, 15, 30])
# Who on the staff is told of a rejected or returned direct debit (and other payment events).
PAYMENTS_STAFF_EMAILS = env.list("PAYMENTS_STAFF_EMAILS", default=["compta@chatpoints.example"])

# The accounting export (FEC, billing/accounting/fec.py): the accountant's journals and chart of
# accounts. Sales: the customer's collective account (an auxiliary account per customer, its
# code), the revenue of each VAT treatment, the VAT collected; bank: the account payments land in.
FEC_SALES_JOURNAL = env.str("FEC_SALES_JOURNAL", default="VE")
FEC_BANK_JOURNAL = env.str("FEC_BANK_JOURNAL", default="BQ")
FEC_ACCOUNT_CUSTOMERS = env.str("FEC_ACCOUNT_CUSTOMERS", default="411000")
FEC_ACCOUNT_REVENUE = env.str("FEC_ACCOUNT_REVENUE", default="706000")  # French VAT charged
FEC_ACCOUNT_REVENUE_EU = env.str("FEC_ACCOUNT_REVENUE_EU", default="706200")  # reverse charge
FEC_ACCOUNT_REVENUE_EXPORT = env.str("FEC_ACCOUNT_REVENUE_EXPORT", default="706300")  # outside EU
FEC_ACCOUNT_VAT = env.str("FEC_ACCOUNT_VAT", default="445710")
FEC_ACCOUNT_BANK = env.str("FEC_ACCOUNT_BANK", default="512000")
