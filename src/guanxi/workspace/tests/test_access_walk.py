"""Store-A staff against store-B objects, on every API operation and every page: zero effects on store B.

The walk enumerates the OpenAPI document (``/api/schema/``) and the URLconf, not a hand list: a new endpoint
is walked as soon as it exists. Path parameters are filled with store B's objects, request bodies and query
strings with store B's ids, phones, e-mails and numbers. Before and after each request a digest of every
row that belongs to store B (its customers and all that hangs off them: contacts, tags, notes, orders,
refunds, memberships, ledgers, coupons, checkouts, messages, consents, events, audit rows) and of every
reference-data row shared with store B (tags, products, categories, tiers, rules, templates, attributes,
stores, the program) is taken; any difference is an effect on store B. Responses must not carry store B's
private values (its customer's name, note, message text, order amount, member number).
"""

from __future__ import annotations

import hashlib
import re
from collections import deque

import pytest
from django.apps import apps
from django.db import models
from django.db.models import Q
from django.urls import URLPattern, URLResolver, get_resolver

from guanxi.accounts.models import ApiToken, User
from guanxi.accounts.permissions import REFERENCE_DATA_ROLES
from guanxi.campaigns.models import Campaign, CampaignVariant, Segment
from guanxi.care.models import CarePlan, CareRule, CareTask
from guanxi.conftest import api_client_for
from guanxi.customers import services as customer_services
from guanxi.customers.models import ContactPoint, CustomAttribute, Customer, ImportJob, Tag
from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty import services as loyalty_services
from guanxi.loyalty.models import Checkout, Tier, TopUpRule
from guanxi.messaging import services as messaging_services
from guanxi.messaging.models import Message, MessageTemplate
from guanxi.sales.models import Product, ProductCategory
from guanxi.sales.services import order_ingest, refund_create

pytestmark = pytest.mark.django_db

B_NAME = "乙店秘密客户"
B_NOTE = "乙店秘密备注内容"
B_MESSAGE = "乙店秘密短信正文"
B_PAID = "4321.09"
B_PHONE = "+8613911112222"
B_EMAIL = "zeta.b@example.com"
B_ORDER = "B-SECRET-0001"


