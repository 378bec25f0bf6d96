"""The registries in core: typed entries, a key registered twice is refused, lookups in (order, key) order,
and the entries every app registers at start-up are there."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError

from guanxi.core import care, customer_create, merge, personal_data, registry, segments, timeline


@dataclass(frozen=True)
class Item:
    key: str
    order: int = 100


def test_registry_refuses_a_key_twice_and_lists_by_order_then_key():
    reg: registry.Registry[Item] = registry.Registry("things")
    reg.register(Item("b", order=2))
    reg.register(Item("a", order=2))
    reg.register(Item("z", order=1))
    with pytest.raises(ImproperlyConfigured, match="'a' is registered already"):
        reg.register(Item("a", order=0))
    with pytest.raises(ImproperlyConfigured):
        reg.register(Item(""))
    assert [i.key for i in reg.entries()] == ["z", "a", "b"]
    assert reg.get("a") == Item("a", order=2)
    assert reg.get("nope") is None
    assert "z" in reg
    assert len(reg) == 3
    reg.unregister("z")
    assert [i.key for i in reg] == ["a", "b"]


class _User:
    def __init__(self, role: str, is_superuser: bool = False) -> None:
        self.role = role
        self.is_superuser = is_superuser


def test_nav_and_panels_by_role_and_order():
    reg = registry.NAV
    reg.register(registry.NavItem(key="zz-test", label="T", url_name="x", order=-1, roles=frozenset({"manager"})))
    try:
        assert registry.nav_items(_User("manager"))[0].key == "zz-test"
        assert registry.nav_items(_User("admin", is_superuser=True))[0].key == "zz-test"
        assert "zz-test" not in [i.key for i in registry.nav_items(_User("store_staff"))]
        with pytest.raises(ImproperlyConfigured):
            registry.register_nav(registry.NavItem(key="home", label="again", url_name="workspace:home"))
    finally:
        reg.unregister("zz-test")
    keys = [i.key for i in registry.nav_items(_User("store_staff"))]
    assert keys[:4] == ["home", "customers", "duplicates", "imports"]
    panels = registry.customer_panels(_User("store_staff"))
    assert [p.key for p in panels][:2] == ["orders", "loyalty"]
    assert panels[0].html_id == "orders"
    assert panels[1].html_id == "panel-loyalty"


def test_customer_list_actions_by_role_and_what_campaigns_registers():
    reg = registry.CUSTOMER_LIST_ACTIONS
    reg.register(
        registry.CustomerListAction(key="zz-act", label="T", url_name="x", order=-1, roles=frozenset({"analyst"}))
    )
    try:
        assert registry.customer_list_actions(_User("analyst"))[0].key == "zz-act"
        assert "zz-act" not in [a.key for a in registry.customer_list_actions(_User("marketer"))]
        with pytest.raises(ImproperlyConfigured):
            registry.register_customer_list_action(registry.CustomerListAction(key="zz-act", label="", url_name="y"))
    finally:
        reg.unregister("zz-act")
    assert [a.url_name for a in registry.customer_list_actions(_User("marketer"))] == ["campaigns:segment_new"]
    assert registry.customer_list_actions(_User("store_staff")) == []


def test_timeline_kinds_render_in_the_active_language_or_fall_back():
    kind = timeline.TimelineKind("zz.test", "%(who)s did it", prepare=lambda d: {**d, "who": d["name"].upper()})
    timeline.register_timeline_kind(kind)
    try:
        assert timeline.timeline_text("zz.test", {"name": "li"}, "summary") == "LI did it"
        assert timeline.timeline_text("zz.test", {}, "summary") == "summary"  # data that does not fit
        assert timeline.timeline_text("zz.unknown", {}, "summary") == "summary"
        with pytest.raises(ImproperlyConfigured):
            timeline.register_timeline_kind(timeline.TimelineKind("zz.test", "again"))
    finally:
        timeline.TIMELINE_KINDS.unregister("zz.test")
    for key in ("customer.created", "order.paid", "loyalty.points", "message.sent.sms", "message.reply"):
        assert key in timeline.TIMELINE_KINDS, key  # customers, sales, loyalty, messaging registered theirs


def test_merge_followers_and_hooks_registered_by_each_app_in_order():
    labels = [f.model_label for f in merge.merge_followers()]
    assert labels[:3] == ["customers.ImportantDate", "customers.Note", "customers.TimelineEntry"]
    assert {"messaging.Message", "messaging.Consent", "messaging.InboundMessage"} <= set(labels)
    # orders move before memberships fold; care follows; the home page's birthday marks follow last
    assert [h.key for h in merge.merge_hooks()] == ["sales", "loyalty", "care", "workspace.birthdays"]
    with pytest.raises(ImproperlyConfigured):
        merge.register_merge_follower(merge.MergeFollower("customers.Note"))
    assert merge.MergeFollower("messaging.Message").key == "messaging.Message.customer"


def test_personal_data_exporters_and_erasers():
    assert [e.key for e in personal_data.exporters()][0] == "customer"
    assert "messaging" in [e.key for e in personal_data.erasers()]
    calls = []
    personal_data.register_eraser(
        personal_data.PersonalDataEraser("zz", "Z", erase=lambda c: calls.append(c) or {"zz": 1}, order=999)
    )
    personal_data.register_exporter(personal_data.PersonalDataExporter("zz", "Z", export=lambda c: {"c": c}, order=999))
    try:
        with pytest.raises(ImproperlyConfigured):
            personal_data.register_eraser(personal_data.PersonalDataEraser("zz", "Z", erase=lambda c: {}))
        assert personal_data.erasers()[-1].key == "zz"
        assert personal_data.erasers()[-1].erase("x") == {"zz": 1}
        assert calls == ["x"]
        assert personal_data.exporters()[-1].export("x") == {"c": "x"}
    finally:
        personal_data.ERASERS.unregister("zz")
        personal_data.EXPORTERS.unregister("zz")


def test_segment_fields_refuse_unknown_fields_and_operators():
    field = segments.SegmentField(
        key="zz.region",
        label="Region",
        type="text",
        filter=lambda qs, op, value: [row for row in qs if row == value],
        operators=("eq",),
        clean=str.strip,
    )
    segments.register_segment_field(field)
    try:
        assert segments.segment_filter(["杭州", "上海"], key="zz.region", operator="eq", value=" 杭州 ") == ["杭州"]
        with pytest.raises(ValidationError) as exc:
            segments.segment_filter([], key="zz.region", operator="gt", value="x")
        assert "operator" in exc.value.message_dict
        with pytest.raises(ValidationError) as exc:
            segments.segment_filter([], key="zz.nothing", operator="eq", value="x")
        assert "field" in exc.value.message_dict
        with pytest.raises(ImproperlyConfigured):
            segments.register_segment_field(field)
        assert "zz.region" in [f.key for f in segments.segment_fields()]
    finally:
        segments.SEGMENT_FIELDS.unregister("zz.region")


def test_care_triggers_by_event_and_actions_by_order():
    def birthdays(params, context):
        return [1, 2]

    def first_purchase(params, context):
        return [context["event"]]

    care.register_care_trigger(care.CareTrigger("zz.birthday", "Birthday", handler=birthdays, order=2))
    care.register_care_trigger(
        care.CareTrigger("zz.first", "First purchase", handler=first_purchase, event="order.paid", order=1)
    )
    care.register_care_action(
        care.CareAction(
            "zz.tag",
            "Tag",
            handler=lambda customer, params, context: {"tagged": params["tag"]},
            validate_params=lambda p: {"tag": str(p["tag"]).strip()},
        )
    )
    try:

        def ours(entries):  # the apps' own entries are registered beside these
            return [e.key for e in entries if e.key.startswith("zz.")]

        assert ours(care.care_triggers(event="")) == ["zz.birthday"]
        assert ours(care.care_triggers(event="order.paid")) == ["zz.first"]
        assert ours(care.care_triggers()) == ["zz.first", "zz.birthday"]
        action = care.CARE_ACTIONS.get("zz.tag")
        assert action.handler(None, action.validate_params({"tag": " 老客 "}), {}) == {"tagged": "老客"}
        assert care.CARE_TRIGGERS.get("zz.birthday").validate_params({"anything": 1}) == {}
        with pytest.raises(ImproperlyConfigured):
            care.register_care_action(care.CareAction("zz.tag", "again", handler=lambda c, p, x: {}))
    finally:
        care.CARE_TRIGGERS.unregister("zz.birthday")
        care.CARE_TRIGGERS.unregister("zz.first")
        care.CARE_ACTIONS.unregister("zz.tag")


def test_the_apps_register_their_care_triggers_and_actions():
    triggers = {t.key: t.event for t in care.care_triggers()}
    ours = {
        "birthday": "",
        "important_date": "",
        "member_day_n": "",
        "membership_anniversary": "",
        "tier_changed": "loyalty.tier_changed",
        "points_expiring": "",
        "coupon_expiring": "",
        "wallet_low": "",
        "first_purchase": "order.paid",
        "order_over_amount": "order.paid",
        "repurchase_overdue": "",
        "churn_risk": "",
        "high_value_drifting": "",
    }
    assert triggers.items() >= ours.items()  # the care app and later ones add theirs
    assert {a.key for a in care.care_actions()} >= {
        "tag_add",
        "tag_remove",
        "coupon_issue",
        "points_grant",
        "message_send",
    }


def test_customer_create_sections_by_role_and_the_apps_entries():
    reg = customer_create.CUSTOMER_CREATE_SECTIONS
    section = customer_create.CustomerCreateSection(
        key="zz-test",
        label="T",
        form_class=object,
        template="x.html",
        save=lambda c, d, a: None,
        order=-1,
        roles=frozenset({"manager"}),
    )
    customer_create.register_customer_create_section(section)
    try:
        assert customer_create.customer_create_sections(_User("manager"))[0].key == "zz-test"
        assert "zz-test" not in [s.key for s in customer_create.customer_create_sections(_User("store_staff"))]
        with pytest.raises(ImproperlyConfigured):
            customer_create.register_customer_create_section(section)
    finally:
        reg.unregister("zz-test")
    keys = [s.key for s in customer_create.customer_create_sections(_User("store_staff"))]
    assert keys == ["loyalty.enrol", "messaging.consent"]
