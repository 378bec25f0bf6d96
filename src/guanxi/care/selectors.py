"""Reads of care, all through one visibility rule.

A rule belongs to a store (``CareRule.store``) or, without one, to the whole organisation. Admins see every
rule; managers, marketers and analysts see the organisation's rules and those of their stores; store staff
see only their stores' rules. Care tasks are seen by their assignee and by the staff of the task's store
(its team); admins see all. A customer's occurrences are read only for a customer the user may see.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet

from guanxi.accounts.models import Role
from guanxi.accounts.permissions import can
from guanxi.care.models import CareOccurrence, CarePlan, CareRule, CareTask
from guanxi.customers.models import Customer


def _stores(user: Any) -> Any:
    return user.stores.values("pk")


def rules_visible_to(user: Any) -> QuerySet[CareRule]:
    if not can(user, "care.view"):
        return CareRule.objects.none()
    if user.sees_all_stores:
        return CareRule.objects.all()
    scope = Q(store__in=_stores(user))
    if user.role != Role.STORE_STAFF:
        scope |= Q(store__isnull=True)
    return CareRule.objects.filter(scope)


def plans_visible_to(user: Any) -> QuerySet[CarePlan]:
    return CarePlan.objects.all() if can(user, "care.view") else CarePlan.objects.none()


def tasks_visible_to(user: Any) -> QuerySet[CareTask]:
    if not (can(user, "care.tasks") or can(user, "care.view")):
        return CareTask.objects.none()
    if user.sees_all_stores:
        return CareTask.objects.all()
    return CareTask.objects.filter(Q(assignee=user) | Q(store__in=_stores(user)))


def rule_list(user: Any) -> QuerySet[CareRule]:
    return rules_visible_to(user).select_related("owner", "store", "plan").order_by("-priority", "id")


def rule_get(user: Any, pk: int) -> CareRule:
    return rules_visible_to(user).select_related("owner", "store", "plan").get(pk=pk)


def task_list(user: Any, *, status: str = "", mine: bool = False, store_id: int | None = None) -> QuerySet[CareTask]:
    qs = tasks_visible_to(user).select_related("customer", "assignee", "store", "rule")
    if status:
        qs = qs.filter(status=status)
    if mine:
        qs = qs.filter(assignee=user)
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    return qs.order_by("due_on", "id")


def customer_occurrences(user: Any, customer_id: int, *, limit: int = 50) -> list[CareOccurrence]:
    """The care trace of one customer the user may see: which rules fired, were held out or suppressed, why."""
    if not Customer.objects.visible_to(user).filter(pk=customer_id).exists():
        raise Customer.DoesNotExist
    return list(
        CareOccurrence.objects.filter(customer_id=customer_id)
        .select_related("rule")
        .order_by("-occurred_on", "-id")[:limit]
    )


def care_panel_context(request: Any, customer: Customer) -> dict[str, Any]:
    """The 360 panel: the customer's last care occurrences (one query) and open tasks (one query)."""
    occurrences = list(
        CareOccurrence.objects.filter(customer=customer).select_related("rule").order_by("-occurred_on", "-id")[:20]
    )
    tasks = list(CareTask.objects.filter(customer=customer, status=CareTask.Status.OPEN).order_by("due_on")[:10])
    excluded = getattr(customer, "care_exclusion", None) if hasattr(customer, "care_exclusion") else None
    return {"care_occurrences": occurrences, "care_tasks": tasks, "care_exclusion": excluded}


def week_calendar(user: Any, *, start: dt.date, store_id: int | None = None) -> dict[str, Any]:
    """The care calendar of a week: the due tasks of the user's stores, and the gestures fired each day."""
    end = start + dt.timedelta(days=7)
    tasks = task_list(user, status=CareTask.Status.OPEN, store_id=store_id).filter(due_on__gte=start, due_on__lt=end)
    visible = Customer.objects.visible_to(user)
    if store_id is not None:
        visible = visible.filter(home_store_id=store_id)
    fired = (
        CareOccurrence.objects.filter(
            occurred_on__gte=start, occurred_on__lt=end, status=CareOccurrence.Status.FIRED, customer__in=visible
        )
        .select_related("rule", "customer")
        .order_by("occurred_on", "id")[:500]
    )
    return {"tasks": list(tasks), "fired": list(fired), "start": start, "end": end}


