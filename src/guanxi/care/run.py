"""The care engine: the daily run of scheduled rules, event rules, and journeys whose wait is over.

**Exactly once.** Every (rule, customer, occasion) is one ``CareOccurrence`` row under a unique constraint.
A run first decides each candidate's status (held out, suppressed, skipped or to fire), then writes all its
rows with ``bulk_create(ignore_conflicts=True)`` (``INSERT … ON CONFLICT DO NOTHING``) stamped with its own
``run_token``, and acts only on the rows that carry its token: a row another run (a second worker, an
earlier run of the same day) wrote first is left alone. The actions of an occurrence run in the same
transaction as its row, each with the dedupe key ``care:<occurrence id>:<step>`` — a crash rolls both
back, and an action that wrote outside the database (a queued message) finds its key on the re-run.

**Daily run** (``care_daily_run``): the local date in the organisation's zone (``TIME_ZONE``). Days missed
since the last finished run (downtime) are caught up once each if they are at most
``GUANXI_CARE_GRACE_DAYS`` old, oldest first; older ones are recorded as skipped (``CareRunDay``) and
reported, never run. Rules are evaluated by descending priority: a customer who already had a gesture that
local day (any rule) is suppressed by a later rule with reason ``priority``, which is how the higher
priority wins a collision.

**For each rule**: the trigger's customer ids (one query, set-based), narrowed by the rule's store and
conditions (one query: the segment tree's ``Q``), then: excluded customers (``CareExclusion``) are skipped,
the hold-out (a BLAKE2b hash of (rule, customer) below ``holdout_percent``, as campaigns draw it) is held
out, a customer past the plan's yearly budget is suppressed (``budget``). The customers to fire are
loaded in one query and the steps run for each; an action that reports ``{"suppressed": reason}`` (the
messaging queue refused it: frequency cap, consent) turns the occurrence into a suppressed one with that
reason, and ``{"cost": Decimal}`` is spent against the rule's plan. A ``{"wait_days": N}`` step parks the
rest as a ``CareJourney`` due N days later; ``care_journeys_advance`` continues those, and a step
``{"if_no_order": true}`` stops the journey (reason ``ordered``) when the customer ordered since it started.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from guanxi.care.models import CareExclusion, CareJourney, CareOccurrence, CareRule, CareRunDay, CareSpend
from guanxi.core.care import CARE_ACTIONS, CARE_TRIGGERS
from guanxi.core.db.lookups import filter_in
from guanxi.core.events import EventRow, events_record_many
from guanxi.core.segments import segment_q
from guanxi.customers.models import Customer, TimelineEntry
from guanxi.sales.models import Order

S = CareOccurrence.Status
PRIORITY = "priority"
BUDGET = "budget"
EXCLUDED = "excluded"
ORDERED = "ordered"


def grace_days() -> int:
    return int(getattr(settings, "GUANXI_CARE_GRACE_DAYS", 3))


def local_today(now: dt.datetime | None = None) -> dt.date:
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return (now or timezone.now()).astimezone(zone).date()


def holdout_bucket(rule_id: int, customer_id: int) -> int:
    """A stable bucket 0..9999 of (rule, customer): the same draw on every run, machine and worker."""
    digest = hashlib.blake2b(f"care:{rule_id}:{customer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10000


def is_held_out(rule: CareRule, customer_id: int) -> bool:
    return holdout_bucket(rule.pk, customer_id) < int(Decimal(rule.holdout_percent) * 100)


# --- who a rule reaches -------------------------------------------------------------------------------------


def rule_candidates(rule: CareRule, ids: Iterable[int] | Any) -> Any:
    """The trigger's ids narrowed by the rule's store and conditions: a queryset of customer ids, unevaluated."""
    qs: Any = Customer.objects.filter(merged_into__isnull=True)
    if hasattr(ids, "query"):
        qs = qs.filter(pk__in=ids)
    else:
        qs = filter_in(qs, "id", [int(i) for i in ids])
    if rule.store_id is not None:
        qs = qs.filter(home_store_id=rule.store_id)
    if rule.conditions:
        qs = qs.filter(segment_q(rule.conditions, base=Customer.objects.all()))
    return qs.values_list("id", flat=True)


def trigger_ids(rule: CareRule, context: dict[str, Any]) -> Any:
    trigger = CARE_TRIGGERS.get(rule.trigger_key)
    if trigger is None:
        return []
    return trigger.handler(rule.trigger_params or {}, context)


@dataclass
class RuleResult:
    rule_id: int
    counts: Counter[str] = field(default_factory=Counter)


@dataclass
class DayResult:
    day: dt.date
    counts: Counter[str] = field(default_factory=Counter)
    rules: list[RuleResult] = field(default_factory=list)


@dataclass
class DailyReport:
    ran: list[DayResult] = field(default_factory=list)
    skipped: list[dt.date] = field(default_factory=list)  # missed days past the grace period


def _plan_spent(rule: CareRule, customer_ids: list[int], day: dt.date) -> tuple[dict[int, Decimal], Decimal]:
    """Per customer and in all: what the rule's plan spent this calendar year (two queries)."""
    if rule.plan_id is None:
        return {}, Decimal(0)
    year = CareSpend.objects.filter(plan_id=rule.plan_id, spent_on__year=day.year)
    per = dict(
        filter_in(year, "customer", customer_ids)
        .values("customer")
        .annotate(s=Sum("amount"))
        .values_list("customer", "s")
    )
    total = year.aggregate(s=Sum("amount"))["s"] or Decimal(0)
    return per, total


