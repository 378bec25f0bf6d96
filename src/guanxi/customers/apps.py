from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "guanxi.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from guanxi.customers.imports import import_kind_register
        from guanxi.customers.imports.customers import CUSTOMERS

        import_kind_register(CUSTOMERS)