@pytest.fixture
def world(store_a, store_b, staff_a, staff_b):
    category = ProductCategory.objects.create(code="coats", name="外套")
    product = Product.objects.create(sku="COAT-B", name="羊毛大衣", category=category, price="899.00")
    tag = Tag.objects.create(name="乙店VIP")
    attribute = CustomAttribute.objects.create(key="shoe", label="鞋码")
    tier = Tier.objects.create(name="普通", threshold=0, order=0)
    rule = TopUpRule.objects.create(min_amount="500.00", bonus="50.00")
    coupon_template = loyalty_services.coupon_template_create(
        actor=None, data={"name": "代金券", "kind": "fixed", "amount": "10.00"}
    )
    template = MessageTemplate.objects.create(
        code="hello", name="hello", channel="sms", purpose="transactional", body="{name}您好"
    )

    customer = make_customer(store=store_b, name=B_NAME, phone=B_PHONE, email=B_EMAIL)
    customer_services.customer_tag(actor=None, customer_ids=[customer.pk], tag_name=tag.name)
    customer_services.note_add(actor=None, customer=customer, body=B_NOTE)
    customer_services.important_date_add(actor=None, customer=customer, kind="other", date="2015-10-01", label="婚礼")
    order = order_ingest(
        actor=None,
        data={
            "external_ref": B_ORDER,
            "source": "api",
            "store": store_b.code,
            "customer_id": customer.pk,
            "lines": [{"sku": "COAT-B", "quantity": 1, "unit_price": B_PAID}],
        },
    ).order
    refund_create(actor=None, order=order, external_ref="B-REFUND-1", amount="1.00")
    membership = loyalty_services.member_enrol(actor=None, customer=customer)[0]
    loyalty_services.wallet_top_up(actor=None, membership=membership, amount="600.00", reference="b-top-up")
    loyalty_services.points_adjust(actor=None, membership=membership, points=5000, reason="opening")
    coupon = loyalty_services.coupon_issue(actor=None, template=coupon_template, customer_ids=[customer.pk])[0]
    checkout, _created = loyalty_services.checkout_commit(
        actor=None,
        data={
            "key": "b-checkout-1",
            "customer_id": customer.pk,
            "external_ref": "B-CHECKOUT-1",
            "store": store_b.code,
            "lines": [{"name": "围巾", "quantity": 1, "unit_price": "200.00"}],
            "wallet_amount": "50.00",
        },
    )
    message = Message.objects.create(
        customer=customer,
        channel="sms",
        purpose="transactional",
        template=template,
        template_code=template.code,
        body=B_MESSAGE,
        to_address=B_PHONE,
        dedupe_key="b-message-1",
        status=Message.Status.SENT,
    )
    consent = messaging_services.consent_record(
        actor=None, customer=customer, channel="sms", purpose="marketing", granted=True, source="counter"
    )
    job = ImportJob.objects.create(
        target=ImportJob.Target.CUSTOMERS,
        file="/nonexistent/b.csv",
        original_name="b.csv",
        store=store_b,
        created_by=staff_b,
    )
    # Store A has a customer of its own, so writes that need a visible partner (merge) have one.
    own = make_customer(store=store_a, name="甲店客户")
    membership.refresh_from_db()
    # Store B's segment and campaign (their pages, results and API answer store A's staff like missing ones).
    segment = Segment.objects.create(
        name="乙店分群", rules={"field": "analytics.at_risk", "value": "1"}, store=store_b, created_by=staff_b
    )
    campaign = Campaign.objects.create(name="乙店活动", segment=segment, store=store_b, created_by=staff_b)
    CampaignVariant.objects.create(campaign=campaign, label="A", template_code=template.code, split_percent=100)
    # Store B's care rule and care task, and a care plan (shared: store A's staff may read it, not change it).
    care_rule = CareRule.objects.create(
        name="乙店关怀", store=store_b, trigger_key="loyalty.birthday", created_by=staff_b
    )
    care_task = CareTask.objects.create(
        customer=customer, title="乙店回访", store=store_b, due_on=order.ordered_at.date()
    )
    care_plan = CarePlan.objects.create(name="金卡关怀")
    return {
        "store_b": store_b,
        "staff_b": staff_b,
        "customer": customer,
        "own": own,
        "contact": ContactPoint.objects.filter(customer=customer).order_by("pk").first(),
        "order": order,
        "line": order.lines.order_by("pk").first(),
        "membership": membership,
        "coupon": coupon,
        "checkout": Checkout.objects.get(pk=checkout.pk),
        "checkout_order": checkout.order,
        "message": message,
        "consent": consent,
        "job": job,
        "tag": tag,
        "attribute": attribute,
        "product": product,
        "category": category,
        "tier": tier,
        "rule": rule,
        "coupon_template": coupon_template,
        "template": template,
        "segment": segment,
        "campaign": campaign,
        "care_rule": care_rule,
        "care_task": care_task,
        "care_plan": care_plan,
    }


# --- what belongs to store B ----------------------------------------------------------------------------------


def _path_to_customer(model, depth: int = 3) -> str | None:
    """The shortest forward foreign-key path from ``model`` to a customer (``customer_id`` columns count)."""
    queue = deque([(model, "")])
    seen = {model}
    while queue:
        current, prefix = queue.popleft()
        for field in current._meta.concrete_fields:
            if field.name == "customer_id" or (field.is_relation and field.related_model is Customer):
                return f"{prefix}{field.name}" if field.name == "customer_id" else f"{prefix}{field.name}_id"
        if prefix.count("__") >= depth - 1:
            continue
        for field in current._meta.concrete_fields:
            if field.is_relation and field.many_to_one and field.related_model not in seen:
                seen.add(field.related_model)
                queue.append((field.related_model, f"{prefix}{field.name}__"))
    return None