def evaluate_rule(
    rule: CareRule,
    customer_ids: list[int],
    *,
    day: dt.date,
    occasion: str,
    token: str,
    now: dt.datetime,
    event: Any = None,
) -> RuleResult:
    """Write the occurrences of ``rule`` for ``customer_ids`` (already through the conditions) and act on
    those this run wrote. One transaction; the caller passes a fresh ``token`` per run."""
    result = RuleResult(rule.pk)
    if not customer_ids:
        return result
    with transaction.atomic():
        excluded = dict(filter_in(CareExclusion.objects, "customer", customer_ids).values_list("customer_id", "reason"))
        already = set(
            filter_in(
                CareOccurrence.objects.filter(occurred_on=day, status=S.FIRED).exclude(rule=rule),
                "customer",
                customer_ids,
            ).values_list("customer_id", flat=True)
        )
        spent, plan_total = _plan_spent(rule, customer_ids, day)
        plan = rule.plan
        rows: list[CareOccurrence] = []
        for cid in customer_ids:
            status, reason = S.FIRED, ""
            if cid in excluded:
                status, reason = S.SKIPPED, f"{EXCLUDED}: {excluded[cid]}"
            elif is_held_out(rule, cid):
                status = S.HELD_OUT
            elif cid in already:
                status, reason = S.SUPPRESSED, PRIORITY
            elif plan is not None and (
                (plan.budget_per_customer is not None and spent.get(cid, Decimal(0)) >= plan.budget_per_customer)
                or (plan.budget_total is not None and plan_total >= plan.budget_total)
            ):
                status, reason = S.SUPPRESSED, BUDGET
            rows.append(
                CareOccurrence(
                    rule=rule,
                    customer_id=cid,
                    occasion=occasion,
                    occurred_on=day,
                    status=status,
                    reason=reason,
                    run_token=token,
                )
            )
        CareOccurrence.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
        mine = list(CareOccurrence.objects.filter(run_token=token, rule=rule, occasion=occasion))
        fire = [o for o in mine if o.status == S.FIRED]
        customers = {c.pk: c for c in filter_in(Customer.objects, "id", [o.customer_id for o in fire])}
        events: list[EventRow] = []
        timeline: list[TimelineEntry] = []
        changed: list[CareOccurrence] = []
        journeys: list[CareJourney] = []
        spends: list[CareSpend] = []
        for occ in fire:
            customer = customers[occ.customer_id]
            outcome = run_steps(rule, occ, customer, start=0, started_at=now, now=now, event=event)
            if outcome.suppressed:
                occ.status, occ.reason = S.SUPPRESSED, outcome.suppressed[:80]
            occ.result = outcome.results
            changed.append(occ)
            if outcome.journey is not None:
                journeys.append(outcome.journey)
            if outcome.cost and rule.plan_id is not None:
                spends.append(
                    CareSpend(
                        plan_id=rule.plan_id,
                        customer_id=occ.customer_id,
                        occurrence=occ,
                        amount=outcome.cost,
                        spent_on=day,
                        description=rule.name[:200],
                    )
                )
            if occ.status == S.FIRED:
                timeline.append(
                    TimelineEntry(
                        customer_id=occ.customer_id,
                        kind="care.fired",
                        summary=f"Care: {rule.name}"[:255],
                        data={"rule": rule.name, "rule_id": rule.pk, "occasion": occasion},
                        occurred_at=now,
                        ref_type="care.occurrence",
                        ref_id=str(occ.pk),
                    )
                )
            payload = {"rule_id": rule.pk, "occurrence_id": occ.pk, "occasion": occasion, "reason": occ.reason}
            if occ.status == S.FIRED:
                events.append(
                    EventRow(
                        name="care.occurrence_fired",
                        customer_id=occ.customer_id,
                        aggregate="care_rule",
                        aggregate_id=rule.pk,
                        payload=payload,
                    )
                )
            else:
                events.append(
                    EventRow(
                        name="care.occurrence_suppressed",
                        customer_id=occ.customer_id,
                        aggregate="care_rule",
                        aggregate_id=rule.pk,
                        payload=payload,
                    )
                )
        if changed:
            CareOccurrence.objects.bulk_update(changed, ["status", "reason", "result"], batch_size=2000)
        if journeys:
            CareJourney.objects.bulk_create(journeys)
        if spends:
            CareSpend.objects.bulk_create(spends)
        if timeline:
            TimelineEntry.objects.bulk_create(timeline, batch_size=2000)
        if events:
            events_record_many(events)
        result.counts.update(o.status for o in mine)
    return result


