"""The services some tests need beyond Python: found, or the test is skipped saying how to get them.

``make test`` installs and starts them where it can (as root with apt). CI sets ``GUANXI_REQUIRE_SERVICES=1``
so that a missing service fails the run instead of skipping quietly.
"""

import os

import pytest

CHROMIUM = "/usr/bin/chromium"


def required() -> bool:
    return os.environ.get("GUANXI_REQUIRE_SERVICES", "") == "1"


def missing(reason: str) -> None:
    if required():
        pytest.fail(reason)
    pytest.skip(reason)


def redis_or_skip(url: str, *, flush: bool = False) -> None:
    """Skip (or, in CI, fail) unless Redis answers at ``url``; ``flush`` empties that database first."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.flushdb() if flush else client.ping()
    except redis.ConnectionError:
        missing("Redis is not running on 127.0.0.1:6379: sudo apt-get install -y redis-server (make test starts it)")


def chromium_missing_reason() -> str:
    if os.path.exists(CHROMIUM):
        return ""
    return f"Chromium is missing ({CHROMIUM}): sudo apt-get install -y chromium (make test installs it as root)"
