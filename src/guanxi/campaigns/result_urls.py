"""Routes of the campaigns app; combined under the "campaigns" namespace in campaigns/urls.py."""

from django.urls import URLPattern, path

from guanxi.campaigns import result_views

urlpatterns: list[URLPattern] = [
    path("campaigns/<int:pk>/results/", result_views.campaign_results, name="campaign_results"),
    path("campaigns/<int:pk>/results/export/", result_views.campaign_results_csv, name="campaign_results_csv"),
]
