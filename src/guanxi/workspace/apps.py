from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkspaceConfig(AppConfig):
    name = "guanxi.workspace"
    label = "workspace"
    verbose_name = _("Staff workspace")

    def ready(self) -> None:
        from guanxi.core.merge import MergeHook, register_merge_hook
        from guanxi.core.registry import NavItem, register_nav
        from guanxi.workspace.services import merge_birthday_marks

        register_nav(NavItem(key="home", label=_("Home"), url_name="workspace:home", order=0, icon="home"))
        register_merge_hook(MergeHook(key="workspace.birthdays", function=merge_birthday_marks, order=90))