@dataclass
class StepsOutcome:
    results: dict[str, Any] = field(default_factory=dict)
    suppressed: str = ""
    cost: Decimal = Decimal(0)
    journey: CareJourney | None = None
    stopped: str = ""
    done: bool = False


def run_steps(
    rule: CareRule,
    occ: CareOccurrence,
    customer: Customer,
    *,
    start: int,
    started_at: dt.datetime,
    now: dt.datetime,
    event: Any = None,
    journey: CareJourney | None = None,
) -> StepsOutcome:
    """Run the rule's steps from ``start`` until a wait, a stop or the end."""
    out = StepsOutcome()
    steps = list(rule.steps or [])
    for index in range(start, len(steps)):
        step = steps[index]
        if "wait_days" in step:
            due = now + dt.timedelta(days=int(step["wait_days"]))
            if journey is None:
                journey = CareJourney(occurrence=occ, rule=rule, customer_id=customer.pk, started_at=started_at)
                out.journey = journey
            journey.next_step, journey.due_at = index + 1, due
            return out
        if step.get("if_no_order"):
            if Order.objects.filter(customer_id=customer.pk, ordered_at__gte=started_at).exists():
                out.stopped = ORDERED
                return out
            continue
        action = CARE_ACTIONS.get(str(step.get("action", "")))
        if action is None:
            out.results[str(index)] = {"error": "unknown action"}
            continue
        context = {
            "dedupe_key": f"care:{occ.pk}:{index}",
            "rule": rule,
            "occurrence": occ,
            # the occasion's date in the first steps (a caught-up day too), the current local date after a wait
            "today": occ.occurred_on if journey is None else local_today(now),
            "now": now,
            "event": event,
        }
        done = action.handler(customer, dict(step.get("params") or {}), context) or {}
        out.results[str(index)] = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in done.items()}
        if done.get("cost"):
            out.cost += Decimal(str(done["cost"]))
        if done.get("suppressed"):
            out.suppressed = str(done["suppressed"])
            return out
    out.done = True
    return out


# --- the daily run ------------------------------------------------------------------------------------------


def run_day(day: dt.date, *, now: dt.datetime | None = None) -> DayResult:
    """Evaluate every active scheduled rule for the local date ``day`` (safe to repeat, and to run twice at once)."""
    now = now or timezone.now()
    out = DayResult(day)
    token = uuid.uuid4().hex
    rules = list(
        CareRule.objects.filter(active=True, trigger_event="").select_related("plan").order_by("-priority", "id")
    )
    for rule in rules:
        ids = list(rule_candidates(rule, trigger_ids(rule, {"today": day, "rule": rule})))
        ids = _rearmed(rule, ids, day)
        done = evaluate_rule(rule, ids, day=day, occasion=day.isoformat(), token=token, now=now)
        out.rules.append(done)
        out.counts.update(done.counts)
    return out


def _rearmed(rule: CareRule, customer_ids: list[int], day: dt.date) -> list[int]:
    """For a state trigger (``rearm_days``), the customers this rule has not reached in that many days before
    ``day`` (one query); an occasion trigger's customers unchanged."""
    trigger = CARE_TRIGGERS.get(rule.trigger_key)
    if trigger is None or not trigger.rearm_days or not customer_ids:
        return customer_ids
    since = day - dt.timedelta(days=trigger.rearm_days)
    recent = set(
        filter_in(
            CareOccurrence.objects.filter(rule=rule, occurred_on__gt=since, occurred_on__lt=day),
            "customer",
            customer_ids,
        ).values_list("customer_id", flat=True)
    )
    return [cid for cid in customer_ids if cid not in recent]


