from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from guanxi.accounts.api.views import StoreViewSet
from guanxi.customers.api.views import CustomAttributeViewSet, CustomerViewSet, TagViewSet
from guanxi.sales.api.views import OrderViewSet, OrderWebhookView, ProductCategoryViewSet, ProductViewSet

router = DefaultRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("tags", TagViewSet, basename="tag")
router.register("custom-attributes", CustomAttributeViewSet, basename="custom-attribute")
router.register("orders", OrderViewSet, basename="order")
router.register("products", ProductViewSet, basename="product")
router.register("product-categories", ProductCategoryViewSet, basename="product-category")
router.register("stores", StoreViewSet, basename="store")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file, so the Content-Security-Policy needs no
    # inline script; its page has one inline <style>, allowed on this page only. (ReDoc is not offered: its page
    # needs inline script and Google's fonts.)
    path(
        "docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="swagger-ui",
    ),
    path("webhooks/orders/", OrderWebhookView.as_view(), name="webhook-orders"),
    # Each capability owns its API under its own prefix.
    path("loyalty/", include("guanxi.loyalty.api.urls")),
    path("messaging/", include("guanxi.messaging.api.urls")),
    path("analytics/", include("guanxi.analytics.api.urls")),
    path("campaigns/", include("guanxi.campaigns.api.urls")),
    path("care/", include("guanxi.care.api.urls")),
    path("", include(router.urls)),
]
