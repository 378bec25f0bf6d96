"""Writes of care: rules, activation, plans, exclusions and care tasks; and the preview of a rule.

Every write checks everything first (errors name the field, translated: ``trigger_params.days``,
``conditions.all.0.value``, ``steps.1.wait_days``), then writes in one transaction with an audit row, an
event (``docs/development/events.md``, "Care") and, for a customer's own rows, a timeline entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from guanxi.accounts.actors import Actor, actor_id, signed_in
from guanxi.accounts.models import Store, User
from guanxi.accounts.permissions import can, default_store_id, may_use_store
from guanxi.care.models import CareExclusion, CarePlan, CareRule, CareTask
from guanxi.care.run import is_held_out, local_today, rule_candidates, trigger_ids
from guanxi.care.selectors import rules_visible_to, tasks_visible_to
from guanxi.core.audit import audit_record
from guanxi.core.care import CARE_ACTIONS, CARE_TRIGGERS
from guanxi.core.db.lookups import filter_in
from guanxi.core.events import event_record
from guanxi.core.segments import segment_rules_clean
from guanxi.customers.services import timeline_record

RULE_FIELDS = (
    "name",
    "description",
    "owner",
    "store",
    "plan",
    "priority",
    "trigger_key",
    "trigger_params",
    "conditions",
    "steps",
    "holdout_percent",
    "time_zone",
)
MAX_STEPS = 20


def _require(actor: Actor, operation: str) -> None:
    if actor is not None and not can(actor, operation):
        raise PermissionDenied


def _prefixed(exc: ValidationError, prefix: str) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {f"{prefix}.{k}": [str(m) for m in v] for k, v in exc.message_dict.items()}
    return {prefix: [str(m) for m in exc.messages]}


def _pk(value: Any) -> Any:
    return getattr(value, "pk", value)


def rule_values(rule: CareRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "description": rule.description,
        "owner": rule.owner_id,
        "store": rule.store_id,
        "plan": rule.plan_id,
        "priority": rule.priority,
        "trigger_key": rule.trigger_key,
        "trigger_params": rule.trigger_params,
        "conditions": rule.conditions,
        "steps": rule.steps,
        "holdout_percent": rule.holdout_percent,
        "time_zone": rule.time_zone,
    }


def _clean_steps(raw: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        errors["steps"] = [_("Steps must be a list of actions and waits.")]
        return []
    if len(raw) > MAX_STEPS:
        errors["steps"] = [_("A rule may have at most %(n)d steps.") % {"n": MAX_STEPS}]
        return []
    steps: list[dict[str, Any]] = []
    for i, step in enumerate(raw):
        where = f"steps.{i}"
        if not isinstance(step, dict):
            errors[where] = [_("Each step is an action, a wait or an order check.")]
            continue
        if "wait_days" in step:
            try:
                days = int(step["wait_days"])
            except (TypeError, ValueError):
                days = 0
            if not 1 <= days <= 365:
                errors[f"{where}.wait_days"] = [_("Wait between 1 and 365 days.")]
                continue
            steps.append({"wait_days": days})
        elif step.get("if_no_order"):
            steps.append({"if_no_order": True})
        else:
            action = CARE_ACTIONS.get(str(step.get("action") or ""))
            if action is None:
                errors[f"{where}.action"] = [_("There is no care action “%(key)s”.") % {"key": step.get("action")}]
                continue
            params = step.get("params") or {}
            if not isinstance(params, dict):
                errors[f"{where}.params"] = [_("Parameters must be an object.")]
                continue
            try:
                cleaned = action.validate_params(params)
            except ValidationError as exc:
                errors.update(_prefixed(exc, f"{where}.params"))
                continue
            steps.append({"action": action.key, "params": cleaned})
    return steps


def _clean(actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = [_("This field is required.")]
    elif len(name) > 120:
        errors["name"] = [_("At most 120 characters.")]
    out["name"] = name
    out["description"] = str(data.get("description") or "")
    trigger = CARE_TRIGGERS.get(str(data.get("trigger_key") or ""))
    if trigger is None:
        errors["trigger_key"] = [_("There is no care trigger “%(key)s”.") % {"key": data.get("trigger_key") or ""}]
    else:
        out["trigger_key"], out["trigger_event"] = trigger.key, trigger.event
        params = data.get("trigger_params") or {}
        if not isinstance(params, dict):
            errors["trigger_params"] = [_("Parameters must be an object.")]
        else:
            try:
                out["trigger_params"] = trigger.validate_params(params)
            except ValidationError as exc:
                errors.update(_prefixed(exc, "trigger_params"))
    conditions = data.get("conditions") or {}
    if conditions:
        try:
            out["conditions"] = segment_rules_clean(conditions, user=signed_in(actor), path="conditions")
        except ValidationError as exc:
            errors.update({k: [str(m) for m in v] for k, v in exc.message_dict.items()})
    else:
        out["conditions"] = {}
    out["steps"] = _clean_steps(data.get("steps"), errors)
    try:
        priority = int(data.get("priority", 100))
        if not -1000 <= priority <= 1000:
            raise ValueError
        out["priority"] = priority
    except (TypeError, ValueError):
        errors["priority"] = [_("Enter a whole number from -1000 to 1000.")]
    try:
        holdout = Decimal(str(data.get("holdout_percent", "10")))
        if not Decimal(0) <= holdout <= Decimal(50):
            raise InvalidOperation
        out["holdout_percent"] = holdout
    except (InvalidOperation, ValueError):
        errors["holdout_percent"] = [_("Enter a hold-out from 0 to 50 percent.")]
    zone = str(data.get("time_zone") or settings.TIME_ZONE)
    try:
        ZoneInfo(zone)
        out["time_zone"] = zone
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = [_("Unknown time zone.")]
    store_id = _pk(data.get("store"))
    if store_id in ("", None):
        store_id = None
        if actor is not None and not may_use_store(actor, None):
            store_id = default_store_id(actor)  # a store-bound member's only store
        if store_id is None and actor is not None and not may_use_store(actor, None):
            errors["store"] = [_("Choose one of your stores.")]
    elif not Store.objects.filter(pk=store_id).exists() or (actor is not None and not may_use_store(actor, store_id)):
        errors["store"] = [_("Choose one of your stores.")]
    out["store_id"] = store_id
    owner_id = _pk(data.get("owner")) or None
    if owner_id is not None and not User.objects.filter(pk=owner_id, is_active=True).exists():
        errors["owner"] = [_("There is no such member of staff.")]
    out["owner_id"] = owner_id
    plan_id = _pk(data.get("plan")) or None
    if plan_id is not None and not CarePlan.objects.filter(pk=plan_id).exists():
        errors["plan"] = [_("There is no such care plan.")]
    out["plan_id"] = plan_id
    if errors:
        raise ValidationError(errors)
    return out


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items()}


@transaction.atomic
def rule_save(*, actor: Actor, rule: CareRule | None = None, data: dict[str, Any]) -> CareRule:
    """Create a rule (inactive), or change one: ``data`` overlays the stored values."""
    _require(actor, "care.manage")
    current: dict[str, Any] = {}
    if rule is not None:
        qs = CareRule.objects.all() if actor is None else rules_visible_to(actor)
        rule = qs.select_for_update().get(pk=rule.pk)
        current = rule_values(rule)
    unknown = set(data) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError({name: [_("Unknown field.")] for name in sorted(unknown)})
    values = _clean(actor, {**current, **data})
    created = rule is None
    if rule is None:
        rule = CareRule(created_by=signed_in(actor), owner=signed_in(actor))
    for name, value in values.items():
        setattr(rule, name, value)
    if created and values.get("owner_id") is None:
        rule.owner = signed_in(actor)
    rule.save()
    after = _jsonable(rule_values(rule))
    before = _jsonable(current)
    changes = {k: v for k, v in after.items() if created or before.get(k) != v}
    audit_record(
        actor=actor,
        action="create" if created else "update",
        object_type="care.rule",
        object_id=rule.pk,
        changes=changes,
    )
    payload = {"trigger_key": rule.trigger_key, "fields": sorted(changes)}
    if created:
        event_record(
            name="care.rule_created",
            aggregate="care_rule",
            aggregate_id=rule.pk,
            actor_id=actor_id(actor),
            payload=payload,
        )
    else:
        event_record(
            name="care.rule_updated",
            aggregate="care_rule",
            aggregate_id=rule.pk,
            actor_id=actor_id(actor),
            payload=payload,
        )
    return rule


@transaction.atomic
def rule_set_active(*, actor: Actor, rule: CareRule, active: bool) -> CareRule:
    """Switch a rule on or off; switching it to the state it is in changes nothing and records nothing."""
    _require(actor, "care.manage")
    qs = CareRule.objects.all() if actor is None else rules_visible_to(actor)
    rule = qs.select_for_update().get(pk=rule.pk)
    if rule.active == active:
        return rule
    if active and CARE_TRIGGERS.get(rule.trigger_key) is None:
        raise ValidationError({"trigger_key": [_("There is no care trigger “%(key)s”.") % {"key": rule.trigger_key}]})
    rule.active = active
    rule.save(update_fields=["active", "updated_at"])
    audit_record(actor=actor, action="update", object_type="care.rule", object_id=rule.pk, changes={"active": active})
    payload = {"trigger_key": rule.trigger_key}
    if active:
        event_record(
            name="care.rule_activated",
            aggregate="care_rule",
            aggregate_id=rule.pk,
            actor_id=actor_id(actor),
            payload=payload,
        )
    else:
        event_record(
            name="care.rule_deactivated",
            aggregate="care_rule",
            aggregate_id=rule.pk,
            actor_id=actor_id(actor),
            payload=payload,
        )
    return rule


@transaction.atomic
def rule_delete(*, actor: Actor, rule: CareRule) -> None:
    """Delete a rule that never fired; one with history is deactivated instead (its trace stays)."""
    _require(actor, "care.manage")
    qs = CareRule.objects.all() if actor is None else rules_visible_to(actor)
    rule = qs.select_for_update().get(pk=rule.pk)
    if rule.occurrences.exists():
        raise ValidationError({"rule": [_("This rule has history; deactivate it instead.")]})
    audit_record(actor=actor, action="delete", object_type="care.rule", object_id=rule.pk, changes={"name": rule.name})
    event_record(name="care.rule_deleted", aggregate="care_rule", aggregate_id=rule.pk, actor_id=actor_id(actor))
    rule.delete()


# --- tasks --------------------------------------------------------------------------------------------------


@transaction.atomic
def task_complete(*, actor: Actor, task: CareTask, outcome: str, note: str = "") -> CareTask:
    """Log a task's outcome. "Call back later" keeps it open (due tomorrow); the others close it."""
    _require(actor, "care.tasks")
    qs = CareTask.objects.all() if actor is None else tasks_visible_to(actor)
    task = qs.select_for_update().get(pk=task.pk)
    if outcome not in CareTask.Outcome.values:
        raise ValidationError({"outcome": [_("Choose one of the outcomes.")]})
    if task.status != CareTask.Status.OPEN:
        raise ValidationError({"status": [_("This task is already closed.")]})
    now = timezone.now()
    task.outcome, task.note = outcome, str(note or "")[:2000]
    task.completed_by, task.completed_at = signed_in(actor), now
    if outcome == CareTask.Outcome.CALL_BACK:
        task.due_on = local_today(now) + dt.timedelta(days=1)
    else:
        task.status = CareTask.Status.DONE
    task.save()
    label = str(CareTask.Outcome(outcome).label)
    timeline_record(
        customer_id=task.customer_id,
        kind="care.task",
        summary=f"{task.title}: {label}",
        data={"title": task.title, "outcome": outcome},
        actor=actor,
        ref_type="care.task",
        ref_id=task.pk,
    )
    audit_record(
        actor=actor,
        action="update",
        object_type="care.task",
        object_id=task.pk,
        customer_id=task.customer_id,
        changes={"outcome": outcome, "status": task.status},
    )
    event_record(
        name="care.task_completed",
        customer_id=task.customer_id,
        aggregate="care_task",
        aggregate_id=task.pk,
        actor_id=actor_id(actor),
        payload={"outcome": outcome, "status": task.status},
    )
    return task


