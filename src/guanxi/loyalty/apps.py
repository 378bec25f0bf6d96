from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "guanxi.loyalty"
    label = "loyalty"
    verbose_name = _("Loyalty")

    def ready(self) -> None:
        from guanxi.core.merge import MergeHook, register_merge_hook
        from guanxi.core.registry import CustomerPanel, NavItem, register_customer_panel, register_nav
        from guanxi.core.timeline import TimelineKind, register_timeline_kind
        from guanxi.loyalty import subscribers  # noqa: F401 — registers the order event handlers
        from guanxi.loyalty.care import register as register_care_entries
        from guanxi.loyalty.display import money_timeline, points_timeline, status_timeline, wallet_timeline
        from guanxi.loyalty.services import merge_loyalty
        from guanxi.loyalty.views import customer_panel_context

        register_timeline_kind(
            TimelineKind("loyalty.enrolled", _("Joined the membership as %(member_no)s (tier %(tier)s)"))
        )
        register_timeline_kind(
            TimelineKind("loyalty.status", _("Membership %(status)s: %(reason)s"), prepare=status_timeline)
        )
        register_timeline_kind(TimelineKind("loyalty.tier", _("Tier changed from %(from)s to %(to)s")))
        register_timeline_kind(
            TimelineKind(
                "loyalty.points",
                _("Points %(points)s (%(kind)s, %(reason)s); balance %(balance)s"),
                prepare=points_timeline,
            )
        )
        register_timeline_kind(
            TimelineKind(
                "loyalty.wallet", _("Stored value %(kind)s %(amount)s; balance %(balance)s"), prepare=wallet_timeline
            )
        )
        register_timeline_kind(TimelineKind("loyalty.birthday", _("Birthday gift of tier %(tier)s: %(gift)s")))
        register_timeline_kind(
            TimelineKind(
                "loyalty.coupon",
                _("Coupon %(name)s (%(code)s) used: %(discount)s off"),
                prepare=money_timeline("discount"),
            )
        )
        register_timeline_kind(
            TimelineKind(
                "loyalty.ebill",
                _(
                    "E-bill %(order_ref)s: paid %(amount)s, discount %(discount)s, points +%(points_earned)s "
                    "(balance %(points_balance)s), stored value %(wallet_balance)s"
                ),
                prepare=money_timeline("amount", "discount", "wallet_balance"),
            )
        )
        register_merge_hook(MergeHook(key="loyalty", function=merge_loyalty, order=20))
        register_nav(NavItem(key="loyalty.counter", label=_("Counter"), url_name="loyalty:counter", order=15))
        register_nav(NavItem(key="loyalty", label=_("Loyalty"), url_name="loyalty:program", order=40))
        register_customer_panel(
            CustomerPanel(
                key="loyalty",
                title=_("Membership"),
                template="loyalty/panel.html",
                context=customer_panel_context,
                order=20,
            )
        )
        from guanxi.core.customer_create import CustomerCreateSection, register_customer_create_section
        from guanxi.loyalty.customer_create import EnrolSectionForm, enrol_section_save

        register_customer_create_section(
            CustomerCreateSection(
                key="loyalty.enrol",
                label=_("Membership"),
                form_class=EnrolSectionForm,
                template="loyalty/_create_section.html",
                save=enrol_section_save,
                order=20,
            )
        )
        from guanxi.loyalty import segments

        segments.register()  # membership, tier, points, stored value, coupons, growth for segments
        # The nightly jobs are scheduled in settings/celery.py with every other beat entry.
        register_care_entries()
