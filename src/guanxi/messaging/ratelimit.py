"""Per-channel send rate: a token bucket in Redis when one is configured, else one database row per channel.

``acquire(channel, n)`` blocks until ``n`` tokens are available (or ``max_wait`` passes) and returns
the seconds it waited. Capacity equals one second of sending, so a burst never exceeds the
provider's per-second limit by more than one batch.
"""

from __future__ import annotations

import time
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.utils import timezone

_LUA = """
local rate = tonumber(ARGV[1]); local cap = tonumber(ARGV[2])
local n = tonumber(ARGV[3]); local now = tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= n then tokens = tokens - n else wait = (n - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(wait)
"""


def redis_url() -> str:
    url = settings.GUANXI_MESSAGING_REDIS_URL or ""
    if not url and str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://")):
        url = settings.CELERY_BROKER_URL
    return url


@lru_cache(maxsize=4)
def _redis_script(url: str):
    import redis

    # bounded waits: a Redis that hangs must fail the acquire (the batch goes back to the queue), not the worker
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    return client.register_script(_LUA)


def rate_for(channel: str) -> float:
    return float(settings.GUANXI_MESSAGING_RATE_LIMITS.get(channel, 0) or 0)


def _try_redis(url: str, key: str, rate: float, cap: float, n: int) -> float:
    return float(_redis_script(url)(keys=[f"guanxi:rate:{key}"], args=[rate, cap, n, time.time()]))


def _try_db(key: str, rate: float, cap: float, n: int) -> float:
    from guanxi.messaging.models import RateBucket

    now = timezone.now()
    with transaction.atomic():
        bucket, _created = RateBucket.objects.select_for_update().get_or_create(
            key=key, defaults={"tokens": cap, "updated_at": now}
        )
        elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
        tokens = min(cap, bucket.tokens + elapsed * rate)
        wait = 0.0
        if tokens >= n:
            tokens -= n
        else:
            wait = (n - tokens) / rate
        RateBucket.objects.filter(key=key).update(tokens=tokens, updated_at=now)
    return wait


def try_acquire(channel: str, n: int = 1, *, rate: float | None = None, backend: str | None = None) -> float:
    """Take ``n`` tokens if available (returns 0.0), else the seconds until they will be."""
    rate = rate_for(channel) if rate is None else rate
    if rate <= 0:
        return 0.0
    cap = max(rate, float(n))
    url = redis_url()
    if (backend or ("redis" if url else "db")) == "redis":
        return _try_redis(url, channel, rate, cap, n)
    return _try_db(channel, rate, cap, n)


def acquire(channel: str, n: int = 1, *, max_wait: float = 60.0, rate: float | None = None, backend=None) -> float:
    waited = 0.0
    while True:
        wait = try_acquire(channel, n, rate=rate, backend=backend)
        if wait <= 0:
            return waited
        if waited + wait > max_wait:
            raise TimeoutError(f"rate limit for {channel}: waited {waited:.1f}s")
        time.sleep(wait)
        waited += wait


def bucket_reset(channel: str) -> None:
    from guanxi.messaging.models import RateBucket

    RateBucket.objects.filter(key=channel).delete()
    url = redis_url()
    if url:
        import redis

        redis.Redis.from_url(url).delete(f"guanxi:rate:{channel}")
