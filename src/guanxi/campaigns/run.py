"""The campaign engine: due occurrences become runs, a run chooses its recipients once and sends in chunks.

**Due sweep** (``campaigns_due``, every minute): each approved or running campaign whose ``next_run_at`` has
come gets the ``CampaignRun`` of that occurrence — ``get_or_create`` on the (campaign, occurrence) unique
constraint, so two sweeps at the same instant create it once — and its ``next_run_at`` moves on
(``scheduling.occurrence_after``; a one-off has none and completes when its run is done). The sweep also
queues runs that wait for their resume time (send window, throttle), runs whose worker died (a stale
heartbeat), paused runs of a campaign that was resumed, and closes runs of a cancelled campaign.

**Execution** (``campaign_run_execute``) is idempotent and resumable. A run is *claimed* by setting its
heartbeat when it has none or a stale one, so two executions of one run never overlap.

1. *Materialise* (once, one transaction): the audience ids (``segment_customers`` with the segment creator's
   visibility, one query); customers in the **global hold-out** (``GlobalHoldout``: a hash of (salt,
   customer) below ``percent``) are left out entirely — they get no recipient row at all, as if not in the
   segment, so no campaign reaches or measures them; the **campaign hold-out** is a hash of (campaign,
   customer) into 0..9999 below ``holdout_percent × 100`` (status ``control``); the others are split over the
   variants by a second hash over the cumulative split percentages. With a coupon template each non-control
   recipient is issued a coupon (``loyalty.coupons_issue_bulk``, reference ``campaign-run:<id>``); one over
   the template's per-customer limit or budget is not sent (reason ``coupon limit`` / ``coupon budget``).
   Rows are written with COPY on PostgreSQL. For a call list the recipients get status ``call`` and no
   message.
2. *Send*, in chunks of pending recipients: per variant, ``messaging.message_enqueue`` with the dedupe
   prefix ``campaign:<run>:<variant>`` (a crash and a re-run never send twice: the message rows already
   written are found by their keys) and the recipient rows marked queued or suppressed with messaging's
   reason — both in one transaction per chunk, with the heartbeat. Between chunks the campaign's status is
   read again (paused: the run stops and continues where it stopped on resume; cancelled: it stops for
   good), the send window is checked (outside it the run stops and sets ``resume_at`` to the window's next
   opening) and the throttle (at most ``throttle_per_minute`` per chunk, the next chunk a minute later).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from guanxi.accounts.actors import Actor
from guanxi.campaigns.models import Campaign, CampaignRecipient, CampaignRun, CampaignVariant, GlobalHoldout
from guanxi.campaigns.scheduling import campaign_zone, occurrence_after
from guanxi.campaigns.selectors import segment_customers
from guanxi.core.db.copy import bulk_insert_values
from guanxi.core.db.lookups import filter_in
from guanxi.core.events import event_record
from guanxi.loyalty.models import Coupon, CouponTemplate
from guanxi.loyalty.services import coupon_issue_plan, coupons_issue_bulk
from guanxi.messaging.models import Channel, Message, MessageTemplate
from guanxi.messaging.rendering import preview
from guanxi.messaging.services import message_dedupe_key, message_enqueue, recipients_check

R = CampaignRecipient.Status
RUN = CampaignRun.Status
C = Campaign.Status

#: Recipients sent per chunk (one enqueue and one update per variant and chunk).
CHUNK = int(getattr(settings, "GUANXI_CAMPAIGN_CHUNK", 2000))
#: Reasons a recipient is not sent that come from the coupon rather than messaging.
COUPON_LIMIT = "coupon limit"
COUPON_BUDGET = "coupon budget"


def _stale_seconds() -> int:
    return int(getattr(settings, "GUANXI_CAMPAIGN_STALE_SECONDS", 120))


# --- the draw ----------------------------------------------------------------------------------


def hash_bucket(*parts: object) -> int:
    """A stable bucket 0..9999 of ``parts`` (BLAKE2b: the same on every machine, process and evaluation)."""
    digest = hashlib.blake2b(":".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10000


def _threshold(percent: Decimal | int) -> int:
    return int(Decimal(percent) * 100)


@dataclass
class Assignment:
    audience: int = 0
    global_holdout: int = 0
    control: list[int] = field(default_factory=list)
    variants: dict[int, list[int]] = field(default_factory=dict)  # variant id -> customer ids


def campaign_assign(campaign: Campaign, customer_ids: list[int], variants: list[CampaignVariant]) -> Assignment:
    """Who of ``customer_ids`` is in the global hold-out, the control group and each variant (pure)."""
    out = Assignment(audience=len(customer_ids), variants={v.pk: [] for v in variants})
    global_cut, salt = 0, ""
    if campaign.use_global_holdout:
        holdout = GlobalHoldout.objects.order_by("pk").first()
        if holdout is not None and holdout.active:
            global_cut, salt = _threshold(holdout.percent), holdout.salt
    control_cut = _threshold(campaign.holdout_percent)
    total = sum(v.split_percent for v in variants)
    bounds: list[tuple[int, int]] = []
    running = 0
    for v in variants:
        running += v.split_percent
        bounds.append((running * 10000, v.pk))
    # hash_bucket's inputs, with the constant prefixes encoded once (500,000 customers: three hashes each)
    blake2b = hashlib.blake2b
    global_prefix = f"global:{salt}:".encode()
    holdout_prefix = f"holdout:{campaign.pk}:".encode()
    variant_prefix = f"variant:{campaign.pk}:".encode()

    def bucket(prefix: bytes, key: bytes) -> int:
        return int.from_bytes(blake2b(prefix + key, digest_size=8).digest(), "big") % 10000

    for cid in customer_ids:
        key = str(cid).encode()
        if global_cut and bucket(global_prefix, key) < global_cut:
            out.global_holdout += 1
            continue
        if bucket(holdout_prefix, key) < control_cut or not bounds:
            out.control.append(cid)
            continue
        point = bucket(variant_prefix, key) * total
        for bound, variant_id in bounds:
            if point < bound:
                out.variants[variant_id].append(cid)
                break
    return out


def global_holdout_count(holdout: GlobalHoldout, customer_ids: Iterable[int]) -> int:
    """How many of ``customer_ids`` the global hold-out leaves out (the same hash as ``campaign_assign``)."""
    if not holdout.active:
        return 0
    cut = _threshold(holdout.percent)
    prefix = f"global:{holdout.salt}:".encode()
    blake2b = hashlib.blake2b
    return sum(
        1
        for cid in customer_ids
        if int.from_bytes(blake2b(prefix + str(cid).encode(), digest_size=8).digest(), "big") % 10000 < cut
    )


def _audience_ids(campaign: Campaign, user: Actor = None) -> list[int]:
    return list(segment_customers(campaign.segment, user=user).order_by("id").values_list("id", flat=True))


# --- the due sweep -----------------------------------------------------------------------------


def _queue(run_id: int) -> None:
    from guanxi.campaigns.tasks import campaign_run_task

    campaign_run_task.delay_on_commit(run_id)


def campaigns_due(now: dt.datetime | None = None) -> list[int]:
    """Create the runs that are due, and queue every run that should be executing now; returns their ids."""
    now = now or timezone.now()
    queued: list[int] = []
    due = Campaign.objects.filter(status__in=[C.APPROVED, C.RUNNING], next_run_at__lte=now).order_by("next_run_at")
    for campaign in due:
        occurrence = campaign.next_run_at
        assert occurrence is not None
        with transaction.atomic():
            try:
                run, created = CampaignRun.objects.get_or_create(
                    campaign=campaign, occurrence=occurrence, is_test=False, defaults={"resume_at": now}
                )
            except IntegrityError:  # another sweep created it in the meantime
                run, created = CampaignRun.objects.get(campaign=campaign, occurrence=occurrence, is_test=False), False
            following = occurrence_after(campaign, occurrence, now)
            # only the sweep that still sees this occurrence moves the campaign on
            Campaign.objects.filter(pk=campaign.pk, next_run_at=occurrence).update(
                next_run_at=following, status=C.RUNNING, updated_at=now
            )
            if created:
                event_record(
                    name="campaign.run_started",
                    aggregate="campaign_run",
                    aggregate_id=run.pk,
                    payload={"campaign_id": campaign.pk, "occurrence": occurrence.isoformat()},
                )
    # cancelled campaigns: their unfinished runs stop for good
    CampaignRun.objects.filter(
        campaign__status=C.CANCELLED, status__in=[RUN.PREPARING, RUN.SENDING, RUN.PAUSED]
    ).update(status=RUN.CANCELLED, finished_at=now, heartbeat_at=None)
    # paused runs of a campaign that was resumed continue
    CampaignRun.objects.filter(status=RUN.PAUSED, campaign__status__in=[C.APPROVED, C.RUNNING], is_test=False).update(
        status=RUN.SENDING, resume_at=now
    )
    stale = now - dt.timedelta(seconds=_stale_seconds())
    ready = CampaignRun.objects.filter(
        Q(resume_at__isnull=True) | Q(resume_at__lte=now),
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale),
        status__in=[RUN.PREPARING, RUN.SENDING],
        campaign__status__in=[C.APPROVED, C.RUNNING],
        is_test=False,
    )
    for run_id in ready.values_list("pk", flat=True):
        # a copy queued while another waits in the queue is harmless: the first to claim the run sends, the
        # other finds it claimed (or done, or waiting for its resume time) and does nothing
        with transaction.atomic():
            _queue(run_id)
        queued.append(run_id)
    return queued


def campaign_runs_resume(campaign: Campaign) -> list[int]:
    """After resuming ``campaign`` (status back to approved/running): its paused runs continue now."""
    now = timezone.now()
    ids = list(
        CampaignRun.objects.filter(campaign=campaign, status=RUN.PAUSED, is_test=False).values_list("pk", flat=True)
    )
    CampaignRun.objects.filter(pk__in=ids).update(status=RUN.SENDING, resume_at=now)
    for run_id in ids:
        _queue(run_id)
    return ids


# --- execution ---------------------------------------------------------------------------------


@dataclass
class ExecuteResult:
    status: str
    sent_chunks: int = 0
    resume_at: dt.datetime | None = None
    claimed: bool = True


def _claim(run_id: int, now: dt.datetime) -> bool:
    stale = now - dt.timedelta(seconds=_stale_seconds())
    return bool(
        CampaignRun.objects.filter(pk=run_id, status__in=[RUN.PREPARING, RUN.SENDING])
        .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale))
        .update(heartbeat_at=now)
    )


def _release(run_id: int, **changes: Any) -> None:
    CampaignRun.objects.filter(pk=run_id).update(heartbeat_at=None, **changes)


def campaign_run_execute(run_id: int) -> ExecuteResult:
    """Materialise the run if not done yet, then send its pending recipients until done, paused, cancelled,
    outside the send window or throttled. Safe to call any number of times, concurrently included."""
    now = timezone.now()
    run = CampaignRun.objects.select_related("campaign").get(pk=run_id)
    if run.status not in (RUN.PREPARING, RUN.SENDING):
        return ExecuteResult(status=run.status, claimed=False)
    if run.resume_at is not None and run.resume_at > now:
        # early (a throttled run's task delivered before its minute): its own task or the sweep comes back
        return ExecuteResult(status=run.status, resume_at=run.resume_at, claimed=False)
    if not _claim(run_id, now):
        return ExecuteResult(status=run.status, claimed=False)
    try:
        if run.status == RUN.PREPARING:
            campaign_run_materialise(run, now=now)
        return _send(run_id)
    except BaseException:
        _release(run_id)  # a failure (not a kill) frees the run for the next attempt at once
        raise


@transaction.atomic
def campaign_run_materialise(run: CampaignRun, *, now: dt.datetime) -> None:
    """Phase 1: the recipient rows (and coupons) of ``run``, in one transaction; a repeat does nothing."""
    run = CampaignRun.objects.select_for_update().select_related("campaign").get(pk=run.pk)
    if run.status != RUN.PREPARING:
        return
    if run.is_test:  # a test send to staff phones is not a run of the segment: it never draws the audience
        raise ValueError("a test run has no recipients to choose")
    campaign = run.campaign
    variants = list(campaign.variants.order_by("label"))
    drawn = campaign_assign(campaign, _audience_ids(campaign), variants)
    treated = [cid for ids in drawn.variants.values() for cid in ids]
    coupons: dict[int, tuple[int, str]] = {}
    blocked: dict[int, str] = {}
    if campaign.coupon_template_id and treated:
        assert campaign.coupon_template is not None
        coupons, plan = coupons_issue_bulk(
            template=campaign.coupon_template, customer_ids=treated, reference=f"campaign-run:{run.pk}", now=now
        )
        blocked = dict.fromkeys(plan.over_limit, COUPON_LIMIT) | dict.fromkeys(plan.over_budget, COUPON_BUDGET)
    todo = R.CALL if campaign.channel == Campaign.Channel.CALL else R.PENDING
    rows: list[list[Any]] = [[run.pk, cid, None, R.CONTROL, "", None] for cid in drawn.control]
    for variant_id, ids in drawn.variants.items():
        for cid in ids:
            reason = blocked.get(cid, "")
            coupon = coupons.get(cid)
            rows.append(
                [run.pk, cid, variant_id, R.SUPPRESSED if reason else todo, reason, coupon[0] if coupon else None]
            )
    bulk_insert_values(CampaignRecipient, ["run", "customer", "variant", "status", "reason", "coupon"], rows)
    run.recipients = len(rows)
    run.control = len(drawn.control)
    run.suppressed = dict(Counter(blocked.values()))
    run.status = RUN.SENDING
    run.started_at = now
    run.heartbeat_at = now
    run.save(update_fields=["recipients", "control", "suppressed", "status", "started_at", "heartbeat_at"])


def _window_resume(campaign: Campaign, now: dt.datetime) -> dt.datetime | None:
    """None inside the send window (or without one); otherwise the moment it next opens."""
    start, end = campaign.window_start, campaign.window_end
    if start is None or end is None or start == end:
        return None
    zone = campaign_zone(campaign)
    local = now.astimezone(zone)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if inside:
        return None
    day = local.date()
    if start < end and t >= end:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, start, tzinfo=zone)


def _stop(run_id: int) -> ExecuteResult | None:
    """The campaign's latest status between chunks: a paused or cancelled campaign stops the run here."""
    campaign_status = Campaign.objects.filter(runs__pk=run_id).values_list("status", flat=True).first()
    if campaign_status == C.CANCELLED:
        _release(run_id, status=RUN.CANCELLED, finished_at=timezone.now())
        return ExecuteResult(status=RUN.CANCELLED)
    if campaign_status == C.PAUSED or CampaignRun.objects.filter(pk=run_id, status=RUN.PAUSED).exists():
        _release(run_id, status=RUN.PAUSED)
        return ExecuteResult(status=RUN.PAUSED)
    return None


