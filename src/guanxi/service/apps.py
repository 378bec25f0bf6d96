from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceConfig(AppConfig):
    """The service desk: tickets, 三包 entitlement, visits, parts, training, SLAs, routing, callbacks, knowledge."""

    name = "guanxi.service"
    label = "service"
    verbose_name = _("Service desk")

    def ready(self) -> None:
        # Registrations (nav, 360 panel, timeline kinds, care triggers, merge hooks, erasers) go here.
        pass