def _b_querysets(world) -> dict[str, tuple[models.QuerySet, bool]]:
    """label -> (rows of store B, whether new rows count as an effect); built once per walk."""
    if "_querysets" in world:
        return world["_querysets"]
    initial = list(Customer.objects.filter(home_store=world["store_b"]).values_list("pk", flat=True))
    # B's customers now (a new one counts) and those B had at the start (one moved away counts).
    b_ids = Customer.objects.filter(Q(home_store=world["store_b"]) | Q(pk__in=initial)).values("pk")
    out: dict[str, tuple[models.QuerySet, bool]] = {}
    for model in apps.get_models(include_auto_created=True):
        if not model.__module__.startswith("guanxi."):
            if model._meta.auto_created and model._meta.app_label.startswith(("customers", "accounts")):
                pass  # m2m through tables of ours (customer tags, staff stores)
            else:
                continue
        label = model._meta.label_lower
        if model is Customer:
            out[label] = (Customer.objects.filter(pk__in=b_ids), True)
        elif label in REFERENCE_DATA_ROLES:
            # Shared with store B: changing or deleting a row reaches B; adding one does not.
            out[label] = (model._default_manager.all(), False)
        elif model is User:
            out[label] = (User.objects.filter(pk=world["staff_b"].pk), True)
        elif model is ApiToken:
            # store B's staff's tokens; the walker's own token notes its use (last_used_at) when a long walk
            # outlasts the five-minute resolution, which is no effect on store B
            out[label] = (ApiToken.objects.filter(user=world["staff_b"]), True)
        elif model is ImportJob:
            out[label] = (ImportJob.objects.filter(store=world["store_b"]), True)
        elif model._meta.auto_created and model._meta.app_label == "accounts":
            if any(f.name == "store" for f in model._meta.concrete_fields):  # staff <-> stores
                out[label] = (model.objects.filter(store_id=world["store_b"].pk), True)
        else:
            path = _path_to_customer(model)
            if path is not None:
                out[label] = (model._default_manager.filter(**{f"{path}__in": b_ids}), True)
            else:
                # Not tied to a customer (rate buckets, fits, refresh runs, suppressions): existing rows
                # must not change; new rows are the caller's own.
                out[label] = (model._default_manager.all(), False)
    assert {"customers.customer", "sales.order", "loyalty.pointsentry", "messaging.message"} <= set(out)
    world["_querysets"] = out
    return out


def _digest(world) -> dict[str, dict]:
    snapshot = {}
    for label, (qs, new_counts) in _b_querysets(world).items():
        rows = {}
        for row in qs.order_by("pk").values():
            rows[row["id"] if "id" in row else row.get("pk")] = hashlib.sha256(
                repr(sorted(row.items())).encode()
            ).hexdigest()
        snapshot[label] = {"rows": rows, "new_counts": new_counts}
    return snapshot


def _effects(before, after) -> list[str]:
    found = []
    for label, state in before.items():
        old, new = state["rows"], after[label]["rows"]
        changed = [pk for pk in old if pk in new and new[pk] != old[pk]]
        removed = [pk for pk in old if pk not in new]
        added = [pk for pk in new if pk not in old] if state["new_counts"] else []
        if changed or removed or added:
            found.append(f"{label}: changed {changed} removed {removed} added {added}")
    return found


def _private_markers(world) -> list[str]:
    return [B_NAME, B_NOTE, B_MESSAGE, B_PAID, world["membership"].member_no]


def _leaks(world, response) -> list[str]:
    body = response.content.decode("utf-8", "replace") if hasattr(response, "content") else ""
    return [m for m in _private_markers(world) if m and m in body]


# --- the API walk ---------------------------------------------------------------------------------------------

#: The collection a ``{id}`` follows -> the store-B object (or shared reference row) it names.
COLLECTION_OBJECTS = {
    "customers": "customer",
    "orders": "order",
    "tags": "tag",
    "custom-attributes": "attribute",
    "products": "product",
    "product-categories": "category",
    "stores": "store_b",
    "tiers": "tier",
    "top-up-rules": "rule",
    "coupon-templates": "coupon_template",
    "coupons": "coupon",
    "members": "membership",
    "templates": "template",
    "messages": "message",
    "consents": "consent",
    "campaigns": "campaign",
    "segments": "segment",
    "rules": "care_rule",
    "tasks": "care_task",
    "plans": "care_plan",
}
PARAM_OBJECTS = {"contact_id": "contact", "customer_id": "customer"}


