import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _no_workspace_cache(settings):
    """Each test sees fresh figures; test_caching switches the cache back on to test it."""
    settings.GUANXI_WORKSPACE_CACHE_SECONDS = 0
    cache.clear()
    yield
    cache.clear()
