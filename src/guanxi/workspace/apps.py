from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkspaceConfig(AppConfig):
    name = "guanxi.workspace"
    label = "workspace"
    verbose_name = _("Staff workspace")

    def ready(self) -> None:
        from guanxi.core.registry import NavItem, register_nav

        register_nav(NavItem(key="home", label=_("Home"), url_name="workspace:home", order=0, icon="home"))
