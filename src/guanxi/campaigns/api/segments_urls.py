"""API of the segments, under /api/campaigns/segments/; combined in campaigns/api/urls.py."""

from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from guanxi.campaigns.api.segments import SegmentViewSet

router = SimpleRouter()
router.register("segments", SegmentViewSet, basename="campaigns-segment")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
