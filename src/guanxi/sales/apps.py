from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "guanxi.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from guanxi.customers.imports import import_kind_register
        from guanxi.customers.services import merge_hook_register
        from guanxi.sales.imports import ORDERS
        from guanxi.sales.services import merge_orders

        merge_hook_register(merge_orders)
        import_kind_register(ORDERS)
