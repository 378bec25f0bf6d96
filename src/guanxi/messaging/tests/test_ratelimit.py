"""The per-channel token bucket, in the database (embedded mode) and in Redis."""

import time

import pytest

from guanxi.messaging import ratelimit


def test_db_bucket_allows_a_burst_then_makes_callers_wait(db, settings):
    settings.GUANXI_MESSAGING_RATE_LIMITS = {"sms": 10}
    assert ratelimit.try_acquire("sms", 10, backend="db") == 0.0
    wait = ratelimit.try_acquire("sms", 5, backend="db")
    assert 0.3 < wait <= 0.5
    started = time.monotonic()
    waited = ratelimit.acquire("sms", 5, backend="db")
    assert waited > 0.3
    assert time.monotonic() - started >= 0.3


def test_no_limit_configured_means_no_wait(db, settings):
    settings.GUANXI_MESSAGING_RATE_LIMITS = {}
    assert ratelimit.try_acquire("sms", 10_000, backend="db") == 0.0


@pytest.fixture
def redis_bucket(settings):
    from guanxi.core.tests.services import redis_or_skip

    url = "redis://127.0.0.1:6379/14"
    redis_or_skip(url)
    settings.GUANXI_MESSAGING_REDIS_URL = url
    ratelimit.bucket_reset("email")
    yield url
    ratelimit.bucket_reset("email")


def test_redis_bucket_is_used_when_redis_is_configured(db, settings, redis_bucket):
    import redis

    settings.GUANXI_MESSAGING_RATE_LIMITS = {"email": 20}
    assert ratelimit.redis_url() == redis_bucket
    assert ratelimit.try_acquire("email", 20) == 0.0
    assert redis.Redis.from_url(redis_bucket).exists("guanxi:rate:email")
    assert 0.4 < ratelimit.try_acquire("email", 10) <= 0.5
    # 40 messages at 20/s with a burst of 20: about one second in all
    ratelimit.bucket_reset("email")
    started = time.monotonic()
    for _ in range(4):
        ratelimit.acquire("email", 10)
    assert 0.8 < time.monotonic() - started < 2.0
