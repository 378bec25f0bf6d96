from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("guanxi.api_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("loyalty/", include("guanxi.loyalty.urls")),
    path("messaging/", include("guanxi.messaging.urls")),
    path("analytics/", include("guanxi.analytics.urls")),
    path("campaigns/", include("guanxi.campaigns.urls")),
    path("care/", include("guanxi.care.urls")),
    path("", include("guanxi.customers.urls")),
    path("", include("guanxi.workspace.urls")),
]

# API paths answer JSON even when no route matches or the server fails.
handler404 = "guanxi.core.api.errors.page_not_found"
handler500 = "guanxi.core.api.errors.server_error"