#: Collections walked a second time on store A's own record, with bodies that point at store B
#: (moving one's own customer into store B, or merging B's customer into it, is an effect on B too).
OWN_OBJECTS = {"customers": "own"}


def _path_value(world, path: str, name: str, own: bool = False) -> int:
    if own and name == "id":
        return world[OWN_OBJECTS[path.split("/")[2]]].pk
    if name in PARAM_OBJECTS:
        return world[PARAM_OBJECTS[name]].pk
    segments = path.split("/")
    collection = segments[segments.index("{" + name + "}") - 1]
    assert collection in COLLECTION_OBJECTS, (
        f"{path}: the access walk does not know which store-B object '{{{name}}}' names; add it to COLLECTION_OBJECTS"
    )
    return world[COLLECTION_OBJECTS[collection]].pk


def _b_values(world) -> dict:
    """Store B's identifiers, by the names API fields and form fields give them."""
    customer = world["customer"]
    return {
        "customer_id": customer.pk,
        "customer": customer.pk,
        "merged": customer.pk,
        "survivor": str(customer.pk),
        "customer_ids": [customer.pk],
        "store": world["store_b"].code,
        "home_store": world["store_b"].pk,
        "phone": B_PHONE,
        "email": B_EMAIL,
        "digits": B_PHONE[-4:],
        "q": B_PHONE,
        "external_ref": B_ORDER,
        "source": "api",
        "key": world["checkout"].key,
        "reference": "walk-ref",
        "code": world["coupon"].code,
        "coupon_code": world["coupon"].code,
        "invite_code": world["membership"].invite_code,
        "template_code": world["template"].code,
        "tag": world["tag"].name,
        "tags": [world["tag"].name],
        "category": world["category"].code,
        "name": "walk",
        "body": "walk",
        "amount": "1.00",
        "points": 10,
        "wallet_amount": "1.00",
        "reason": "walk",
        "status": "frozen",
        "channel": "sms",
        "purpose": "marketing",
        "granted": False,
        "order_line": world["line"].pk,
        "lines": [{"sku": "COAT-B", "quantity": 1, "unit_price": "10.00", "order_line": world["line"].pk}],
        "contacts": [{"kind": "phone", "value": B_PHONE}, {"kind": "email", "value": B_EMAIL}],
        "kind": "phone",
        "value": B_PHONE,
        "is_active": False,
        "active": False,
    }


def _resolve(schema, node):
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def _body(schema, operation, values, *, extra: bool = True) -> dict:
    """Every field the operation takes, filled with store B's identifiers where one fits, else a plain value.

    With ``extra`` every other identifier of store B rides along (for views whose body has no schema).
    """
    body = dict(values) if extra else {}
    content = (operation.get("requestBody") or {}).get("content", {})
    media = content.get("application/json") or next(iter(content.values()), None)
    if not media:
        return body
    node = _resolve(schema, media.get("schema", {}))
    required = set(node.get("required") or [])
    for name, prop in (node.get("properties") or {}).items():
        prop = _resolve(schema, prop)
        if extra and name not in values and name not in required:
            continue  # optional and not about store B: left out, so the body is otherwise valid
        if name in values:
            body[name] = values[name]
            if prop.get("type") == "object" or "properties" in prop:
                body[name] = {"name": "walk", "phone": B_PHONE, "email": B_EMAIL}
        elif prop.get("readOnly"):
            continue
        elif prop.get("enum"):
            body[name] = prop["enum"][0]
        elif prop.get("type") == "integer":
            body[name] = values["customer_id"]
        elif prop.get("type") == "boolean":
            body[name] = False
        elif prop.get("type") == "array":
            body[name] = []
        elif prop.get("type") == "object":
            body[name] = {}
        else:
            body[name] = "walk"
    return body


