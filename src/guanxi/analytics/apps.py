from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "guanxi.analytics"
    label = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from guanxi.analytics import segments
        from guanxi.analytics.care import register as register_care_entries
        from guanxi.analytics.views import score_panel_context
        from guanxi.core.registry import CustomerPanel, NavItem, register_customer_panel, register_nav

        register_nav(NavItem(key="analytics", label=_("Analytics"), url_name="analytics:dashboard", order=60))
        register_customer_panel(
            CustomerPanel(
                key="analytics",
                title=_("Customer value"),
                template="analytics/panel.html",
                context=score_panel_context,
                order=30,
            )
        )
        segments.register()  # the fields its pages link to on the customer list
        register_care_entries()