def care_daily_run(now: dt.datetime | None = None) -> DailyReport:
    """Today's run, with missed days inside the grace period caught up once and older ones skipped."""
    now = now or timezone.now()
    today = local_today(now)
    report = DailyReport()
    last = CareRunDay.objects.filter(status=CareRunDay.Status.DONE, day__lt=today).order_by("-day").first()
    missed: list[dt.date] = []
    if last is not None:
        day = last.day + dt.timedelta(days=1)
        while day < today:
            missed.append(day)
            day += dt.timedelta(days=1)
    done_days = set(CareRunDay.objects.filter(day__in=missed).values_list("day", flat=True))
    oldest = today - dt.timedelta(days=grace_days())
    for day in missed:
        if day in done_days:
            continue
        if day < oldest:
            _mark(day, CareRunDay.Status.SKIPPED, {}, now)
            report.skipped.append(day)
    for day in [d for d in missed if d >= oldest and d not in done_days] + [today]:
        result = run_day(day, now=now)
        _mark(day, CareRunDay.Status.DONE, dict(result.counts), now)
        report.ran.append(result)
    return report


def _mark(day: dt.date, status: str, counts: dict[str, int], now: dt.datetime) -> None:
    """Record ``day`` as done or skipped; counts add up over repeated runs of one day."""
    try:
        with transaction.atomic():
            CareRunDay.objects.create(day=day, status=status, counts=counts, finished_at=now)
    except IntegrityError:
        with transaction.atomic():
            row = CareRunDay.objects.select_for_update().get(day=day)
            merged = Counter(row.counts)
            merged.update(counts)
            row.counts, row.finished_at = dict(merged), now
            if status == CareRunDay.Status.DONE:
                row.status = status
            row.save(update_fields=["counts", "finished_at", "status"])


# --- event rules --------------------------------------------------------------------------------------------


def care_event_evaluate(event: Any, *, now: dt.datetime | None = None) -> list[RuleResult]:
    """The rules whose trigger fires on ``event.name``, evaluated for it (occasion ``event:<id>``)."""
    now = now or timezone.now()
    rules = list(
        CareRule.objects.filter(active=True, trigger_event=event.name)
        .select_related("plan")
        .order_by("-priority", "id")
    )
    day = local_today(event.created_at if getattr(event, "created_at", None) else now)
    token = uuid.uuid4().hex
    out = []
    for rule in rules:
        ids = list(rule_candidates(rule, trigger_ids(rule, {"event": event, "today": day, "rule": rule})))
        out.append(evaluate_rule(rule, ids, day=day, occasion=f"event:{event.pk}", token=token, now=now, event=event))
    return out


# --- journeys -----------------------------------------------------------------------------------------------


def care_journeys_advance(now: dt.datetime | None = None, *, limit: int = 500) -> Counter[str]:
    """Journeys whose wait is over take their next steps; each is locked (SKIP LOCKED) while it moves."""
    now = now or timezone.now()
    counts: Counter[str] = Counter()
    with transaction.atomic():
        due = list(
            CareJourney.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=CareJourney.Status.WAITING, due_at__lte=now)
            .select_related("rule", "customer", "occurrence")
            .order_by("due_at", "id")[:limit]
        )
        for journey in due:
            outcome = run_steps(
                journey.rule,
                journey.occurrence,
                journey.customer,
                start=journey.next_step,
                started_at=journey.started_at,
                now=now,
                journey=journey,
            )
            occ = journey.occurrence
            occ.result = {**occ.result, **outcome.results}
            occ.save(update_fields=["result"])
            if outcome.cost and journey.rule.plan_id is not None:  # a gesture after a wait is charged too
                CareSpend.objects.create(
                    plan_id=journey.rule.plan_id,
                    customer_id=journey.customer_id,
                    occurrence=occ,
                    amount=outcome.cost,
                    spent_on=local_today(now),
                    description=journey.rule.name[:200],
                )
            if outcome.stopped or outcome.suppressed:
                journey.status = CareJourney.Status.STOPPED
                journey.stopped_reason = (outcome.stopped or outcome.suppressed)[:80]
                journey.due_at = None
            elif outcome.done:
                journey.status, journey.due_at = CareJourney.Status.DONE, None
            journey.save(update_fields=["status", "stopped_reason", "due_at", "next_step", "updated_at"])
            counts[journey.status] += 1
    return counts


def journey_ordered_q() -> Any:
    """Journeys whose customer ordered since they started (for reports)."""
    return Exists(Order.objects.filter(customer_id=OuterRef("customer_id"), ordered_at__gte=OuterRef("started_at")))
