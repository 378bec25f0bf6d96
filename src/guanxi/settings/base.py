"""Settings shared by every deployment; everything that differs comes from the environment.

The embedded defaults (SQLite under ``var/``, SQLite-backed Celery broker) make a shop's
installation a single directory. Production sets ``GUANXI_ENV=production`` and is refused a
start while any secret still has its development default.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from guanxi.settings.celery import *  # noqa: F403
from guanxi.settings.messaging import *  # noqa: F403

BASE_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = BASE_DIR.parent.parent
VAR_DIR = Path(os.environ.get("GUANXI_VAR_DIR", PROJECT_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

GUANXI_ENV = os.environ.get("GUANXI_ENV", "development")
PRODUCTION = GUANXI_ENV == "production"

DEV_SECRET_KEY = "guanxi-development-secret-key-do-not-use-in-production"  # noqa: S105
DEV_FIELD_KEY = "guanxi-development-field-key-do-not-use-in-production"

SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
GUANXI_FIELD_KEY = os.environ.get("GUANXI_FIELD_KEY", DEV_FIELD_KEY)
DEBUG = os.environ.get("DEBUG", "0" if PRODUCTION else "1") == "1"

if PRODUCTION and DEBUG:
    raise ImproperlyConfigured(
        "Guanxi refuses to start in production with DEBUG=1: debug pages show settings, SQL and personal data. "
        "Unset DEBUG (or set GUANXI_ENV=development on a developer's machine)."
    )

if PRODUCTION:
    missing = [
        name
        for name, value, default in (
            ("SECRET_KEY", SECRET_KEY, DEV_SECRET_KEY),
            ("GUANXI_FIELD_KEY", GUANXI_FIELD_KEY, DEV_FIELD_KEY),
        )
        if value == default or len(value) < 32
    ]
    if missing:
        raise ImproperlyConfigured(
            "Guanxi refuses to start in production with a default or short secret. Set "
            + " and ".join(missing)
            + " to a random value of at least 32 characters, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
        )

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "csp",
    "guanxi.core",
    "guanxi.accounts",
    "guanxi.customers",
    "guanxi.sales",
    "guanxi.loyalty",
    "guanxi.messaging",
    "guanxi.analytics",
    "guanxi.campaigns",
    "guanxi.service",
    "guanxi.care",
    "guanxi.workspace",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "guanxi.core.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    # Last, so it wraps the view: every API write is one transaction, rolled back on any error answer.
    "guanxi.core.api.transactions.AtomicApiWritesMiddleware",
]

ROOT_URLCONF = "guanxi.urls"
WSGI_APPLICATION = "guanxi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'guanxi.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses sign-in while the user and address are locked out
    "django.contrib.auth.backends.ModelBackend",
]
# Password guessing (django-axes, on /login/ and /admin/login/): after AXES_FAILURE_LIMIT wrong passwords for
# one user from one address, that user is refused from that address until the cool-off has passed since the
# last failure. Someone guessing elsewhere cannot lock the real user out, and no lockout lasts for ever.
# Across usernames: after GUANXI_LOGIN_ADDRESS_FAILURE_LIMIT failures from one address within the cool-off,
# that address is refused for every username, for the cool-off (guanxi.accounts.lockout); others are not.
AXES_FAILURE_LIMIT = int(os.environ.get("GUANXI_LOGIN_FAILURE_LIMIT", "5"))
GUANXI_LOGIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("GUANXI_LOGIN_ADDRESS_FAILURE_LIMIT", "50"))
AXES_HANDLER = "guanxi.accounts.lockout.AddressCapHandler"
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("GUANXI_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "guanxi.accounts.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "guanxi.accounts.security.client_ip"
AXES_USERNAME_FORM_FIELD = "username"
#: Reverse proxies in front of Guanxi that append to X-Forwarded-For (0: clients connect directly).
GUANXI_PROXY_COUNT = int(os.environ.get("GUANXI_PROXY_COUNT", "0"))
#: Lifetime of a new API token (``guanxi create_api_token``, admin), in days.
GUANXI_API_TOKEN_DAYS = int(os.environ.get("GUANXI_API_TOKEN_DAYS", "90"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"
WHITENOISE_USE_FINDERS = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "guanxi.accounts.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["guanxi.accounts.permissions.ReferenceDataPermission"],
    "DEFAULT_SCHEMA_CLASS": "guanxi.core.api.schema.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "guanxi.core.api.pagination.KeysetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "guanxi.core.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Guanxi API",
    "DESCRIPTION": "Customers, orders and stores of a Guanxi CRM.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs describe every endpoint and field: for signed-in staff and API tokens only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # `check --deploy` is about the deployment's safety; the schema's own quality (views it cannot describe, enum
    # names) is the API tests' business and must not hide a security warning among ten schema notes.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

GUANXI_DEFAULT_REGION = os.environ.get("GUANXI_DEFAULT_REGION", "CN")
GUANXI_IMPORT_BATCH = 1000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Content Security Policy (django-csp), in every environment so that development and the browser tests see what
# production enforces: scripts and style sheets only from Guanxi itself (no inline script, no CDN), no plug-ins,
# no framing. Inline ``style`` attributes stay allowed (tag colours, progress bars, chart heights): they cannot
# run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
#: Browser features no Guanxi page uses, switched off for every page (guanxi.core.middleware).
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), midi=(), payment=(), usb=()"
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

if PRODUCTION:
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "1") == "1"
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # HTTPS only: redirect plain HTTP, and tell browsers for a year (this domain and its subdomains) not to try it.
    SECURE_SSL_REDIRECT = os.environ.get("GUANXI_SSL_REDIRECT", "1") == "1"
    SECURE_HSTS_SECONDS = int(os.environ.get("GUANXI_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("GUANXI_HSTS_INCLUDE_SUBDOMAINS", "1") == "1"
    SECURE_HSTS_PRELOAD = os.environ.get("GUANXI_HSTS_PRELOAD", "1") == "1"
    # Behind a TLS-terminating proxy, the header it sets for HTTPS requests, e.g. X-Forwarded-Proto (only set this
    # if the proxy always overwrites the header: a client could send it otherwise).
    if os.environ.get("GUANXI_PROXY_SSL_HEADER"):
        SECURE_PROXY_SSL_HEADER = (
            "HTTP_" + os.environ["GUANXI_PROXY_SSL_HEADER"].upper().replace("-", "_"),
            os.environ.get("GUANXI_PROXY_SSL_VALUE", "https"),
        )
GUANXI_WEBHOOK_SECRET = os.environ.get("GUANXI_WEBHOOK_SECRET", "")

# imports: a cell longer than MAX_CELL characters rejects its row; a CSV field longer than MAX_FIELD stops the file.
GUANXI_IMPORT_MAX_CELL = int(os.environ.get("GUANXI_IMPORT_MAX_CELL", "10000"))
GUANXI_IMPORT_MAX_FIELD = int(os.environ.get("GUANXI_IMPORT_MAX_FIELD", str(1 << 20)))
# Uploaded import files are deleted when their import is done; a file whose import failed or was never run is
# kept this many seconds (to resume or retry it), rejected-row reports (they hold personal data) this many.
GUANXI_IMPORT_UPLOAD_RETENTION = int(os.environ.get("GUANXI_IMPORT_UPLOAD_RETENTION", str(24 * 3600)))
GUANXI_IMPORT_REJECTS_RETENTION = int(os.environ.get("GUANXI_IMPORT_REJECTS_RETENTION", str(7 * 24 * 3600)))
