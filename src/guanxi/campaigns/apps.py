from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    """Segments (rule trees over every app's segment fields) and campaigns sent to them, with a hold-out."""

    name = "guanxi.campaigns"
    label = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from guanxi.accounts.permissions import OPERATION_ROLES
        from guanxi.campaigns.segments import register_include_field
        from guanxi.core.registry import CustomerListAction, NavItem, register_customer_list_action, register_nav
        from guanxi.messaging.rendering import variable_register

        register_include_field()
        register_nav(
            NavItem(
                key="campaigns",
                label=_("Campaigns"),
                url_name="campaigns:campaign_list",
                order=55,
                roles=OPERATION_ROLES["campaigns.view"],
            )
        )
        register_customer_list_action(
            CustomerListAction(
                key="campaigns.segment",
                label=_("Save as segment"),
                url_name="campaigns:segment_new",
                order=10,
                roles=OPERATION_ROLES["campaigns.segments"],
            )
        )
        # each recipient's own coupon, issued at send time: {coupon_code} is messaging's, {coupon} its name
        variable_register("coupon", _("Coupon (name and value)"), "¥20 代金券")
