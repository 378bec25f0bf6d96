"""API of campaigns (``/api/campaigns/campaigns/``); combined in campaigns/api/urls.py."""

from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from guanxi.campaigns.api.campaigns import CampaignViewSet

router = SimpleRouter()
router.register("campaigns", CampaignViewSet, basename="campaigns-campaign")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
