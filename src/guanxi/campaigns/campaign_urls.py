"""Routes of the campaigns app; combined under the "campaigns" namespace in campaigns/urls.py."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