#: Idempotency keys: sent once with store B's values (a replay) and once fresh (a new write).
FRESH_KEYS = ("external_ref", "key", "reference")
#: Fields that name a store-B record by id or code; dropped in the variant that targets by phone or e-mail only.
ID_FIELDS = ("customer_id", "customer", "customer_ids", "merged", "survivor", "store", "home_store")


def _variants(schema, operation, values, serial: list[int]) -> list[dict]:
    """The bodies sent to one write: B's keys, fresh keys, by contact only, and each field alone."""
    serial[0] += 1
    fresh = {k: f"WALK-{serial[0]}-{k}" for k in FRESH_KEYS}
    full = _body(schema, operation, values)
    bodies = [full, {**full, **{k: v for k, v in fresh.items() if k in full}}]
    by_contact = {k: v for k, v in bodies[1].items() if k not in ID_FIELDS}
    if "customer" in full and isinstance(full["customer"], dict):
        by_contact["customer"] = full["customer"]
    bodies.append(by_contact)
    fields = _body(schema, operation, values, extra=False)
    bodies.extend({name: full.get(name, value)} for name, value in fields.items())
    return bodies


def _query(operation, values) -> dict:
    out = {}
    for param in operation.get("parameters", []):
        if param["in"] == "query" and param["name"] in values and not isinstance(values[param["name"]], list):
            out[param["name"]] = values[param["name"]]
    return out


