import pytest
from django.core.cache import cache


@pytest.fixture
def no_page_cache(settings):
    """Fresh figures for each page test (duplicate candidates are cached per scope); a test may switch it on."""
    settings.GUANXI_WORKSPACE_CACHE_SECONDS = 0
    cache.clear()
    yield
    cache.clear()
