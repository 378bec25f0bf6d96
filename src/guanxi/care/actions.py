"""The care app's own action: a care task for a person or a store team (``care.task``).

The other actions (message, coupon, points, tag) are registered by the apps that own them (``core.care``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.care import CareAction, register_care_action

ASSIGNEES = ("owner", "rule_owner", "store")


def task_params_clean(params: dict[str, Any]) -> dict[str, Any]:
    title = str(params.get("title") or "").strip()
    if not title:
        raise ValidationError({"title": [_("Give the task a title.")]})
    assign = params.get("assign_to") or "owner"
    if assign not in ASSIGNEES:
        raise ValidationError({"assign_to": [_("Assign the task to the owner, the rule's owner or the store.")]})
    try:
        due_days = int(params.get("due_days") or 0)
    except (TypeError, ValueError):
        raise ValidationError({"due_days": [_("Enter a whole number of days.")]}) from None
    if not 0 <= due_days <= 365:
        raise ValidationError({"due_days": [_("Enter a number of days between 0 and 365.")]})
    return {"title": title[:200], "script": str(params.get("script") or ""), "assign_to": assign, "due_days": due_days}


def task_create(customer: Any, params: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """A care task, once per dedupe key: the customer's key-account owner, the rule's owner, or the store team."""
    from guanxi.care.models import CareTask

    rule = context.get("rule")
    assign = params.get("assign_to", "owner")
    assignee_id = None
    store_id = getattr(customer, "home_store_id", None)
    if assign == "owner":
        assignee_id = getattr(customer, "owner_id", None) or getattr(rule, "owner_id", None)
    elif assign == "rule_owner":
        assignee_id = getattr(rule, "owner_id", None)
    today: dt.date = context["today"]
    task, _created = CareTask.objects.get_or_create(
        dedupe_key=context["dedupe_key"],
        defaults={
            "customer": customer,
            "rule": rule,
            "occurrence": context.get("occurrence"),
            "title": params.get("title", ""),
            "script": params.get("script", ""),
            "assignee_id": assignee_id,
            "store_id": store_id,
            "due_on": today + dt.timedelta(days=int(params.get("due_days") or 0)),
        },
    )
    return {"task": task.pk}


def register_task_action() -> None:
    register_care_action(
        CareAction(
            key="care.task",
            label=gettext_lazy("Create a care task"),
            handler=task_create,
            validate_params=task_params_clean,
            params_schema={
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "script": {"type": "string"},
                    "assign_to": {"enum": list(ASSIGNEES)},
                    "due_days": {"type": "integer", "minimum": 0, "maximum": 365},
                },
                "required": ["title"],
            },
            order=200,  # after the apps' own actions in the editor
        )
    )