def _send(run_id: int) -> ExecuteResult:
    chunks = 0
    while True:
        stopped = _stop(run_id)
        if stopped is not None:
            stopped.sent_chunks = chunks
            return stopped
        run = CampaignRun.objects.select_related("campaign").get(pk=run_id)
        if run.status != RUN.SENDING:
            _release(run_id)
            return ExecuteResult(status=run.status, sent_chunks=chunks)
        campaign = run.campaign
        now = timezone.now()
        opens = _window_resume(campaign, now)
        if opens is not None:
            _release(run_id, resume_at=opens)
            return ExecuteResult(status=run.status, sent_chunks=chunks, resume_at=opens)
        size = min(CHUNK, campaign.throttle_per_minute or CHUNK)
        pending = list(
            CampaignRecipient.objects.filter(run_id=run_id, status=R.PENDING)
            .order_by("id")
            .values_list("id", "customer_id", "variant_id", "coupon_id")[:size]
        )
        if not pending:
            return _finish(run_id, chunks)
        _send_chunk(run, pending, now)
        chunks += 1
        if campaign.throttle_per_minute:
            at = now + dt.timedelta(minutes=1)
            more = CampaignRecipient.objects.filter(run_id=run_id, status=R.PENDING).exists()
            if not more:
                return _finish(run_id, chunks)
            _release(run_id, resume_at=at)
            return ExecuteResult(status=RUN.SENDING, sent_chunks=chunks, resume_at=at)


