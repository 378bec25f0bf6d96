from django.urls import path

from guanxi.loyalty import counter_views, views

app_name = "loyalty"

urlpatterns = [
    path("", views.program, name="program"),
    path("counter/", counter_views.counter, name="counter"),
    path("counter/members/", counter_views.counter_members, name="counter_members"),
    path("counter/products/", counter_views.counter_products, name="counter_products"),
    path("counter/quote/", counter_views.counter_quote, name="counter_quote"),
    path("counter/commit/", counter_views.counter_commit, name="counter_commit"),
    path("counter/orders/<int:order_id>/", counter_views.counter_receipt, name="counter_receipt"),
    path("counter/orders/<int:order_id>/refund/", counter_views.counter_refund, name="counter_refund"),
    path("tiers/new/", views.tier_edit, name="tier_new"),
    path("tiers/<int:pk>/", views.tier_edit, name="tier_edit"),
    path("top-up-rules/new/", views.rule_edit, name="rule_new"),
    path("top-up-rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("coupons/new/", views.coupon_template_edit, name="coupon_new"),
    path("coupons/<int:pk>/", views.coupon_template_edit, name="coupon_edit"),
    path("customers/<int:customer_id>/enrol/", views.enrol, name="enrol"),
    path("customers/<int:customer_id>/top-up/", views.top_up, name="top_up"),
    path("customers/<int:customer_id>/redeem/", views.redeem, name="redeem"),
    path("customers/<int:customer_id>/adjust/", views.adjust, name="adjust"),
    path("customers/<int:customer_id>/issue/", views.issue, name="issue"),
    path("customers/<int:customer_id>/status/", views.set_status, name="status"),
    path("customers/<int:customer_id>/statement/", views.statement, name="statement"),
]
