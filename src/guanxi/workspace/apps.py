from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkspaceConfig(AppConfig):
    name = "guanxi.workspace"
    label = "workspace"
    verbose_name = _("Staff workspace")

    def ready(self) -> None:
        from guanxi.core.registry import NavItem, register_nav

        register_nav(NavItem(key="home", label=_("Home"), url_name="workspace:home", order=0, icon="home"))
        register_nav(
            NavItem(key="customers", label=_("Customers"), url_name="workspace:customers", order=10, icon="users")
        )
        register_nav(
            NavItem(key="duplicates", label=_("Duplicates"), url_name="workspace:duplicates", order=12, icon="copy")
        )
        register_nav(NavItem(key="imports", label=_("Import"), url_name="workspace:imports", order=14, icon="upload"))