def _send_chunk(run: CampaignRun, pending: Sequence[tuple[int, int, int | None, int | None]], now: dt.datetime) -> None:
    campaign = run.campaign
    variants = {v.pk: v for v in campaign.variants.all()}
    coupon_codes: dict[int, str] = {}
    coupon_ids = [c for *_rest, c in pending if c]
    if coupon_ids:
        coupon_codes = dict(filter_in(Coupon.objects, "id", coupon_ids).values_list("pk", "code"))
    coupon_codes[0] = ""
    coupon_name = (
        CouponTemplate.objects.filter(pk=campaign.coupon_template_id or 0).values_list("name", flat=True).first() or ""
    )
    by_variant: dict[int | None, list[tuple[int, int, int | None]]] = defaultdict(list)
    for recipient_id, cid, variant_id, coupon_id in pending:
        by_variant[variant_id].append((recipient_id, cid, coupon_id))
    with transaction.atomic():
        locked = CampaignRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != RUN.SENDING:
            return
        suppressed: Counter[str] = Counter(locked.suppressed or {})
        updates: list[CampaignRecipient] = []
        for variant_id, members in by_variant.items():
            variant = variants.get(variant_id) if variant_id is not None else None
            if variant is None:  # a variant deleted after the draw: nothing to send it with
                for recipient_id, _cid, _coupon in members:
                    updates.append(CampaignRecipient(pk=recipient_id, status=R.SUPPRESSED, reason="no template"))
                suppressed["no template"] += len(members)
                continue
            prefix = f"campaign:{run.pk}:{variant.label}"
            contexts = {
                cid: {"coupon_code": coupon_codes.get(coupon_id or 0, ""), "coupon": coupon_name}
                for _rid, cid, coupon_id in members
                if coupon_id
            }
            ids = [cid for _rid, cid, _coupon in members]
            message_enqueue(
                channel=campaign.channel,
                template_code=variant.template_code,
                customer_ids=ids,
                purpose=campaign.purpose,
                contexts=contexts,
                dedupe_prefix=prefix,
                batch_ref=f"campaign-{run.pk}-{variant.label}",
                now=now,
                on_missing_template="suppress",
            )
            keys = {message_dedupe_key(prefix, campaign.channel, cid): cid for cid in ids}
            messages = {
                keys[key]: (pk, status, reason)
                for key, pk, status, reason in filter_in(Message.objects, "dedupe_key", list(keys)).values_list(
                    "dedupe_key", "pk", "status", "reason"
                )
            }
            for recipient_id, cid, _coupon in members:
                found = messages.get(cid)
                if found is None:  # merged away since the draw: messaging wrote nothing for them
                    updates.append(CampaignRecipient(pk=recipient_id, status=R.SUPPRESSED, reason="unknown customer"))
                    suppressed["unknown customer"] += 1
                elif found[1] == Message.Status.SUPPRESSED:
                    updates.append(
                        CampaignRecipient(pk=recipient_id, status=R.SUPPRESSED, reason=found[2], message_id=found[0])
                    )
                    suppressed[found[2]] += 1
                else:
                    updates.append(CampaignRecipient(pk=recipient_id, status=R.QUEUED, reason="", message_id=found[0]))
        CampaignRecipient.objects.bulk_update(updates, ["status", "reason", "message"], batch_size=500)
        CampaignRun.objects.filter(pk=run.pk).update(suppressed=dict(suppressed), heartbeat_at=timezone.now())


