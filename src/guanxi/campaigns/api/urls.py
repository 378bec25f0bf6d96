"""API of segments and campaigns, under /api/campaigns/."""

from guanxi.campaigns.api import campaigns_urls, results_urls, segments_urls

urlpatterns = [*segments_urls.urlpatterns, *campaigns_urls.urlpatterns, *results_urls.urlpatterns]
