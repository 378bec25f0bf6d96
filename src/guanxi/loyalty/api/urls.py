from django.urls import path
from rest_framework.routers import SimpleRouter

from guanxi.loyalty.api import views

router = SimpleRouter()
router.register("tiers", views.TierViewSet, basename="loyalty-tier")
router.register("top-up-rules", views.TopUpRuleViewSet, basename="loyalty-topup-rule")
router.register("coupon-templates", views.CouponTemplateViewSet, basename="loyalty-coupon-template")
router.register("coupons", views.CouponViewSet, basename="loyalty-coupon")
router.register("members", views.MembershipViewSet, basename="loyalty-member")

urlpatterns = [
    path("program/", views.ProgramView.as_view(), name="loyalty-program"),
    path("checkout/price", views.CheckoutPriceView.as_view(), name="loyalty-checkout-price"),
    path("checkout/commit", views.CheckoutCommitView.as_view(), name="loyalty-checkout-commit"),
    path("checkout/refund", views.CheckoutRefundView.as_view(), name="loyalty-checkout-refund"),
    *router.urls,
]
