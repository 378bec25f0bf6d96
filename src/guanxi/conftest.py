"""Fixtures every app's tests share: stores, staff of each role, API clients.

``GUANXI_TEST_CLOCK=2028-02-29T23:30:00+08:00`` runs the whole suite with the clock travelled to that
moment (and ticking), so that CI proves no test depends on the time of day or the date: quiet hours,
birthdays on 29 February, month ends. Processes a test starts (Celery workers, ``guanxi serve``) keep the
real clock; a test marked ``broker`` shares rows with such processes (due times, leases), so it runs
on the real clock too, and must not depend on the time of day either.
"""

import os
from datetime import datetime

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from guanxi.accounts.models import Role

# The Chromium fixtures (``browser``, ``page``) for every browser test; ``sign_in`` and ``PASSWORD`` are there too.
from guanxi.core.tests.browser import browser, page  # noqa: F401


def pytest_configure(config):
    clock = os.environ.get("GUANXI_TEST_CLOCK", "").strip()
    if not clock:
        return
    try:
        moment = datetime.fromisoformat(clock)
    except ValueError as exc:
        raise pytest.UsageError(f"GUANXI_TEST_CLOCK={clock!r} is not an ISO 8601 date and time") from exc
    if moment.tzinfo is None:
        raise pytest.UsageError(f"GUANXI_TEST_CLOCK={clock!r} needs a UTC offset, e.g. 2028-02-29T23:30:00+08:00")
    import time_machine

    config._guanxi_clock = time_machine.travel(moment, tick=True)
    config._guanxi_clock.start()


def pytest_unconfigure(config):
    traveller = getattr(config, "_guanxi_clock", None)
    if traveller is not None:
        traveller.stop()


@pytest.fixture(autouse=True)
def _real_clock_beside_real_processes(request):
    """A ``broker`` test and the worker it starts read the same rows: both keep the real clock."""
    if getattr(request.config, "_guanxi_clock", None) is None or "broker" not in request.keywords:
        yield
        return
    from datetime import UTC

    import time_machine

    real_now = datetime.fromtimestamp(time_machine.escape_hatch.time.time(), tz=UTC)
    with time_machine.travel(real_now, tick=True):
        yield


def pytest_report_header(config):
    clock = os.environ.get("GUANXI_TEST_CLOCK", "").strip()
    return [f"clock: travelled to {clock} (GUANXI_TEST_CLOCK)"] if clock else []


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = "postgresql" in settings.DATABASES["default"]["ENGINE"]
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL; runs in the PostgreSQL pass")
    # The API fuzz run takes minutes: it runs only when asked for by marker (``-m fuzz``, as .ci/run does).
    fuzz_selected = "fuzz" in (config.getoption("markexpr", "") or "").replace("not fuzz", "")
    skip_fuzz = pytest.mark.skip(reason="API fuzzing runs on its own: pytest -m fuzz")
    from guanxi.core.tests.services import chromium_missing_reason, required

    no_browser = chromium_missing_reason()
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "fuzz" in item.keywords and not fuzz_selected:
            item.add_marker(skip_fuzz)
        if "browser" in item.keywords and no_browser and not required():
            item.add_marker(pytest.mark.skip(reason=no_browser))


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


@pytest.fixture
def no_page_cache(settings):
    """Fresh figures for each page test (duplicate candidates are cached per scope); a test may switch it on."""
    settings.GUANXI_WORKSPACE_CACHE_SECONDS = 0
    cache.clear()
    yield
    cache.clear()


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
