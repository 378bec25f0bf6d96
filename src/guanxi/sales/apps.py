from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "guanxi.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from guanxi.customers.imports import OrderImport, order_import_register
        from guanxi.customers.services import merge_hook_register
        from guanxi.sales.models import Order
        from guanxi.sales.services import merge_orders, order_clean, order_ingest

        merge_hook_register(merge_orders)
        order_import_register(
            OrderImport(
                clean=order_clean,
                ingest=order_ingest,
                exists=lambda source, ref: Order.objects.filter(source=source, external_ref=ref).exists(),
            )
        )
