from django.urls import path

from guanxi.analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("at-risk/", views.at_risk, name="at_risk"),
    path("cohorts/", views.cohorts, name="cohorts"),
    path("refresh/", views.refresh, name="refresh"),
]
