"""Password guessing on /login/ and /admin/login/ is stopped per user and address, and per address across
usernames, for a cool-off period."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-123"  # accounts.tests.factories.UserFactory
NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


def attempt(url: str, username: str, password: str, ip: str = "203.0.113.7", language: str = "en"):
    client = Client(REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE=language)
    client.cookies["django_language"] = language
    response = client.post(url, {"username": username, "password": password})
    return response, client


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_thirty_wrong_passwords_lock_the_user_out_until_the_cool_off_has_passed(admin_user, url, settings):
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
    with time_machine.travel(NOW, tick=False):
        for _ in range(30):
            response, _client = attempt(url, admin_user.username, "wrong-guess")
            assert response.status_code in (200, 429)
        response, client = attempt(url, admin_user.username, PASSWORD, language="zh-hans")
        assert response.status_code == 429
        assert not signed_in(client)
        assert "登录失败次数过多" in response.content.decode()
        assert "15" in response.content.decode()
    with time_machine.travel(NOW + dt.timedelta(minutes=14), tick=False):
        response, client = attempt(url, admin_user.username, PASSWORD)
        assert response.status_code == 429
        assert not signed_in(client)
    # The cool-off counts from the last refused attempt (django-axes): trying again while locked waits again.
    with time_machine.travel(NOW + dt.timedelta(minutes=14 + 16), tick=False):
        response, client = attempt(url, admin_user.username, PASSWORD)
        assert response.status_code == 302, response.content[:500]
        assert signed_in(client)


def test_the_lockout_starts_at_the_failure_limit(staff_a, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for _ in range(4):
        assert attempt("/login/", staff_a.username, "nope")[0].status_code == 200
    response, client = attempt("/login/", staff_a.username, PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)
    for _ in range(5):
        attempt("/login/", staff_a.username, "nope")
    assert attempt("/login/", staff_a.username, PASSWORD)[0].status_code == 429


def test_guessing_from_elsewhere_does_not_lock_the_user_out(staff_a, staff_b):
    for _ in range(30):
        attempt("/login/", staff_a.username, "guess", ip="198.51.100.66")
    assert attempt("/login/", staff_a.username, PASSWORD, ip="198.51.100.66")[0].status_code == 429
    response, client = attempt("/login/", staff_a.username, PASSWORD, ip="203.0.113.7")
    assert response.status_code == 302
    assert signed_in(client)
    response, client = attempt("/login/", staff_b.username, PASSWORD, ip="198.51.100.66")
    assert response.status_code == 302
    assert signed_in(client)


def test_behind_a_proxy_the_forwarded_address_counts(staff_a, settings):
    settings.GUANXI_PROXY_COUNT = 1
    client = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(10):
        client.post("/login/", {"username": staff_a.username, "password": "x"}, HTTP_X_FORWARDED_FOR="198.51.100.9")
    locked = client.post(
        "/login/", {"username": staff_a.username, "password": PASSWORD}, HTTP_X_FORWARDED_FOR="198.51.100.9"
    )
    assert locked.status_code == 429
    other = Client(REMOTE_ADDR="10.0.0.1")
    # Same proxy, another client (a forged left-hand entry is ignored: only the proxy's own entry counts)
    ok = other.post(
        "/login/",
        {"username": staff_a.username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="198.51.100.9, 192.0.2.20",
    )
    assert ok.status_code == 302


def test_failures_across_usernames_lock_the_address_for_the_cool_off_only(staff_a, staff_b, settings):
    """GUANXI_LOGIN_ADDRESS_FAILURE_LIMIT (50) failures from one address, whatever the usernames, lock that
    address for every user until the cool-off has passed; other addresses are not affected."""
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
    guesser = "198.51.100.77"
    with time_machine.travel(NOW, tick=False):
        assert settings.GUANXI_LOGIN_ADDRESS_FAILURE_LIMIT == 50
        for i in range(49):  # one wrong password each: no (username, address) pair is near its own limit
            assert attempt("/login/", f"guess-{i}", "wrong", ip=guesser)[0].status_code == 200
        response, client = attempt("/login/", staff_b.username, PASSWORD, ip=guesser)
        assert response.status_code == 302  # 49: below the cap, a real user at that address still signs in
        assert signed_in(client)
        assert attempt("/login/", "guess-49", "wrong", ip=guesser)[0].status_code == 429  # the 50th locks it
        response, client = attempt("/login/", staff_a.username, PASSWORD, ip=guesser, language="zh-hans")
        assert response.status_code == 429
        assert not signed_in(client)
        assert "登录失败次数过多" in response.content.decode()
        response, client = attempt("/admin/login/", staff_b.username, PASSWORD, ip=guesser)
        assert response.status_code == 429
        # the same users from another address: unaffected
        response, client = attempt("/login/", staff_a.username, PASSWORD, ip="203.0.113.8")
        assert response.status_code == 302
        assert signed_in(client)
        assert attempt("/login/", "guess-50", "wrong", ip="203.0.113.8")[0].status_code == 200
    with time_machine.travel(NOW + dt.timedelta(minutes=16), tick=False):
        response, client = attempt("/login/", staff_a.username, PASSWORD, ip=guesser)
        assert response.status_code == 302
        assert signed_in(client)


def test_the_address_limit_is_configurable(staff_a, settings):
    settings.GUANXI_LOGIN_ADDRESS_FAILURE_LIMIT = 3
    for name in ("x", "y"):
        assert attempt("/login/", name, "wrong")[0].status_code == 200
    assert attempt("/login/", staff_a.username, PASSWORD)[0].status_code == 302
    attempt("/login/", "z", "wrong")
    assert attempt("/login/", staff_a.username, PASSWORD)[0].status_code == 429