GESTURES = (CareTask.Outcome.REACHED, CareTask.Outcome.GIFT_HANDED, CareTask.Outcome.MESSAGE_SENT)
OCCASIONS = {"birthday": _lazy("Birthday"), "important_date": _lazy("Wedding anniversary")}


@transaction.atomic
def gesture_log(*, actor: Actor, customer: Any, occasion: str, day: dt.date, outcome: str, note: str = "") -> CareTask:
    """A one-click gesture from the care calendar (a call, a gift handed over, a message sent) for a customer's
    occasion: recorded as a care task completed with that outcome (timeline, audit and event as any task). A
    second click for the same gesture records nothing more."""
    from guanxi.customers.models import Customer

    _require(actor, "care.tasks")
    errors: dict[str, list[str]] = {}
    if occasion not in OCCASIONS:
        errors["occasion"] = [_("Choose one of the occasions.")]
    if outcome not in GESTURES:
        errors["outcome"] = [_("Choose one of the outcomes.")]
    visible = Customer.objects.all() if actor is None else Customer.objects.visible_to(actor)
    if not visible.filter(pk=_pk(customer)).exists():
        errors["customer"] = [_("There is no such customer.")]
    if errors:
        raise ValidationError(errors)
    customer = visible.get(pk=_pk(customer))
    task, created = CareTask.objects.get_or_create(
        dedupe_key=f"calendar:{customer.pk}:{occasion}:{day.isoformat()}:{outcome}",
        defaults={
            "customer": customer,
            "title": f"{OCCASIONS[occasion]} {day.isoformat()}",
            "assignee": signed_in(actor),
            "store_id": customer.home_store_id,
            "due_on": day,
        },
    )
    if not created or task.status != CareTask.Status.OPEN:
        return task
    return task_complete(actor=actor, task=task, outcome=outcome, note=note)


