"""API of the campaigns app; combined in campaigns/api/urls.py."""

from django.urls import URLPattern, URLResolver, path

from guanxi.campaigns.api import results

urlpatterns: list[URLPattern | URLResolver] = [
    path("campaigns/<int:pk>/results/", results.CampaignResultsView.as_view(), name="campaign-results"),
    path(
        "campaigns/<int:pk>/results/export/",
        results.CampaignResultsExportView.as_view(),
        name="campaign-results-export",
    ),
]
