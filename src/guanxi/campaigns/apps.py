from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    """Segments (rule trees over every app's segment fields) and campaigns sent to them, with a hold-out."""

    name = "guanxi.campaigns"
    label = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from guanxi.messaging.rendering import variable_register

        # a campaign's message names the coupon each recipient was issued ({coupon_code} is messaging's)
        variable_register("coupon", _("Coupon name"), "满100减20")
