"""API of care, under /api/care/."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from guanxi.care.api.views import (
    CustomerExclusionView,
    CustomerOccurrencesView,
    PlanViewSet,
    RegistryView,
    RuleViewSet,
    TaskViewSet,
)

router = SimpleRouter()
router.register("rules", RuleViewSet, basename="care-rule")
router.register("tasks", TaskViewSet, basename="care-task")
router.register("plans", PlanViewSet, basename="care-plan")

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "customers/<int:customer_id>/occurrences/", CustomerOccurrencesView.as_view(), name="care-customer-occurrences"
    ),
    path("customers/<int:customer_id>/exclusion/", CustomerExclusionView.as_view(), name="care-customer-exclusion"),
    path("registry/", RegistryView.as_view(), name="care-registry"),
    *router.urls,
]