def _finish(run_id: int, chunks: int) -> ExecuteResult:
    now = timezone.now()
    with transaction.atomic():
        run = CampaignRun.objects.select_for_update().select_related("campaign").get(pk=run_id)
        if run.status != RUN.SENDING:
            return ExecuteResult(status=run.status, sent_chunks=chunks)
        run.status, run.finished_at, run.heartbeat_at = RUN.DONE, now, None
        run.save(update_fields=["status", "finished_at", "heartbeat_at"])
        counts = dict(Counter(CampaignRecipient.objects.filter(run_id=run_id).values_list("status", flat=True)))
        campaign = run.campaign
        unfinished = (
            CampaignRun.objects.filter(campaign=campaign, is_test=False)
            .exclude(status__in=[RUN.DONE, RUN.CANCELLED])
            .exists()
        )
        if not unfinished:
            Campaign.objects.filter(pk=campaign.pk, status=C.RUNNING).update(
                status=C.APPROVED if campaign.next_run_at is not None else C.COMPLETED, updated_at=now
            )
        event_record(
            name="campaign.run_finished",
            aggregate="campaign_run",
            aggregate_id=run.pk,
            payload={
                "campaign_id": campaign.pk,
                "recipients": run.recipients,
                "control": run.control,
                "queued": counts.get(R.QUEUED, 0),
                "suppressed": counts.get(R.SUPPRESSED, 0),
                "call": counts.get(R.CALL, 0),
            },
        )
    return ExecuteResult(status=RUN.DONE, sent_chunks=chunks)


