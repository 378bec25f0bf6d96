from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
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
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("webhooks/orders/", OrderWebhookView.as_view(), name="webhook-orders"),
    # Each capability owns its API under its own prefix.
    path("loyalty/", include("guanxi.loyalty.api.urls")),
    path("messaging/", include("guanxi.messaging.api.urls")),
    path("analytics/", include("guanxi.analytics.api.urls")),
    path("", include(router.urls)),
]
