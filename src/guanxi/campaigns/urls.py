"""Pages of segments, campaigns and their results, under /campaigns/ (namespace ``campaigns``)."""

from guanxi.campaigns import campaign_urls, holdout_urls, result_urls, segment_urls

app_name = "campaigns"
urlpatterns = [
    *segment_urls.urlpatterns,
    *campaign_urls.urlpatterns,
    *result_urls.urlpatterns,
    *holdout_urls.urlpatterns,
]