def _api_operations(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    for path, item in schema["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item:
                yield schema, path, method, item[method], False
                if "{id}" in path and path.split("/")[2] in OWN_OBJECTS and method != "delete":
                    yield schema, path, method, item[method], True


def test_store_a_staff_has_no_effect_on_store_b_through_any_api_operation(world, staff_a):
    client = api_client_for(staff_a)
    client.raise_request_exception = False  # a crash is reported with the rest, not the end of the walk
    values = _b_values(world)
    problems, walked, serial = [], 0, [0]
    before = _digest(world)
    for schema, path, method, operation, own in _api_operations(client):
        url = re.sub(r"\{(\w+)\}", lambda m, p=path, o=own: str(_path_value(world, p, m.group(1), o)), path)
        call = getattr(client, method)
        if method == "get":
            query = _query(operation, values)
            requests = [lambda call=call, url=url, q=query: call(url, q)]
        else:
            requests = [
                lambda call=call, url=url, body=body: call(url, body, format="json")
                for body in _variants(schema, operation, values, serial)
            ]
        for send in requests:
            response = send()
            walked += 1
            after = _digest(world)
            effects = _effects(before, after)
            before = after  # nothing else runs between two requests
            if effects:
                problems.append(f"{method.upper()} {url} -> {response.status_code}: {effects}")
            if response.status_code >= 500 and response.status_code != 503:  # 503: a webhook not configured here
                problems.append(f"{method.upper()} {url} -> {response.status_code}")
            leaks = _leaks(world, response)
            if leaks:
                problems.append(f"{method.upper()} {url} -> {response.status_code} shows store B's {leaks}")
    assert walked > 90  # the whole document was walked
    assert not problems, "\n".join(problems)


def test_the_walk_sees_store_b_when_it_should(world, staff_b):
    """The detector works: store B's own staff reads B's data and changes it through the same calls."""
    client = api_client_for(staff_b)
    customer = world["customer"]
    assert B_NAME in client.get(f"/api/customers/{customer.pk}/").content.decode()
    before = _digest(world)
    client.post(f"/api/customers/{customer.pk}/notes/", {"body": "from B"}, format="json")
    assert _effects(before, _digest(world))


# --- the page walk --------------------------------------------------------------------------------------------

#: A page's integer parameters -> the store-B object they name (by URL name, then by parameter name).
PAGE_OBJECTS = {
    "customers:customer": "customer",
    "customers:customer_edit": "customer",
    "customers:customer_note": "customer",
    "customers:customer_tag": "customer",
    "customers:customer_date": "customer",
    "customers:customer_contact_add": "customer",
    "customers:customer_contact_change": "customer",
    "customers:customer_contact_remove": "customer",
    "customers:customer_contact_primary": "customer",
    "customers:import_mapping": "job",
    "customers:import_job": "job",
    "customers:import_rejected": "job",
    "messaging:detail": "message",
    "messaging:resend": "message",
    "messaging:template_edit": "template",
    "loyalty:tier_edit": "tier",
    "loyalty:rule_edit": "rule",
    "loyalty:coupon_edit": "coupon_template",
    "care:task_complete": "care_task",
    "care:rule_detail": "care_rule",
    "care:rule_edit": "care_rule",
    "care:rule_toggle": "care_rule",
    "care:plan_detail": "care_rule",  # plans are not per store: any pk; store staff read, never write
    "campaigns:campaign_results": "campaign",
    "campaigns:campaign_results_csv": "campaign",
    "campaigns:segment_edit": "segment",
    "campaigns:segment_freeze": "segment",
    "campaigns:segment_archive": "segment",
    "campaigns:segment_delete": "segment",
    "campaigns:segment_export": "segment",
    **{
        f"campaigns:campaign_{name}": "campaign"
        for name in (
            "detail",
            "edit",
            "review",
            "submit",
            "approve",
            "reject",
            "pause",
            "resume",
            "cancel",
            "test_send",
        )
    },
}
PAGE_PARAMS = {
    "customer_id": "customer",
    "first": "customer",
    "second": "own",
    "contact_id": "contact",
    "order_id": "checkout_order",
}
#: Not walked, with the reason.
PAGE_EXCEPTIONS = {
    "api": "walked through the OpenAPI document above",
    "admin": "Django admin: only is_staff users enter (checked below); store staff are not",
}


def _pages(resolver=None, prefix="", namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            top = route.strip("^/").split("/")[0]
            if not prefix and top in PAGE_EXCEPTIONS:
                continue
            ns = entry.namespace or namespace
            yield from _pages(entry, route, ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else (entry.name or route)
            yield name, route


def _page_url(world, name: str, route: str) -> str:
    def value(match):
        param = match.group(1)
        if param == "pk":
            assert name in PAGE_OBJECTS, (
                f"{name} ({route}): the access walk does not know which store-B object its pk names; "
                "add it to PAGE_OBJECTS"
            )
            return str(world[PAGE_OBJECTS[name]].pk)
        assert param in PAGE_PARAMS, f"{name} ({route}): add '{param}' to PAGE_PARAMS"
        return str(world[PAGE_PARAMS[param]].pk)

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route)


def test_store_a_staff_has_no_effect_on_store_b_through_any_page(world, staff_a, client):
    client.force_login(staff_a)
    client.raise_request_exception = False
    values = _b_values(world)
    form = {k: (v if not isinstance(v, list | dict) else "") for k, v in values.items()}
    form.update({"action": "run", "ids": str(world["customer"].pk), "select_all": "1", "next": "/"})
    problems, walked = [], 0
    before = _digest(world)
    for name, route in _pages():
        url = _page_url(world, name, route)
        if name in ("workspace:logout",):
            continue  # signs the walker out; it changes nothing of store B's
        for method in ("get", "post"):
            response = client.get(url, {"q": B_PHONE}) if method == "get" else client.post(url, form)
            walked += 1
            after = _digest(world)
            effects = _effects(before, after)
            before = after
            if effects:
                problems.append(f"{method.upper()} {url} -> {response.status_code}: {effects}")
            if response.status_code >= 500 and response.status_code != 503:  # 503: a webhook not configured here
                problems.append(f"{method.upper()} {url} -> {response.status_code}")
            leaks = _leaks(world, response)
            if leaks:
                problems.append(f"{method.upper()} {url} -> {response.status_code} shows store B's {leaks}")
    assert walked > 50
    assert not problems, "\n".join(problems)


def test_store_staff_cannot_enter_the_django_admin(staff_a, client):
    assert not staff_a.is_staff
    client.force_login(staff_a)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
