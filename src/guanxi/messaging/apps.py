from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "guanxi.messaging"
    label = "messaging"
    verbose_name = _("Messaging")

    def ready(self) -> None:
        from guanxi.core.merge import MergeFollower, register_merge_follower
        from guanxi.core.personal_data import PersonalDataEraser, register_eraser
        from guanxi.core.registry import CustomerPanel, NavItem, register_customer_panel, register_nav
        from guanxi.core.timeline import register_timeline_kind
        from guanxi.messaging import segments, subscribers, timeline  # noqa: F401 — subscribers registers event handlers
        from guanxi.messaging.care import register as register_care_entries
        from guanxi.messaging.services import messages_erase_customer
        from guanxi.messaging.views import customer_panel_context

        for kind in timeline.kinds():
            register_timeline_kind(kind)
        segments.register()  # consent, reachable address, messages received
        register_care_entries()
        register_eraser(PersonalDataEraser(key="messaging", label=_("Messages"), erase=messages_erase_customer))
        for label in ("messaging.Message", "messaging.Consent", "messaging.InboundMessage"):
            register_merge_follower(MergeFollower(label))
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
        from guanxi.core.customer_create import CustomerCreateSection, register_customer_create_section
        from guanxi.messaging.customer_create import ConsentSectionForm, consent_section_save

        register_customer_create_section(
            CustomerCreateSection(
                key="messaging.consent",
                label=_("Consent asked at the counter"),
                form_class=ConsentSectionForm,
                template="messaging/_create_section.html",
                save=consent_section_save,
                order=40,
            )
        )
