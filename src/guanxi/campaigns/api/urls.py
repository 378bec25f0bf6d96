"""API of segments and campaigns, under /api/campaigns/."""

from django.urls import path

from guanxi.campaigns.api import campaigns_urls, results_urls, segments_urls
from guanxi.campaigns.api.holdout import GlobalHoldoutView

urlpatterns = [
    *segments_urls.urlpatterns,
    *campaigns_urls.urlpatterns,
    *results_urls.urlpatterns,
    path("global-holdout/", GlobalHoldoutView.as_view(), name="campaigns-global-holdout"),
]
