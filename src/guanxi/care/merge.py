"""A customer merge carries the merged customer's care along to the survivor.

Occurrences move unless the survivor already has one of the same (rule, occasion) — the ledger's unique
key — in which case the merged customer keeps it (its trace stays; a merged customer is never a care
candidate again). Journeys follow their occurrence; tasks and plan spend move; an exclusion moves when the
survivor has none.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef

from guanxi.care.models import CareExclusion, CareJourney, CareOccurrence, CareSpend, CareTask


def merge_care(survivor: Any, merged: Any) -> dict[str, int]:
    clash = CareOccurrence.objects.filter(customer=survivor, rule_id=OuterRef("rule_id"), occasion=OuterRef("occasion"))
    movable = CareOccurrence.objects.filter(customer=merged).exclude(Exists(clash))
    ids = list(movable.values_list("id", flat=True))
    occurrences = CareOccurrence.objects.filter(id__in=ids).update(customer=survivor)
    CareJourney.objects.filter(occurrence_id__in=ids).update(customer=survivor)
    tasks = CareTask.objects.filter(customer=merged).update(customer=survivor)
    CareSpend.objects.filter(customer=merged).update(customer=survivor)
    exclusions = 0
    if not CareExclusion.objects.filter(customer=survivor).exists():
        exclusions = CareExclusion.objects.filter(customer=merged).update(customer=survivor)
    return {"care occurrences": occurrences, "care tasks": tasks, "care exclusions": exclusions}


def care_erase_customer(customer: Any) -> dict[str, int]:
    """Personal data in care rows of an erased customer: task notes cleared, open tasks cancelled, journeys
    stopped, and the exclusion note cleared. Occurrences stay (rule, date, status) for the counts."""
    tasks = CareTask.objects.filter(customer=customer)
    cancelled = tasks.filter(status=CareTask.Status.OPEN).update(status=CareTask.Status.CANCELLED)
    cleared = tasks.update(note="")
    CareJourney.objects.filter(customer=customer, status=CareJourney.Status.WAITING).update(
        status=CareJourney.Status.STOPPED, stopped_reason="erased", due_at=None
    )
    CareExclusion.objects.filter(customer=customer).update(note="")
    return {"care tasks cleared": cleared, "care tasks cancelled": cancelled}


def care_export_customer(customer: Any) -> dict[str, Any]:
    """What care did for the customer: occurrences and tasks (a ``core.personal_data`` exporter)."""
    return {
        "occurrences": [
            {"rule": o.rule.name, "date": o.occurred_on.isoformat(), "status": o.status, "reason": o.reason}
            for o in CareOccurrence.objects.filter(customer=customer).select_related("rule").order_by("occurred_on")
        ],
        "tasks": [
            {"title": t.title, "due": t.due_on.isoformat(), "status": t.status, "outcome": t.outcome, "note": t.note}
            for t in CareTask.objects.filter(customer=customer).order_by("due_on", "id")
        ],
    }