# --- pre-send report ---------------------------------------------------------------------------


@dataclass
class Preflight:
    """What sending ``campaign`` now would do, computed without writing anything."""

    audience: int  # the segment's customers
    global_holdout: int  # left out by the global hold-out
    control: int  # the campaign's hold-out
    variants: dict[str, int]  # label -> customers drawn into it
    sendable: dict[str, int]  # label -> customers a message would go to (or on the call list)
    suppressed: dict[str, int]  # reason -> customers drawn into a variant but not sent to
    segments: dict[str, int]  # label -> SMS segments per message (1 for other channels)
    price: Decimal  # per SMS segment
    cost: Decimal  # segments × recipients × price, SMS only

    @property
    def messages(self) -> int:
        return sum(self.sendable.values())


def _segments(campaign: Campaign, variant: CampaignVariant) -> int:
    if campaign.channel != Channel.SMS:
        return 1
    templates = {
        t.language: t
        for t in MessageTemplate.objects.filter(code=variant.template_code, channel=Channel.SMS, is_active=True)
    }
    template = templates.get(settings.LANGUAGE_CODE) or next(iter(templates.values()), None)
    if template is None:
        return 0
    context = {"coupon_code": "X" * 12}
    if campaign.coupon_template is not None:
        context["coupon"] = campaign.coupon_template.name
    return preview(template, context=context).segments


