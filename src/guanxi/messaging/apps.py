from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "guanxi.messaging"
    label = "messaging"
    verbose_name = _("Messaging")

    def ready(self) -> None:
        from guanxi.customers.services import merge_follower_register
        from guanxi.customers.timeline import register_kind
        from guanxi.messaging import subscribers  # noqa: F401 — registers the event handlers
        from guanxi.messaging.views import customer_panel_context
        from guanxi.workspace.registry import CustomerPanel, NavItem, register_customer_panel, register_nav

        register_kind("message.sent", _("Message sent by %(channel)s (%(template)s) to %(to)s"))
        register_kind("message.failed", _("Message by %(channel)s (%(template)s) to %(to)s failed: %(error)s"))
        register_kind("message.reply", _("SMS reply from %(from)s: “%(text)s”"))
        register_kind("consent.granted", _("Consent to %(purpose)s messages by %(channel)s given (%(source)s)"))
        register_kind("consent.withdrawn", _("Consent to %(purpose)s messages by %(channel)s withdrawn (%(source)s)"))
        for label in ("messaging.Message", "messaging.Consent", "messaging.InboundMessage"):
            merge_follower_register(label)
        register_nav(NavItem(key="messaging", label=_("Messages"), url_name="messaging:log", order=50))
        register_customer_panel(
            CustomerPanel(
                key="messaging",
                title=_("Messages and consent"),
                template="messaging/panel.html",
                context=customer_panel_context,
                order=40,
            )
        )
