from django.urls import path
from rest_framework.routers import SimpleRouter

from guanxi.messaging.api import views

router = SimpleRouter()
router.register("templates", views.TemplateViewSet, basename="messaging-template")
router.register("messages", views.MessageViewSet, basename="messaging-message")
router.register("consents", views.ConsentViewSet, basename="messaging-consent")

urlpatterns = [
    path("enqueue/", views.EnqueueView.as_view(), name="messaging-enqueue"),
    path("webhooks/aliyun/receipts/", views.AliyunReceiptView.as_view(), name="messaging-aliyun-receipts"),
    path("webhooks/aliyun/inbound/", views.AliyunInboundView.as_view(), name="messaging-aliyun-inbound"),
    path("webhooks/tencent/receipts/", views.TencentReceiptView.as_view(), name="messaging-tencent-receipts"),
    path("webhooks/tencent/inbound/", views.TencentInboundView.as_view(), name="messaging-tencent-inbound"),
    path("webhooks/wechat/events/", views.WechatEventView.as_view(), name="messaging-wechat-events"),
    *router.urls,
]