def campaign_preflight(campaign: Campaign, *, user: Actor = None, now: dt.datetime | None = None) -> Preflight:
    """The pre-send report of ``campaign``: the draw, the coupon rules and messaging's suppression decision
    (``messaging.services.recipients_check``, the one ``message_enqueue`` applies) over the whole audience,
    set-wise and read-only. Counted exactly as a send at this moment would count them."""
    now = now or timezone.now()
    variants = list(campaign.variants.order_by("label"))
    drawn = campaign_assign(campaign, _audience_ids(campaign, user), variants)
    price = Decimal(str(getattr(settings, "GUANXI_SMS_PRICE", Decimal("0.045"))))
    suppressed: Counter[str] = Counter()
    sendable: dict[str, int] = {}
    segments: dict[str, int] = {}
    cost = Decimal("0")
    eligible: set[int] | None = None
    if campaign.coupon_template is not None:
        treated = [cid for ids in drawn.variants.values() for cid in ids]
        plan = coupon_issue_plan(template=campaign.coupon_template, customer_ids=treated, reference="")
        suppressed[COUPON_LIMIT] += len(plan.over_limit)
        suppressed[COUPON_BUDGET] += len(plan.over_budget)
        eligible = set(plan.targets)
    for variant in variants:
        ids = drawn.variants[variant.pk]
        if eligible is not None:
            ids = [cid for cid in ids if cid in eligible]
        segments[variant.label] = _segments(campaign, variant)
        if campaign.channel == Campaign.Channel.CALL:
            sendable[variant.label] = len(ids)
            continue
        has_template = MessageTemplate.objects.filter(
            code=variant.template_code, channel=campaign.channel, is_active=True
        ).exists()
        ok = 0
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            check = recipients_check(
                channel=campaign.channel,
                purpose=campaign.purpose,
                customer_ids=chunk,
                now=now,
                has_template=has_template,
                load_customers=False,
            )
            suppressed.update(check.reasons.values())
            ok += len(chunk) - len(check.reasons)
        sendable[variant.label] = ok
        if campaign.channel == Channel.SMS:
            cost += price * segments[variant.label] * ok
    return Preflight(
        audience=drawn.audience,
        global_holdout=drawn.global_holdout,
        control=len(drawn.control),
        variants={v.label: len(drawn.variants[v.pk]) for v in variants},
        sendable=sendable,
        suppressed={reason: n for reason, n in suppressed.items() if n},
        segments=segments,
        price=price,
        cost=cost.quantize(Decimal("0.01")),
    )
