from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "guanxi.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from guanxi.core.merge import MergeHook, register_merge_hook
        from guanxi.core.registry import CustomerPanel, register_customer_panel
        from guanxi.core.timeline import TimelineKind, register_timeline_kind
        from guanxi.customers.imports import import_kind_register
        from guanxi.sales.care import register as register_care_entries
        from guanxi.sales.imports import ORDERS
        from guanxi.sales.segments import register as register_segment_fields
        from guanxi.sales.services import merge_orders
        from guanxi.sales.timeline import order_paid, order_refunded
        from guanxi.sales.views import customer_orders_panel_context

        register_merge_hook(MergeHook(key="sales", function=merge_orders, order=10))
        register_timeline_kind(
            TimelineKind("order.paid", _("Order %(ref)s paid: %(amount)s at %(store)s"), prepare=order_paid)
        )
        register_timeline_kind(
            TimelineKind(
                "order.refunded", _("Refund %(ref)s on order %(order_ref)s: %(amount)s"), prepare=order_refunded
            )
        )
        register_customer_panel(
            CustomerPanel(
                key="orders",
                title=_("Purchases"),
                template="sales/customer_orders.html",
                context=customer_orders_panel_context,
                order=10,
                anchor="orders",
            )
        )
        import_kind_register(ORDERS)
        register_segment_fields()
        register_care_entries()
