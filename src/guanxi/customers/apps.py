from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "guanxi.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from guanxi.core.merge import register_merge_follower
        from guanxi.core.personal_data import PersonalDataExporter, register_exporter
        from guanxi.core.registry import NavItem, register_nav
        from guanxi.core.timeline import register_timeline_kind
        from guanxi.customers.care import register as register_care_entries
        from guanxi.customers.imports import import_kind_register
        from guanxi.customers.imports.customers import CUSTOMERS
        from guanxi.customers.personal_data import customer_personal_data
        from guanxi.customers.segments import register as register_segment_fields
        from guanxi.customers.services import MERGE_FOLLOWERS
        from guanxi.customers.timeline import KINDS

        for kind in KINDS:
            register_timeline_kind(kind)
        for follower in MERGE_FOLLOWERS:
            register_merge_follower(follower)
        register_exporter(
            PersonalDataExporter(key="customer", label=_("Customer record"), export=customer_personal_data, order=0)
        )
        register_nav(
            NavItem(key="customers", label=_("Customers"), url_name="customers:customers", order=10, icon="users")
        )
        register_nav(
            NavItem(key="duplicates", label=_("Duplicates"), url_name="customers:duplicates", order=12, icon="copy")
        )
        register_nav(NavItem(key="imports", label=_("Import"), url_name="customers:imports", order=14, icon="upload"))
        register_nav(
            NavItem(
                key="new_customer", label=_("New customer"), url_name="customers:customer_new", order=15, icon="plus"
            )
        )
        import_kind_register(CUSTOMERS)
        register_segment_fields()
        register_care_entries()
