"""Routes of the campaign pages; combined under the "campaigns" namespace in campaigns/urls.py."""

from django.urls import URLPattern, path

from guanxi.campaigns import campaign_views as views

urlpatterns: list[URLPattern] = [
    path("", views.campaign_list, name="campaign_list"),
    path("new/", views.campaign_edit, name="campaign_new"),
    path("<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="campaign_edit"),
    path("<int:pk>/review/", views.campaign_review, name="campaign_review"),
    path("<int:pk>/submit/", views.campaign_submit, name="campaign_submit"),
    path("<int:pk>/approve/", views.campaign_approve, name="campaign_approve"),
    path("<int:pk>/reject/", views.campaign_reject, name="campaign_reject"),
    path("<int:pk>/pause/", views.campaign_pause, name="campaign_pause"),
    path("<int:pk>/resume/", views.campaign_resume, name="campaign_resume"),
    path("<int:pk>/cancel/", views.campaign_cancel, name="campaign_cancel"),
    path("<int:pk>/test-send/", views.campaign_test_send, name="campaign_test_send"),
]