# --- plans and exclusions -----------------------------------------------------------------------------------


def _money(value: Any, name: str, errors: dict[str, list[str]]) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        errors[name] = [_("Enter an amount.")]
        return None
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        errors[name] = [_("Enter an amount of at least 0 with at most two decimals.")]
        return None
    return amount


@transaction.atomic
def plan_save(*, actor: Actor, plan: CarePlan | None = None, data: dict[str, Any]) -> CarePlan:
    _require(actor, "care.manage")
    from guanxi.loyalty.models import Tier

    errors: dict[str, list[str]] = {}
    base = (
        {}
        if plan is None
        else {
            "name": plan.name,
            "tier": plan.tier_id,
            "budget_per_customer": plan.budget_per_customer,
            "budget_total": plan.budget_total,
            "active": plan.active,
        }
    )
    unknown = set(data) - {"name", "tier", "budget_per_customer", "budget_total", "active"}
    if unknown:
        raise ValidationError({name: [_("Unknown field.")] for name in sorted(unknown)})
    merged = {**base, **data}
    name = str(merged.get("name") or "").strip()
    if not name:
        errors["name"] = [_("This field is required.")]
    tier_id = _pk(merged.get("tier")) or None
    if tier_id is not None and not Tier.objects.filter(pk=tier_id).exists():
        errors["tier"] = [_("There is no such tier.")]
    per = _money(merged.get("budget_per_customer"), "budget_per_customer", errors)
    total = _money(merged.get("budget_total"), "budget_total", errors)
    if errors:
        raise ValidationError(errors)
    created = plan is None
    plan = plan or CarePlan(created_by=signed_in(actor))
    plan.name, plan.tier_id, plan.budget_per_customer, plan.budget_total = name[:120], tier_id, per, total
    plan.active = bool(merged.get("active", True))
    plan.save()
    audit_record(
        actor=actor,
        action="create" if created else "update",
        object_type="care.plan",
        object_id=plan.pk,
        changes={"name": plan.name, "tier": tier_id, "budget_per_customer": str(per), "budget_total": str(total)},
    )
    event_record(
        name="care.plan_saved",
        aggregate="care_plan",
        aggregate_id=plan.pk,
        actor_id=actor_id(actor),
        payload={"created": created},
    )
    return plan


