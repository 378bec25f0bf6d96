from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CareConfig(AppConfig):
    """Care automation: rules built from the core care registry, run daily and on events, exactly once."""

    name = "guanxi.care"
    label = "care"
    verbose_name = _("Customer care")

    def ready(self) -> None:
        from guanxi.accounts.models import Role
        from guanxi.care.actions import register_task_action
        from guanxi.care.merge import care_erase_customer, care_export_customer, merge_care
        from guanxi.care.selectors import care_panel_context, timeline_excluded, timeline_task
        from guanxi.care.subscribers import care_subscribe
        from guanxi.core.merge import MergeHook, register_merge_hook
        from guanxi.core.personal_data import (
            PersonalDataEraser,
            PersonalDataExporter,
            register_eraser,
            register_exporter,
        )
        from guanxi.core.registry import CustomerPanel, NavItem, register_customer_panel, register_nav
        from guanxi.core.timeline import TimelineKind, register_timeline_kind

        register_task_action()
        register_merge_hook(MergeHook(key="care", function=merge_care, order=60))
        register_eraser(PersonalDataEraser(key="care", label=_("Care"), erase=care_erase_customer, order=60))
        register_exporter(PersonalDataExporter(key="care", label=_("Care"), export=care_export_customer, order=60))
        care_subscribe()
        register_nav(
            NavItem(
                key="care",
                label=_("Care"),
                url_name="care:rule_list",
                order=57,
                roles=frozenset({Role.ADMIN, Role.MANAGER, Role.MARKETER, Role.ANALYST, Role.STORE_STAFF}),
            )
        )
        register_customer_panel(
            CustomerPanel(
                key="care",
                title=_("Care"),
                template="care/customer_care.html",
                context=care_panel_context,
                order=60,
                roles=frozenset({Role.ADMIN, Role.MANAGER, Role.MARKETER, Role.ANALYST, Role.STORE_STAFF}),
            )
        )
        register_timeline_kind(TimelineKind("care.fired", _("Care: %(rule)s")))
        register_timeline_kind(
            TimelineKind("care.task", _("Care task “%(title)s”: %(outcome_label)s"), prepare=timeline_task)
        )
        register_timeline_kind(
            TimelineKind("care.excluded", _("Excluded from care (%(reason_label)s)"), prepare=timeline_excluded)
        )
