"""The event catalogue (docs/development/events.md) is the contract between recorders and subscribers.

Two checks keep it true. Statically, every ``event_record`` call in the product code must name a
catalogued event (a literal name) with only catalogued payload fields, and every ``@subscriber`` must
listen to catalogued events, be listed for them, and read only their catalogued fields. At run time,
a representative flow (customers, orders and refunds, points, wallet, coupons, checkout, messages and
receipts, import, merge, erasure, scores) must record only catalogued names and fields, including the
events written in bulk by the importer, which no static scan sees.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.utils import timezone

SRC = Path(__file__).resolve().parents[1]  # src/guanxi
CATALOGUE = SRC.parents[1] / "docs" / "development" / "events.md"
RECORDERS = {"event_record"}  # a call to one of these records one event with name= and payload=
BULK_RECORDERS = {"events_record_many"}  # checked when their name= is a literal


@dataclass
class Entry:
    fields: set[str] = field(default_factory=set)
    recorded_by: str = ""
    subscribers: set[str] = field(default_factory=set)


def _catalogue() -> dict[str, Entry]:
    """{event name: its fields, recorders and subscribers}, from the page's sections and its index table."""
    entries: dict[str, Entry] = {}
    section = None
    in_index = False
    index: dict[str, tuple[str, str]] = {}
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^(#+)\s+(.*)$", line)
        if heading:
            title = heading.group(2).strip()
            named = re.fullmatch(r"`([a-z_]+\.[a-z_.]+)`", title)
            section = named.group(1) if heading.group(1) == "###" and named else None
            in_index = title == "Index"
            if section is not None:
                assert section not in entries, f"{section} has two sections in the catalogue"
                entries[section] = Entry()
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not cells or set(cells[0]) <= {"-"} or not cells[0].startswith("`"):
            continue
        if in_index:
            index[cells[0].strip("`")] = (cells[1], cells[2])
        elif section is not None:
            entries[section].fields.add(cells[0].strip("`"))
    assert set(index) == set(entries), (
        f"the index and the sections list different events: {sorted(set(index) ^ set(entries))}"
    )
    for name, (recorded_by, subscribers) in index.items():
        entries[name].recorded_by = recorded_by
        entries[name].subscribers = set(re.findall(r"`([^`]+)`", subscribers))
    return entries


# --- static: what the code says --------------------------------------------------------------------


def _product_files() -> list[Path]:
    return [
        p
        for p in sorted(SRC.rglob("*.py"))
        if "tests" not in p.relative_to(SRC).parts and "migrations" not in p.relative_to(SRC).parts
    ]


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _dict_fields(node: ast.Dict) -> set[str] | None:
    """The keys of a dict literal, with ``key[].sub`` for a list of dict literals; None if not all literal."""
    fields: set[str] = set()
    for key, value in zip(node.keys, node.values, strict=True):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            return None
        fields.add(key.value)
        element = value.elt if isinstance(value, ast.ListComp) else None
        if isinstance(value, ast.List) and value.elts:
            element = value.elts[0]
        if isinstance(element, ast.Dict):
            nested = _dict_fields(element)
            fields |= {f"{key.value}[].{sub}" for sub in nested or ()}
    return fields


def _payload_fields(node: ast.expr | None, function: ast.AST, module: ast.Module) -> set[str] | None:
    """Fields of a payload given as a dict literal, a local variable holding one, or a module function
    returning one."""
    if node is None:
        return set()
    if isinstance(node, ast.Dict):
        return _dict_fields(node)
    if isinstance(node, ast.Name):
        assigned = [
            a.value
            for a in ast.walk(function)
            if isinstance(a, ast.Assign) and any(isinstance(t, ast.Name) and t.id == node.id for t in a.targets)
        ]
        if len(assigned) == 1 and isinstance(assigned[0], ast.Dict):
            return _dict_fields(assigned[0])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        for f in module.body:
            if isinstance(f, ast.FunctionDef) and f.name == node.func.id:
                returns = [r.value for r in ast.walk(f) if isinstance(r, ast.Return)]
                if len(returns) == 1 and isinstance(returns[0], ast.Dict):
                    return _dict_fields(returns[0])
    return None


@dataclass
class Recording:
    where: str  # path:line
    app: str
    function: str
    name: str | None
    fields: set[str] | None


@dataclass
class Subscription:
    where: str
    key: str
    names: list[str]
    reads: set[str]


def _functions(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


@functools.cache
def _scan() -> tuple[list[Recording], list[Subscription]]:
    recordings, subscriptions = [], []
    for path in _product_files():
        text = path.read_text(encoding="utf-8")
        if "subscriber" not in text and not any(r in text for r in RECORDERS | BULK_RECORDERS):
            continue
        tree = ast.parse(text, filename=str(path))
        rel = path.relative_to(SRC)
        app = rel.parts[0]
        seen: set[int] = set()
        for function in _functions(tree):
            for call in ast.walk(function):
                if not isinstance(call, ast.Call) or id(call) in seen:
                    continue
                recorder = _call_name(call)
                if recorder not in RECORDERS | BULK_RECORDERS:
                    continue
                seen.add(id(call))
                name_node = _keyword(call, "name")
                name = name_node.value if isinstance(name_node, ast.Constant) else None
                if recorder in BULK_RECORDERS and name is None:
                    continue
                recordings.append(
                    Recording(
                        where=f"{rel}:{call.lineno}",
                        app=app,
                        function=function.name,
                        name=name,
                        fields=_payload_fields(_keyword(call, "payload"), function, tree),
                    )
                )
            for decorator in function.decorator_list:
                if isinstance(decorator, ast.Call) and _call_name(decorator) == "subscriber":
                    key_node = _keyword(decorator, "name")
                    module = ".".join(rel.with_suffix("").parts)
                    key = key_node.value if isinstance(key_node, ast.Constant) else f"guanxi.{module}.{function.name}"
                    names = [a.value for a in decorator.args if isinstance(a, ast.Constant)]
                    subscriptions.append(
                        Subscription(f"{rel}:{function.lineno}", str(key), names, _payload_reads(function))
                    )
    return recordings, subscriptions


def _is_payload(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "payload") or (
        isinstance(node, ast.Attribute) and node.attr == "payload"
    )


def _payload_reads(function: ast.AST) -> set[str]:
    """Keys read as ``payload["k"]`` / ``payload.get("k")`` (or on ``event.payload``)."""
    reads = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Subscript) and _is_payload(node.value) and isinstance(node.slice, ast.Constant):
            reads.add(str(node.slice.value))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and _is_payload(node.func.value)
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            reads.add(str(node.args[0].value))
    return reads


def test_the_scan_finds_the_recorders_and_subscribers():
    """Guards the scan itself: if it found nothing, the checks below would pass vacuously."""
    recordings, subscriptions = _scan()
    assert len(recordings) >= 10
    assert {s.key for s in subscriptions} >= {"loyalty.earn", "loyalty.reverse", "messaging.ebill"}


def test_code_records_only_catalogued_events_and_fields():
    catalogue = _catalogue()
    problems = []
    for r in _scan()[0]:
        if r.name is None:
            problems.append(f"{r.where}: the event name is not a literal string; the catalogue cannot be checked")
            continue
        entry = catalogue.get(r.name)
        if entry is None:
            problems.append(f"{r.where}: {r.name!r} is not in docs/development/events.md")
            continue
        if r.fields is None:
            problems.append(
                f"{r.where}: {r.name} payload is not a dict literal (or a variable or function holding one)"
            )
        elif r.fields - entry.fields:
            extra = sorted(r.fields - entry.fields)
            problems.append(f"{r.where}: {r.name} records fields not in the catalogue: {extra}")
        if f"`{r.app}." not in entry.recorded_by or (
            not r.function.startswith("_") and r.function not in entry.recorded_by
        ):
            problems.append(f"{r.where}: the catalogue's 'recorded by' for {r.name} does not name {r.app} {r.function}")
    assert not problems, "\n".join(problems)


def test_subscribers_listen_to_catalogued_events_and_read_catalogued_fields():
    catalogue = _catalogue()
    problems = []
    listed = {(name, key) for name, entry in catalogue.items() for key in entry.subscribers}
    found = set()
    for s in _scan()[1]:
        for name in s.names:
            if name == "*":
                continue
            if name.endswith(".*"):
                if not any(n.startswith(name[:-1]) for n in catalogue):
                    problems.append(f"{s.where}: {s.key} listens to {name}, a family with no catalogued event")
                continue
            entry = catalogue.get(name)
            if entry is None:
                problems.append(f"{s.where}: {s.key} listens to {name!r}, which is not in the catalogue")
                continue
            found.add((name, s.key))
            if s.key not in entry.subscribers:
                problems.append(f"{s.where}: the catalogue does not list {s.key} as a subscriber of {name}")
            if s.reads - entry.fields:
                problems.append(f"{s.where}: {s.key} reads {sorted(s.reads - entry.fields)}, not fields of {name}")
    for name, key in sorted(listed - found):
        problems.append(f"the catalogue lists {key} as a subscriber of {name}, but no such subscriber exists")
    assert not problems, "\n".join(problems)


# --- at run time: what a representative flow records ------------------------------------------------


def _recorded_fields(payload: dict) -> set[str]:
    fields = set()
    for key, value in (payload or {}).items():
        fields.add(key)
        if isinstance(value, list):
            fields |= {f"{key}[].{sub}" for item in value if isinstance(item, dict) for sub in item}
    return fields


@pytest.mark.django_db
def test_a_representative_flow_records_only_catalogued_events_and_fields(
    store_a, tmp_path, settings, django_capture_on_commit_callbacks
):
    from guanxi.analytics.services import scores_refresh
    from guanxi.core.models import Event
    from guanxi.customers import services as customers
    from guanxi.customers.imports import import_job_create, import_run
    from guanxi.customers.models import ContactPoint, Customer
    from guanxi.customers.tests.factories import make_customer
    from guanxi.loyalty import services as loyalty
    from guanxi.loyalty.models import Tier, TopUpRule
    from guanxi.messaging.models import Message
    from guanxi.messaging.providers.base import Receipt, ReceiptStatus
    from guanxi.messaging.services import message_enqueue, receipts_record
    from guanxi.messaging.tests.factories import make_template
    from guanxi.sales.services import refund_create
    from guanxi.sales.tests.factories import make_order

    settings.VAR_DIR = tmp_path  # the console SMS backend writes var/messages.jsonl
    settings.GUANXI_MESSAGING_RATE_LIMITS = {}
    today = timezone.localdate()

    def step(action):
        with django_capture_on_commit_callbacks(execute=True):  # subscribers run as after a real commit
            return action()

    # customers: create, change, contacts, note
    customer = step(lambda: make_customer(store=store_a, name="王芳", phone="13800138000"))
    step(lambda: customers.customer_update(actor=None, customer=customer, data={"birthday": today}))
    step(lambda: customers.contact_point_add(actor=None, customer=customer, kind="email", value="wf@example.com"))
    email = ContactPoint.objects.get(customer=customer, kind="email")
    step(lambda: customers.contact_point_remove(actor=None, contact=email))
    step(lambda: customers.note_add(actor=None, customer=customer, body="喜欢绿茶"))

    # loyalty: enrol, order -> points -> tier upgrade -> e-bill -> message, refund, wallet, coupon, checkout, birthday
    Tier.objects.create(name="普通", threshold=0, order=0, birthday_gift="生日礼盒")
    Tier.objects.create(name="银卡", threshold=100, order=1, birthday_gift="生日礼盒")  # the first order upgrades
    program = loyalty.program()
    program.points_per_yuan = 1
    program.points_per_yuan_redeemed = 100
    program.redeem_cap_percent = 50
    program.save()
    make_template(code="ebill", purpose="transactional", body="{name}消费{amount}元,单号{order_ref}")
    member = step(lambda: loyalty.member_enrol(actor=None, customer=customer)[0])
    order = step(lambda: make_order(customer=customer, lines=[{"name": "茶", "quantity": 2, "unit_price": "64.50"}]))
    step(lambda: refund_create(actor=None, order=order, external_ref="R-0001", amount="29.00"))
    TopUpRule.objects.create(min_amount="100.00", bonus="10.00")
    step(lambda: loyalty.wallet_top_up(actor=None, membership=member, amount="100.00", reference="pay-1"))
    template = loyalty.coupon_template_create(
        actor=None, data={"name": "满100减20", "kind": "threshold", "amount": "20.00", "threshold": "100.00"}
    )
    coupon = step(lambda: loyalty.coupon_issue(actor=None, template=template, customer_ids=[customer.pk])[0])
    checkout = {
        "customer_id": customer.pk,
        "lines": [{"name": "外套", "quantity": 1, "unit_price": "300.00"}],
        "coupon_code": coupon.code,
        "points": "50",
        "wallet_amount": "50.00",
        "key": "pos-1-0001",
        "external_ref": "POS-0001",
        "payment_method": "wechat_pay",
    }
    step(lambda: loyalty.checkout_commit(actor=None, data=checkout))
    step(lambda: loyalty.birthday_run(today=today))

    # messaging: a message to one customer, sent by the console backend, and its delivery receipt
    make_template(code="hello", purpose="transactional", body="{name}您好")
    step(lambda: message_enqueue(channel="sms", template_code="hello", customer_ids=[customer.pk], context={}))
    sent = Message.objects.filter(status="sent").order_by("id")
    assert sent.exists(), list(Message.objects.values_list("template_code", "status", "reason"))
    receipts = [
        Receipt(
            provider="console",
            provider_message_id=m.provider_message_id,
            to="",
            status=ReceiptStatus.DELIVERED,
            out_id=str(m.pk),
        )
        for m in sent
    ]
    step(lambda: receipts_record(provider="console", receipts=receipts))

    # an import (events written in bulk), a merge, an erasure, the scores
    path = tmp_path / "customers.csv"
    path.write_text("姓名,手机\n李雷,13900001111\n韩梅梅,13900002222\n", encoding="utf-8")
    job = step(lambda: import_run(import_job_create(actor=None, path=str(path), dry_run=False), workers=0))
    assert job.created_count == 2
    li, han = Customer.objects.filter(pk__gt=customer.pk).order_by("id")
    step(lambda: customers.customer_merge(actor=None, survivor=customer, merged=li))
    step(lambda: customers.customer_erase(actor=None, customer=han, reason="data-subject request"))
    step(lambda: scores_refresh(as_of=today + dt.timedelta(days=1)))

    # campaigns: a segment created, changed, frozen, archived, restored and deleted
    from guanxi.campaigns import segments

    rules = {"field": "analytics.rfm", "value": "important_value"}
    segment = step(lambda: segments.segment_create(actor=None, data={"name": "重要价值", "rules": rules}))
    step(lambda: segments.segment_update(actor=None, segment=segment, data={"name": "重要价值客户"}))
    step(lambda: segments.segment_freeze(actor=None, segment=segment))
    step(lambda: segments.segment_archive(actor=None, segment=segment))
    step(lambda: segments.segment_delete(actor=None, segment=segment))

    # a campaign's occurrence becomes a run, which goes through its recipients and finishes
    from guanxi.campaigns.models import CampaignRun
    from guanxi.campaigns.run import campaign_run_execute, campaigns_due
    from guanxi.campaigns.tests.helpers import make_campaign

    campaign = make_campaign(None, holdout="0", channel="call", variants=(("A", "", 100),), next_run_at=timezone.now())
    step(lambda: campaigns_due(timezone.now()))
    step(lambda: campaign_run_execute(CampaignRun.objects.get(campaign=campaign).pk))

    # campaigns: a draft through every state change, a test send to a staff phone, a deleted draft
    from guanxi.campaigns import services as campaigns
    from guanxi.campaigns.models import Segment

    segment = Segment.objects.create(name="全部会员", rules={"all": []})
    make_template(code="promo", purpose="marketing", body="{name}您好,会员日全场8折")
    draft = {
        "name": "会员日",
        "segment": segment.pk,
        "variants": [{"label": "A", "template_code": "promo", "split_percent": 100}],
    }
    campaign = step(lambda: campaigns.campaign_save(actor=None, data=draft))
    step(lambda: campaigns.campaign_save(actor=None, campaign=campaign, data={"name": "会员日短信"}))
    step(lambda: campaigns.campaign_test_send(actor=None, campaign=campaign, phones=["13800138001"]))
    step(lambda: campaigns.campaign_submit(actor=None, campaign=campaign))
    step(lambda: campaigns.campaign_reject(actor=None, campaign=campaign, reason="改文案"))
    step(lambda: campaigns.campaign_submit(actor=None, campaign=campaign))
    step(lambda: campaigns.campaign_approve(actor=None, campaign=campaign))
    step(lambda: campaigns.campaign_pause(actor=None, campaign=campaign))
    step(lambda: campaigns.campaign_resume(actor=None, campaign=campaign))
    step(lambda: campaigns.campaign_cancel(actor=None, campaign=campaign))
    step(lambda: campaigns.campaign_delete(actor=None, campaign=campaigns.campaign_save(actor=None, data=draft)))
    step(lambda: campaigns.global_holdout_update(actor=None, data={"percent": "5.00", "enabled": True}))

    # care: a rule's life, one occurrence fired and one refused by an action, a task's outcome, a plan, an exclusion
    from guanxi.care import run as care_run
    from guanxi.care import services as care
    from guanxi.care.models import CareTask
    from guanxi.core.care import CARE_ACTIONS, CARE_TRIGGERS, CareAction, CareTrigger

    CARE_TRIGGERS.register(
        CareTrigger(key="zz.all", label="all", handler=lambda p, c: Customer.objects.values_list("id", flat=True))
    )
    CARE_ACTIONS.register(CareAction(key="zz.refused", label="refused", handler=lambda c, p, x: {"suppressed": "cap"}))
    try:
        rule_data = {"name": "关怀", "trigger_key": "zz.all", "holdout_percent": "0"}
        rule = step(
            lambda: care.rule_save(
                actor=None, data={**rule_data, "steps": [{"action": "care.task", "params": {"title": "回访"}}]}
            )
        )
        step(lambda: care.rule_save(actor=None, rule=rule, data={"priority": 200}))
        step(lambda: care.rule_set_active(actor=None, rule=rule, active=True))
        refused = step(
            lambda: care.rule_save(
                actor=None, data={**rule_data, "name": "拒", "priority": 300, "steps": [{"action": "zz.refused"}]}
            )
        )
        step(lambda: care.rule_set_active(actor=None, rule=refused, active=True))
        step(lambda: care_run.care_daily_run())
        step(lambda: care.rule_set_active(actor=None, rule=rule, active=False))
        task = CareTask.objects.filter(rule=rule).first()
        step(lambda: care.task_complete(actor=None, task=task, outcome="reached"))
        step(lambda: care.plan_save(actor=None, data={"name": "金卡", "budget_total": "1000.00"}))
        step(lambda: care.exclusion_set(actor=None, customer=customer, reason="opted_out"))
        step(lambda: care.exclusion_clear(actor=None, customer=customer))
        step(lambda: care.rule_delete(actor=None, rule=care.rule_save(actor=None, data=rule_data)))
    finally:
        CARE_TRIGGERS.unregister("zz.all")
        CARE_ACTIONS.unregister("zz.refused")

    catalogue = _catalogue()
    problems = []
    seen = set()
    for event in Event.objects.order_by("id"):
        seen.add(event.name)
        entry = catalogue.get(event.name)
        if entry is None:
            problems.append(f"event {event.pk}: {event.name!r} is not in docs/development/events.md")
        elif _recorded_fields(event.payload) - entry.fields:
            extra = sorted(_recorded_fields(event.payload) - entry.fields)
            problems.append(f"event {event.pk}: {event.name} recorded fields not in the catalogue: {extra}")
    assert not problems, "\n".join(problems)
    # the flow reaches every catalogued event, so none of them goes unchecked
    assert seen == set(catalogue), f"not recorded by the flow: {sorted(set(catalogue) - seen)}"