@transaction.atomic
def exclusion_set(*, actor: Actor, customer: Any, reason: str, note: str = "") -> CareExclusion:
    """Exclude a customer the actor may see from all care (again: the reason is updated)."""
    from guanxi.customers.models import Customer

    if actor is not None and not Customer.objects.visible_to(actor).filter(pk=customer.pk).exists():
        raise Customer.DoesNotExist
    if reason not in CareExclusion.Reason.values:
        raise ValidationError({"reason": [_("Choose one of the reasons.")]})
    row, _created = CareExclusion.objects.update_or_create(
        customer_id=customer.pk, defaults={"reason": reason, "note": str(note)[:200], "created_by": signed_in(actor)}
    )
    audit_record(
        actor=actor,
        action="update",
        object_type="care.exclusion",
        object_id=row.pk,
        customer_id=customer.pk,
        changes={"reason": reason},
    )
    event_record(
        name="care.customer_excluded",
        customer_id=customer.pk,
        aggregate="customer",
        aggregate_id=customer.pk,
        actor_id=actor_id(actor),
        payload={"reason": reason},
    )
    timeline_record(
        customer_id=customer.pk,
        kind="care.excluded",
        summary=f"Excluded from care: {reason}",
        data={"reason": reason},
        actor=actor,
    )
    return row


