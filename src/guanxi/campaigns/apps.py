from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    """Segments (rule trees over every app's segment fields) and campaigns sent to them, with a hold-out."""

    name = "guanxi.campaigns"
    label = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        pass