def plans_with_spend(user: Any, *, year: int | None = None) -> QuerySet[CarePlan]:
    """Plans with their tier, how many rules they bundle and what they spent this calendar year (one query)."""
    from django.db.models import Count, DecimalField, IntegerField, OuterRef, Subquery, Sum, Value
    from django.db.models.functions import Coalesce

    from guanxi.care.run import local_today

    year = year or local_today().year
    rules = (
        rules_visible_to(user).filter(plan=OuterRef("pk")).order_by().values("plan").annotate(n=Count("id")).values("n")
    )
    return (
        plans_visible_to(user)
        .select_related("tier")
        .annotate(
            rule_count=Coalesce(Subquery(rules, output_field=IntegerField()), Value(0)),
            spent_this_year=Coalesce(
                Sum("spends__amount", filter=Q(spends__spent_on__year=year)),
                Value(0),
                output_field=DecimalField(max_digits=14, decimal_places=2),
            ),
        )
        .order_by("name", "id")
    )


def timeline_task(data: dict[str, Any]) -> dict[str, Any]:
    """A care task's timeline data with its outcome's label in the viewer's language."""
    outcome = data.get("outcome", "")
    return {**data, "outcome_label": CareTask.Outcome(outcome).label if outcome in CareTask.Outcome.values else outcome}


def timeline_excluded(data: dict[str, Any]) -> dict[str, Any]:
    from guanxi.care.models import CareExclusion

    reason = data.get("reason", "")
    label = CareExclusion.Reason(reason).label if reason in CareExclusion.Reason.values else reason
    return {**data, "reason_label": label}


def calendar_stores(user: Any) -> list[Any]:
    """The stores the calendar may be narrowed to: all for those who see every store, else the user's."""
    from guanxi.accounts.models import Store

    qs = Store.objects.all() if user.sees_all_stores else user.stores.all()
    return list(qs.order_by("name", "pk"))


def week_occasions(user: Any, *, start: dt.date, store_id: int | None = None) -> dict[dt.date, list[dict[str, Any]]]:
    """The birthdays (solar or lunar) and wedding anniversaries of the week's days among the customers the user
    may see, through the registry's trigger handlers (two queries a day, one for the customers)."""
    from guanxi.core.care import CARE_TRIGGERS

    wanted: list[tuple[str, dict[str, Any]]] = [
        ("birthday", {"days_before": 0}),
        ("important_date", {"kind": "wedding_anniversary", "days_before": 0}),
    ]
    hits: list[tuple[dt.date, str, Any]] = []
    for key, params in wanted:
        trigger = CARE_TRIGGERS.get(key)
        if trigger is None:
            continue
        for i in range(7):
            day = start + dt.timedelta(days=i)
            hits.append((day, key, trigger.handler(params, {"today": day})))
    out: dict[dt.date, list[dict[str, Any]]] = {start + dt.timedelta(days=i): [] for i in range(7)}
    if not hits:
        return out
    ids: dict[tuple[dt.date, str], set[int]] = {(day, key): set(qs) for day, key, qs in hits}
    visible = Customer.objects.visible_to(user).filter(pk__in={pk for group in ids.values() for pk in group})
    if store_id is not None:
        visible = visible.filter(home_store_id=store_id)
    customers = {c.pk: c for c in visible.only("pk", "name", "home_store_id").order_by("pk")[:500]}
    for (day, key), group in ids.items():
        for pk in sorted(group):
            if pk in customers:
                out[day].append({"kind": key, "customer": customers[pk], "day": day})
    return out