# --- preview ------------------------------------------------------------------------------------------------


@dataclass
class Preview:
    days: int
    gestures: int = 0  # (customer, day) pairs the rule would reach
    customers: int = 0
    held_out: int = 0
    excluded: int = 0
    capped: int = 0  # customers whose frequency cap is already full now
    sample: list[dict[str, Any]] = field(default_factory=list)
    per_day: dict[str, int] = field(default_factory=dict)


def rule_preview(
    rule: CareRule, *, user: Any = None, days: int = 30, today: dt.date | None = None, sample_size: int = 10
) -> Preview:
    """Who the rule would reach on each of the next ``days`` local dates (one query per day), and how many of
    them the exclusions, the hold-out and the frequency cap would take out. Writes nothing."""
    from guanxi.customers.models import Customer
    from guanxi.messaging.models import Message, Purpose
    from guanxi.messaging.services import LIVE_STATUSES

    today = today or local_today()
    out = Preview(days=days)
    hits: dict[int, int] = {}
    visible = Customer.objects.visible_to(user) if user is not None else None
    for offset in range(days):
        day = today + dt.timedelta(days=offset)
        qs = rule_candidates(rule, trigger_ids(rule, {"today": day, "rule": rule, "preview": True}))
        if visible is not None:
            qs = qs.filter(pk__in=visible.values("pk"))
        ids = list(qs)
        if ids:
            out.per_day[day.isoformat()] = len(ids)
        for cid in ids:
            hits[cid] = hits.get(cid, 0) + 1
    out.gestures = sum(hits.values())
    out.customers = len(hits)
    ids = list(hits)
    excluded = set(filter_in(CareExclusion.objects, "customer", ids).values_list("customer_id", flat=True))
    out.excluded = sum(hits[c] for c in excluded)
    out.held_out = sum(n for c, n in hits.items() if c not in excluded and is_held_out(rule, c))
    cap, cap_days = settings.GUANXI_MESSAGING_FREQUENCY_CAP
    since = timezone.now() - dt.timedelta(days=cap_days)
    full = (
        filter_in(Message.objects, "customer", ids)
        .filter(
            purpose__in=[Purpose.MARKETING, Purpose.CARE, Purpose.SURVEY],
            status__in=LIVE_STATUSES,
            created_at__gte=since,
        )
        .values("customer")
        .annotate(n=Count("id"))
        .filter(n__gte=cap)
        .values_list("customer", flat=True)
    )
    out.capped = len(set(full) - excluded)
    sample_ids = [c for c in ids if c not in excluded][:sample_size]
    out.sample = [
        {"id": c.pk, "name": c.name} for c in filter_in(Customer.objects, "id", sample_ids).only("id", "name")
    ]
    return out


__all__ = [
    "Preview",
    "exclusion_clear",
    "exclusion_set",
    "plan_save",
    "rule_delete",
    "rule_preview",
    "rule_save",
    "rule_set_active",
    "task_complete",
]


@transaction.atomic
def exclusion_clear(*, actor: Actor, customer: Any) -> bool:
    """Care reaches the customer again; False when they were not excluded (nothing recorded)."""
    from guanxi.customers.models import Customer

    if actor is not None and not Customer.objects.visible_to(actor).filter(pk=customer.pk).exists():
        raise Customer.DoesNotExist
    row = CareExclusion.objects.filter(customer_id=customer.pk).first()
    if row is None:
        return False
    audit_record(
        actor=actor,
        action="delete",
        object_type="care.exclusion",
        object_id=row.pk,
        customer_id=customer.pk,
        changes={"reason": row.reason},
    )
    event_record(
        name="care.customer_included",
        customer_id=customer.pk,
        aggregate="customer",
        aggregate_id=customer.pk,
        actor_id=actor_id(actor),
        payload={"reason": row.reason},
    )
    row.delete()
    return True
