"""Route of the global hold-out page; combined under the "campaigns" namespace in campaigns/urls.py."""

from django.urls import URLPattern, path

from guanxi.campaigns import holdout_views as views

urlpatterns: list[URLPattern] = [
    path("global-holdout/", views.global_holdout, name="global_holdout"),
]
