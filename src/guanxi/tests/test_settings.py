import os
import secrets
import subprocess
import sys

import pytest


def _start(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **{k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "GUANXI_FIELD_KEY")},
            "DJANGO_SETTINGS_MODULE": "guanxi.settings.base",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_default_secrets_and_says_what_to_set():
    result = _start({"GUANXI_ENV": "production"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "GUANXI_FIELD_KEY" in result.stderr


def test_production_starts_with_real_secrets():
    result = _start({"GUANXI_ENV": "production", "SECRET_KEY": "x" * 50, "GUANXI_FIELD_KEY": "y" * 50})
    assert result.returncode == 0, result.stderr


# --- production hardening (issue #13) -------------------------------------------------------------------------

PRODUCTION = {
    "GUANXI_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(48),
    "GUANXI_FIELD_KEY": secrets.token_urlsafe(48),
}


_NOT_PRODUCTION = ("SECRET_KEY", "GUANXI_FIELD_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "CELERY_TASK_ALWAYS_EAGER")


def _production(args: list[str], tmp_path, **env: str) -> subprocess.CompletedProcess:
    """``python -m guanxi.cli ARGS`` under production settings, in a scratch directory of its own."""
    return subprocess.run(
        [sys.executable, "-m", "guanxi.cli", *args],
        env={
            # Not what the test run's own process carries: the browser tests allow async-unsafe calls for themselves.
            **{k: v for k, v in os.environ.items() if k not in _NOT_PRODUCTION},
            "DJANGO_SETTINGS_MODULE": "guanxi.settings.base",
            "GUANXI_VAR_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
            "ALLOWED_HOSTS": "crm.example.com",
            **PRODUCTION,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def production_db(tmp_path_factory):
    """A scratch directory with a migrated production database (migrated once for the tests that read it)."""
    path = tmp_path_factory.mktemp("production")
    result = _production(["migrate", "-v", "0"], path)
    assert result.returncode == 0, result.stderr
    return path


def test_production_refuses_debug():
    result = _start({**PRODUCTION, "DEBUG": "1"})
    assert result.returncode != 0
    assert "DEBUG" in result.stderr
    assert _start({**PRODUCTION, "DEBUG": "0"}).returncode == 0


def test_check_deploy_is_clean_in_production(tmp_path):
    result = _production(["check", "--deploy", "--fail-level", "WARNING"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout + result.stderr


def test_check_deploy_warns_when_https_is_switched_off(tmp_path):
    """The clean check above is not a silenced one: turning the protections off makes it complain."""
    result = _production(
        ["check", "--deploy", "--fail-level", "WARNING"], tmp_path, GUANXI_SSL_REDIRECT="0", GUANXI_HSTS_SECONDS="0"
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr
    assert "security.W008" in result.stderr


def test_the_demo_business_is_refused_in_production(production_db):
    tmp_path = production_db
    result = _production(["demo", "--customers", "10", "--orders", "10"], tmp_path)
    assert result.returncode != 0
    assert "refused in production" in result.stderr
    script = "from guanxi.accounts.models import User; print(User.objects.filter(username='admin').count())"
    counted = _production(["shell", "--no-imports", "-c", script], tmp_path)
    assert counted.stdout.strip() == "0", counted.stderr


PAGE_HEADERS = """
from django.test import Client
client = Client()
plain = client.get("/login/", HTTP_HOST="crm.example.com")
print("plain", plain.status_code, plain.get("Location"))
page = client.get("/login/", HTTP_HOST="crm.example.com", secure=True)
print("secure", page.status_code)
for name in ("Strict-Transport-Security", "Content-Security-Policy", "Permissions-Policy",
             "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"):
    print(name, "=", page.get(name))
print("cookie-secure", bool(page.cookies["csrftoken"]["secure"]))
schema = client.get("/api/schema/", HTTP_HOST="crm.example.com", secure=True)
print("schema", schema.status_code)
docs = client.get("/api/docs/", HTTP_HOST="crm.example.com", secure=True)
print("docs", docs.status_code)
"""


def test_production_pages_are_https_only_with_security_headers(production_db):
    tmp_path = production_db
    result = _production(["shell", "--no-imports", "-c", PAGE_HEADERS], tmp_path)
    assert result.returncode == 0, result.stderr
    out = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert out["plain"] == "301 https://crm.example.com/login/"
    assert out["secure"] == "200"
    assert out["Strict-Transport-Security"] == "= max-age=31536000; includeSubDomains; preload"
    assert "script-src 'self'" in out["Content-Security-Policy"]
    assert "object-src 'none'" in out["Content-Security-Policy"]
    assert "camera=()" in out["Permissions-Policy"]
    assert "geolocation=()" in out["Permissions-Policy"]
    assert out["X-Content-Type-Options"] == "= nosniff"
    assert out["Referrer-Policy"] == "= same-origin"
    assert out["X-Frame-Options"] == "= DENY"
    assert out["cookie-secure"] == "True"
    assert out["schema"] in ("401", "403")
    assert out["docs"] in ("401", "403")


def test_behind_a_proxy_its_https_header_is_trusted_when_configured(production_db):
    tmp_path = production_db
    script = (
        "from django.test import Client; r = Client().get('/login/', HTTP_HOST='crm.example.com', "
        "HTTP_X_FORWARDED_PROTO='https'); print(r.status_code)"
    )
    assert _production(["shell", "--no-imports", "-c", script], tmp_path).stdout.strip() == "301"
    proxied = _production(
        ["shell", "--no-imports", "-c", script], tmp_path, GUANXI_PROXY_SSL_HEADER="X-Forwarded-Proto"
    )
    assert proxied.stdout.strip() == "200", proxied.stderr
