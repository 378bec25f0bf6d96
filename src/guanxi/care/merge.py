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
    clash = CareOccurrence.objects.filter(
        customer=survivor, rule_id=OuterRef("rule_id"), occasion=OuterRef("occasion")
    )
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
