"""API tokens: stored as a hash, shown once, expiring, revocable, read-only if asked, dead after a password change."""

from __future__ import annotations

import datetime as dt
import hashlib
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from guanxi.accounts.models import ApiToken
from guanxi.accounts.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


def client_with(key: str, language: str = "en") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}", HTTP_ACCEPT_LANGUAGE=language)
    return client


def test_only_the_hash_of_a_key_is_stored(admin_user):
    token, key = api_token_create(user=admin_user, name="POS")
    assert len(key) >= 40
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        stored = " ".join(str(v) for v in cursor.fetchone())
    assert key not in stored
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert client_with(key).get("/api/stores/").status_code == 200
    assert client_with(key[:-1] + ("A" if key[-1] != "A" else "B")).get("/api/stores/").status_code == 401


def test_a_token_expires_after_its_lifetime(admin_user, settings):
    settings.GUANXI_API_TOKEN_DAYS = 90
    with time_machine.travel(NOW, tick=False):
        token, key = api_token_create(user=admin_user)
    assert token.expires_at == NOW + dt.timedelta(days=90)
    with time_machine.travel(NOW + dt.timedelta(days=89, hours=23), tick=False):
        assert client_with(key).get("/api/stores/").status_code == 200
    with time_machine.travel(NOW + dt.timedelta(days=90, seconds=1), tick=False):
        response = client_with(key, "zh-hans").get("/api/stores/")
    assert response.status_code == 401
    assert "令牌无效、已过期或已撤销" in response.content.decode()


def test_changing_the_password_ends_every_token_of_the_user(staff_a, admin_user):
    _token, key = api_token_create(user=staff_a)
    _other, other_key = api_token_create(user=admin_user)
    assert client_with(key).get("/api/customers/").status_code == 200
    staff_a.set_password("a-new-password-4711")
    staff_a.save()
    assert client_with(key).get("/api/customers/").status_code == 401
    assert client_with(other_key).get("/api/customers/").status_code == 200
    _fresh, fresh_key = api_token_create(user=staff_a)
    assert client_with(fresh_key).get("/api/customers/").status_code == 200


def test_changing_the_password_on_the_password_page_ends_the_tokens(staff_a):
    _token, key = api_token_create(user=staff_a)
    browser = Client()
    browser.force_login(staff_a)
    response = browser.post(
        "/password/",
        {
            "old_password": "pw-for-tests-123",
            "new_password1": "another-long-pass-9921",
            "new_password2": "another-long-pass-9921",
        },
    )
    assert response.status_code == 302
    assert client_with(key).get("/api/customers/").status_code == 401


def test_a_revoked_token_and_an_inactive_user_are_refused(staff_a):
    token, key = api_token_create(user=staff_a)
    api_token_revoke(token=token)
    assert client_with(key).get("/api/customers/").status_code == 401
    _token, key2 = api_token_create(user=staff_a)
    staff_a.is_active = False
    staff_a.save()
    assert client_with(key2).get("/api/customers/").status_code == 401


def test_a_read_only_token_reads_but_cannot_write(staff_a, store_a):
    _token, key = api_token_create(user=staff_a, read_only=True)
    client = client_with(key, "zh-hans")
    assert client.get("/api/customers/").status_code == 200
    response = client.post("/api/customers/", {"name": "新客户", "home_store": store_a.pk}, format="json")
    assert response.status_code == 403
    assert "只读" in response.content.decode()
    from guanxi.customers.models import Customer

    assert not Customer.objects.exists()
    _rw, rw_key = api_token_create(user=staff_a)
    response = client_with(rw_key).post("/api/customers/", {"name": "新客户", "home_store": store_a.pk}, format="json")
    assert response.status_code == 201, response.content


def test_last_used_is_recorded_at_most_every_few_minutes(admin_user):
    with time_machine.travel(NOW, tick=False):
        token, key = api_token_create(user=admin_user)
        assert token.last_used_at is None
        client_with(key).get("/api/stores/")
    token.refresh_from_db()
    assert token.last_used_at == NOW
    with time_machine.travel(NOW + dt.timedelta(minutes=2), tick=False):
        client_with(key).get("/api/stores/")
    token.refresh_from_db()
    assert token.last_used_at == NOW
    with time_machine.travel(NOW + dt.timedelta(minutes=6), tick=False):
        client_with(key).get("/api/stores/")
    token.refresh_from_db()
    assert token.last_used_at == NOW + dt.timedelta(minutes=6)


def test_the_command_prints_the_key_once_and_stores_its_hash(staff_a):
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_token", staff_a.username, "--read-only", "--days", "30", "--name", "BI", stdout=out, stderr=err
    )
    key = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert token.read_only
    assert token.name == "BI"
    assert timezone.now() + dt.timedelta(days=29) < token.expires_at <= timezone.now() + dt.timedelta(days=30)
    assert "cannot be shown again" in err.getvalue()


def test_the_admin_creates_a_token_and_shows_the_key_once(admin_user, staff_a):
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post(
        "/admin/accounts/apitoken/add/",
        {"user": staff_a.pk, "name": "CRM sync", "read_only": "on", "days": "7"},
        follow=True,
    )
    assert response.status_code == 200
    token = ApiToken.objects.get()
    assert token.read_only
    assert token.user == staff_a
    page = response.content.decode()
    [key] = [w for w in page.replace("<", " ").replace(">", " ").split() if len(w) == 43 and w.startswith(token.prefix)]
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in browser.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_migration_hashes_old_plaintext_tokens_and_drops_their_table(staff_a):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("guanxi.accounts.migrations.0003_hash_plaintext_api_tokens")
    old_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # DRF's format: 40 hex characters
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, user_id bigint NOT NULL)"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [old_key, timezone.now(), staff_a.pk])
    with connection.schema_editor() as editor:
        migration.hash_old_tokens(apps, editor)
    assert "authtoken_token" not in connection.introspection.table_names()
    token = ApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(old_key.encode()).hexdigest()
    assert token.user == staff_a
    assert client_with(old_key).get("/api/customers/").status_code == 200  # the integration keeps working
    with connection.schema_editor() as editor:
        migration.remove_imported_tokens(apps, editor)
    assert not ApiToken.objects.exists()
