"""Fixtures every app's tests share: stores, staff of each role, API clients."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from guanxi.accounts.models import Role


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = "postgresql" in settings.DATABASES["default"]["ENGINE"]
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL; runs in the PostgreSQL pass")
    # The API fuzz run takes minutes: it runs only when asked for by marker (``-m fuzz``, as .ci/run does).
    fuzz_selected = "fuzz" in (config.getoption("markexpr", "") or "").replace("not fuzz", "")
    skip_fuzz = pytest.mark.skip(reason="API fuzzing runs on its own: pytest -m fuzz")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "fuzz" in item.keywords and not fuzz_selected:
            item.add_marker(skip_fuzz)


@pytest.fixture
def store_a(db):
    from guanxi.accounts.tests.factories import StoreFactory

    return StoreFactory(code="store-a", name="A 店")


@pytest.fixture
def store_b(db):
    from guanxi.accounts.tests.factories import StoreFactory

    return StoreFactory(code="store-b", name="B 店")


@pytest.fixture
def admin_user(db):
    from guanxi.accounts.tests.factories import UserFactory

    return UserFactory(username="boss", role=Role.ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def staff_a(store_a):
    from guanxi.accounts.tests.factories import UserFactory

    return UserFactory(username="clerk-a", role=Role.STORE_STAFF, stores=[store_a])


@pytest.fixture
def staff_b(store_b):
    from guanxi.accounts.tests.factories import UserFactory

    return UserFactory(username="clerk-b", role=Role.STORE_STAFF, stores=[store_b])


@pytest.fixture
def marketer_a(store_a):
    from guanxi.accounts.tests.factories import UserFactory

    return UserFactory(username="marketer-a", role=Role.MARKETER, stores=[store_a])


def api_client_for(user, *, read_only: bool = False) -> APIClient:
    """An API client with a new token of ``user``, as an integration in steady use holds it.

    The token counts as used just now, so authenticating is the one query of a token within its
    ``last_used_at`` resolution (the first use in each window also writes ``last_used_at``: tested in accounts).
    """
    from django.utils import timezone

    from guanxi.accounts.models import ApiToken
    from guanxi.accounts.services import api_token_create

    client = APIClient()
    token, key = api_token_create(user=user, name="tests", read_only=read_only)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.api_token = token
    return client


@pytest.fixture
def api_admin(admin_user):
    return api_client_for(admin_user)


@pytest.fixture
def api_a(staff_a):
    return api_client_for(staff_a)


@pytest.fixture
def api_b(staff_b):
    return api_client_for(staff_b)


@pytest.fixture
def vendor():
    return connection.vendor
