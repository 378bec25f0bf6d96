from django.urls import include, path
from rest_framework.routers import SimpleRouter

from guanxi.analytics.api import views

router = SimpleRouter()
router.register("scores", views.CustomerScoreViewSet, basename="analytics-score")
router.register("at-risk", views.AtRiskViewSet, basename="analytics-at-risk")

urlpatterns = [
    path("segments/", views.SegmentSummaryView.as_view(), name="analytics-segments"),
    path("clv-distribution/", views.ClvDistributionView.as_view(), name="analytics-clv"),
    path("cohorts/", views.CohortView.as_view(), name="analytics-cohorts"),
    path("fits/", views.ModelFitView.as_view(), name="analytics-fits"),
    path("refresh/", views.RefreshView.as_view(), name="analytics-refresh"),
    path("", include(router.urls)),
]
