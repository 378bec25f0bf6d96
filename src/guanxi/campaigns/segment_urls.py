"""Routes of the segment pages; combined under the "campaigns" namespace in campaigns/urls.py."""

from django.urls import URLPattern, path

from guanxi.campaigns import segment_views as views

urlpatterns: list[URLPattern] = [
    path("segments/", views.segment_list, name="segment_list"),
    path("segments/new/", views.segment_new, name="segment_new"),
    path("segments/preview/", views.segment_preview, name="segment_preview"),
    path("segments/<int:pk>/", views.segment_edit, name="segment_edit"),
    path("segments/<int:pk>/freeze/", views.segment_freeze_view, name="segment_freeze"),
    path("segments/<int:pk>/archive/", views.segment_archive_view, name="segment_archive"),
    path("segments/<int:pk>/delete/", views.segment_delete_view, name="segment_delete"),
    path("segments/<int:pk>/export/", views.segment_export, name="segment_export"),
]
