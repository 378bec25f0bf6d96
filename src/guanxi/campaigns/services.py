"""Writes of campaigns: drafting, the approval states (审批), test sends.

The states::

    draft --submit--> pending --approve--> approved --(engine)--> running --(engine)--> completed
      ^                  |                    |  ^                   |  ^
      +-----reject-------+                  pause|resume           pause|resume
                                              v  |                   v  |
                                              paused <---------------+--+
    cancel: from any state but completed and cancelled.

- Marketers, managers and admins draft (``campaigns.draft``); only a draft is edited (a rejected campaign is
  a draft again).
- Managers and admins approve and reject (``campaigns.approve``), and **never the person who submitted
  the campaign** (four eyes): a manager who drafts and submits needs another manager's approval.
- Pausing and cancelling (always safe: they stop sends) are open to whoever drafts; resuming sends again
  and so needs approval rights. Pausing also pauses the campaign's active run (``CampaignRun.status``
  paused); the send engine checks it between chunks. Resuming sets the run back to sending (preparing if
  it had chosen no recipients yet).
- A change to the state a campaign is already in (approving an approved campaign, pausing a paused one,
  cancelling a cancelled one, submitting a pending one) changes nothing, records nothing and returns the
  campaign: a retried request is harmless. Any other change the state does not allow raises
  ``CampaignStateConflict`` (the API answers 409).

Every write validates everything first, then writes in one transaction with an audit row and an event
(``docs/development/events.md``, "Campaigns").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.accounts.actors import Actor, actor_id, signed_in
from guanxi.accounts.permissions import can, default_store_id, may_use_store
from guanxi.campaigns.campaign_selectors import campaigns_visible_to, segments_usable_by
from guanxi.campaigns.models import Campaign, CampaignRun, CampaignVariant, GlobalHoldout, Segment
from guanxi.core.audit import audit_record
from guanxi.core.events import event_record
from guanxi.customers.contacts import contact_indexes, mask_value, normalize_email, normalize_phone
from guanxi.loyalty.models import CouponTemplate
from guanxi.messaging.models import CONTACT_KIND as MESSAGE_CONTACT_KIND
from guanxi.messaging.models import Channel as MessageChannel
from guanxi.messaging.models import MessageTemplate, Purpose
from guanxi.messaging.rendering import render, sample_context, sms_compose, sms_segments, variables_in

S = Campaign.Status
#: The variables a campaign fills for each recipient: messaging's ``{name}`` and ``{store}``, and the
#: recipient's own coupon (``{coupon_code}``, ``{coupon}``: its name and value) when the campaign issues one.
CAMPAIGN_VARIABLES = ("name", "store", "coupon_code", "coupon")
COUPON_VARIABLES = frozenset({"coupon_code", "coupon"})
LABELS = ("A", "B", "C", "D")
MAX_TEST_PHONES = 5
MAX_THROTTLE = 100_000
MAX_REASON = 500
MAX_GOAL = 2000
#: States a campaign can be paused in (its sends stop), and cancelled in.
PAUSABLE = (S.APPROVED, S.RUNNING)
CANCELLABLE = (S.DRAFT, S.PENDING, S.APPROVED, S.RUNNING, S.PAUSED)
TESTABLE = (S.DRAFT, S.PENDING, S.APPROVED, S.RUNNING, S.PAUSED)
#: Runs that are doing something: paused, resumed and cancelled with their campaign.
ACTIVE_RUNS = (CampaignRun.Status.PREPARING, CampaignRun.Status.SENDING)

#: What a campaign's edit form and API take, besides ``variants``.
FIELDS = (
    "name", "goal", "segment", "channel", "purpose", "coupon_template", "schedule", "starts_at", "ends_on",
    "weekday", "day_of_month", "send_time", "time_zone", "window_start", "window_end", "throttle_per_minute",
    "holdout_percent", "use_global_holdout", "attribution_days", "store",
)  # fmt: skip


class CampaignStateConflict(ValidationError):
    """A change the campaign's state does not allow (the API answers 409 naming ``status``)."""


def _conflict(message: Any) -> CampaignStateConflict:
    return CampaignStateConflict({"status": [message]})


# --- who and which ------------------------------------------------------------------------------------------


def _require(actor: Actor, operation: str) -> None:
    """The system (``None``: demo data, management commands) may do anything; a person needs the role."""
    if actor is not None and not can(actor, operation):
        raise PermissionDenied


def _locked(actor: Actor, campaign: Campaign) -> Campaign:
    """The campaign row, locked, if ``actor`` may see it; ``Campaign.DoesNotExist`` (a 404) otherwise."""
    qs = Campaign.objects.all() if actor is None else campaigns_visible_to(actor)
    return qs.select_for_update().get(pk=campaign.pk)


# --- cleaning -----------------------------------------------------------------------------------------------


def _pk(value: Any) -> Any:
    return getattr(value, "pk", value)


def _int(value: Any, field: str, low: int, high: int, errors: dict[str, list[Any]], *, required: bool) -> int | None:
    if value is None or value == "":
        if required:
            errors.setdefault(field, []).append(_("This field is required."))
        return None
    if isinstance(value, bool):
        errors.setdefault(field, []).append(_("Enter a whole number."))
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        errors.setdefault(field, []).append(_("Enter a whole number."))
        return None
    if not low <= number <= high:
        errors.setdefault(field, []).append(_("Enter a number from %(low)s to %(high)s.") % {"low": low, "high": high})
        return None
    return number


def _typed(value: Any, kind: type, field: str, errors: dict[str, list[Any]]) -> Any:
    if value is None or value == "":
        return None
    if kind is dt.time and isinstance(value, dt.time):
        return value
    if kind is dt.date and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if kind is dt.datetime and isinstance(value, dt.datetime):
        return value
    try:
        if kind is dt.time:
            return dt.time.fromisoformat(str(value))
        if kind is dt.date:
            return dt.date.fromisoformat(str(value))
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        errors.setdefault(field, []).append(_("Enter a valid date or time."))
        return None


def campaign_values(campaign: Campaign) -> dict[str, Any]:
    """A stored campaign as the data ``campaign_save`` takes (what an edit starts from)."""
    values = {name: getattr(campaign, name) for name in FIELDS if name not in ("segment", "coupon_template", "store")}
    values["segment"] = campaign.segment_id
    values["coupon_template"] = campaign.coupon_template_id
    values["store"] = campaign.store_id
    values["variants"] = [
        {"label": v.label, "template_code": v.template_code, "split_percent": v.split_percent}
        for v in campaign.variants.order_by("label")
    ]
    return values


def _clean(actor: Actor, data: dict[str, Any], *, now: dt.datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every rule of a campaign, each error under its field; nothing is looked at twice."""
    errors: dict[str, list[Any]] = {}
    out: dict[str, Any] = {}

    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = [_("Give the campaign a name.")]
    elif len(name) > 120:
        errors["name"] = [_("Keep the name under 120 characters.")]
    out["name"] = name
    goal = str(data.get("goal") or "").strip()
    if len(goal) > MAX_GOAL:
        errors["goal"] = [_("Keep the goal under %(n)s characters.") % {"n": MAX_GOAL}]
    out["goal"] = goal

    segments = Segment.objects.filter(archived=False) if actor is None else segments_usable_by(actor)
    segment_id = _int(_pk(data.get("segment")), "segment", 1, 2**63 - 1, errors, required=True)
    segment = segments.filter(pk=segment_id).first() if segment_id is not None else None
    if segment_id is not None and segment is None:
        errors["segment"] = [_("There is no segment #%(id)s you may use.") % {"id": segment_id}]
    out["segment"] = segment

    channel = data.get("channel") or Campaign.Channel.SMS
    if channel not in Campaign.Channel.values:
        errors["channel"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(Campaign.Channel.values)}]
    out["channel"] = channel
    purpose = data.get("purpose") or Purpose.MARKETING
    if purpose not in Purpose.values:
        errors["purpose"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(Purpose.values)}]
    elif channel == Campaign.Channel.WECHAT and purpose == Purpose.MARKETING:
        errors["channel"] = [
            _("WeChat template messages are for service notices only; send marketing by SMS or e-mail.")
        ]
    elif channel in (Campaign.Channel.SMS, Campaign.Channel.EMAIL) and purpose != Purpose.MARKETING:
        errors["purpose"] = [
            _(
                "A campaign by SMS or e-mail is marketing: consent and the frequency cap apply. Transactional "
                "messages are sent by what causes them."
            )
        ]
    out["purpose"] = purpose

    coupon_id = _int(_pk(data.get("coupon_template")), "coupon_template", 1, 2**63 - 1, errors, required=False)
    coupon = CouponTemplate.objects.filter(pk=coupon_id, active=True).first() if coupon_id is not None else None
    if coupon_id is not None and coupon is None:
        errors["coupon_template"] = [_("There is no active coupon #%(id)s.") % {"id": coupon_id}]
    out["coupon_template"] = coupon

    # --- schedule
    schedule = data.get("schedule") or Campaign.Schedule.NOW
    if schedule not in Campaign.Schedule.values:
        errors["schedule"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(Campaign.Schedule.values)}]
    out["schedule"] = schedule
    zone_name = str(data.get("time_zone") or settings.TIME_ZONE)
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = [_("“%(value)s” is not a time zone.") % {"value": zone_name[:64]}]
        zone = ZoneInfo(settings.TIME_ZONE)
    out["time_zone"] = zone_name
    starts_at = _typed(data.get("starts_at"), dt.datetime, "starts_at", errors)
    if starts_at is not None and timezone.is_naive(starts_at):
        starts_at = timezone.make_aware(starts_at, zone)
    ends_on = _typed(data.get("ends_on"), dt.date, "ends_on", errors)
    send_time = _typed(data.get("send_time"), dt.time, "send_time", errors)
    recurring = schedule in (Campaign.Schedule.WEEKLY, Campaign.Schedule.MONTHLY)
    weekday = _int(data.get("weekday"), "weekday", 0, 6, errors, required=schedule == Campaign.Schedule.WEEKLY)
    day = _int(data.get("day_of_month"), "day_of_month", 1, 31, errors, required=schedule == Campaign.Schedule.MONTHLY)
    if recurring and send_time is None and "send_time" not in errors:
        errors["send_time"] = [_("Give the local time of each send.")]
    if schedule == Campaign.Schedule.ONCE and starts_at is None and "starts_at" not in errors:
        errors["starts_at"] = [_("Give the time of the send.")]
    if schedule in (Campaign.Schedule.ONCE, *((Campaign.Schedule.WEEKLY, Campaign.Schedule.MONTHLY))):
        if starts_at is not None and starts_at <= now:
            errors["starts_at"] = [_("Choose a time in the future.")]
    if recurring and ends_on is not None:
        first_day = starts_at.astimezone(zone).date() if starts_at else now.astimezone(zone).date()
        if ends_on < first_day:
            errors["ends_on"] = [_("The last date cannot be before the first send.")]
    out["starts_at"] = starts_at if schedule != Campaign.Schedule.NOW else None
    out["ends_on"] = ends_on if recurring else None
    out["weekday"] = weekday if schedule == Campaign.Schedule.WEEKLY else None
    out["day_of_month"] = day if schedule == Campaign.Schedule.MONTHLY else None
    out["send_time"] = send_time if recurring else None

    # --- window, throttle, hold-out, attribution
    window_start = _typed(data.get("window_start"), dt.time, "window_start", errors)
    window_end = _typed(data.get("window_end"), dt.time, "window_end", errors)
    if (window_start is None) != (window_end is None) and not ({"window_start", "window_end"} & set(errors)):
        missing = "window_end" if window_end is None else "window_start"
        errors[missing] = [_("Give both ends of the send window, or neither.")]
    elif window_start is not None and window_start == window_end:
        errors["window_end"] = [_("The send window must not start and end at the same time.")]
    out["window_start"], out["window_end"] = window_start, window_end
    out["throttle_per_minute"] = _int(
        data.get("throttle_per_minute"), "throttle_per_minute", 1, MAX_THROTTLE, errors, required=False
    )
    raw_holdout = data.get("holdout_percent")
    holdout = Decimal("10")
    if raw_holdout is not None and raw_holdout != "":
        try:
            holdout = Decimal(str(raw_holdout).strip())
            if not holdout.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors["holdout_percent"] = [_("Enter a number.")]
        else:
            if not Decimal("0") <= holdout <= Decimal("50"):
                errors["holdout_percent"] = [_("The hold-out is 0 to 50 percent.")]
            elif holdout != holdout.quantize(Decimal("0.01")):
                errors["holdout_percent"] = [_("At most two decimal places.")]
    out["holdout_percent"] = holdout
    out["use_global_holdout"] = bool(data.get("use_global_holdout", True))
    attribution = _int(data.get("attribution_days", 14), "attribution_days", 1, 90, errors, required=True)
    out["attribution_days"] = attribution if attribution is not None else 14

    # --- store
    store_id = _int(_pk(data.get("store")), "store", 1, 2**63 - 1, errors, required=False)
    if store_id is None and "store" not in errors:
        store_id = default_store_id(actor)
    elif store_id is not None and not may_use_store(actor, store_id):
        errors["store"] = [_("Choose one of your stores.")]
    out["store_id"] = store_id

    variants = _clean_variants(data.get("variants"), channel, purpose, coupon, errors)
    if errors:
        raise ValidationError(errors)
    return out, variants


def _clean_variants(
    raw: Any, channel: str, purpose: str, coupon: CouponTemplate | None, errors: dict[str, list[Any]]
) -> list[dict[str, Any]]:
    if not isinstance(raw, list | tuple) or not raw:
        errors["variants"] = [_("Give at least one variant.")]
        return []
    if len(raw) > len(LABELS):
        errors["variants"] = [_("At most four variants (A to D).")]
        return []
    variants: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        item = item if isinstance(item, dict) else {}
        key = f"variants[{index}]"
        label = str(item.get("label") or LABELS[index]).strip().upper()
        if label not in LABELS:
            errors[f"{key}.label"] = [_("A variant is labelled A, B, C or D.")]
        split = _int(item.get("split_percent"), f"{key}.split_percent", 1, 100, errors, required=True)
        code = str(item.get("template_code") or "").strip()
        if channel == Campaign.Channel.CALL:
            code = ""  # a call list is worked by agents: no message
        elif not code:
            errors[f"{key}.template_code"] = [_("Choose a message template.")]
        elif len(code) > 50:
            errors[f"{key}.template_code"] = [_("Keep the template code under 50 characters.")]
        variants.append({"label": label, "template_code": code, "split_percent": split})
    labels = [v["label"] for v in variants]
    if len(set(labels)) != len(labels):
        errors.setdefault("variants", []).append(_("Each variant has its own label."))
    splits = [v["split_percent"] for v in variants]
    if None not in splits and sum(splits) != 100:
        errors.setdefault("variants", []).append(
            _("The variants' shares add up to %(total)s%%; they must add up to 100%%.") % {"total": sum(splits)}
        )
    if channel in MessageChannel.values:
        _check_templates(variants, channel, purpose, coupon, errors)
    return variants


def _check_templates(
    variants: list[dict[str, Any]],
    channel: str,
    purpose: str,
    coupon: CouponTemplate | None,
    errors: dict[str, list[Any]],
) -> None:
    """Each variant's template exists, is active, is for this channel and purpose, uses only the variables a
    campaign fills, names a coupon only if one is issued, and as a marketing SMS carries the opt-out text once."""
    codes = {v["template_code"] for v in variants if v["template_code"]}
    by_code: dict[str, list[MessageTemplate]] = {}
    for template in MessageTemplate.objects.filter(code__in=codes, channel=channel, is_active=True):
        by_code.setdefault(template.code, []).append(template)
    opt_out = settings.GUANXI_SMS_OPT_OUT_TEXT
    for index, variant in enumerate(variants):
        key = f"variants[{index}].template_code"
        code = variant["template_code"]
        if not code or key in errors:
            continue
        templates = by_code.get(code)
        if not templates:
            errors[key] = [
                _("There is no active %(channel)s template “%(code)s”.")
                % {"channel": Campaign.Channel(channel).label, "code": code}
            ]
            continue
        problems: list[Any] = []
        for template in templates:
            if template.purpose != purpose:
                problems.append(
                    _("Template “%(code)s” is for %(purpose)s messages.")
                    % {"code": code, "purpose": Purpose(template.purpose).label}
                )
                break
            used = variables_in(f"{template.subject}\n{template.body}")
            unknown = [name for name in used if name not in CAMPAIGN_VARIABLES]
            if unknown:
                problems.append(
                    _("A campaign cannot fill %(names)s; it fills %(known)s.")
                    % {
                        "names": ", ".join("{%s}" % n for n in unknown),  # noqa: UP031
                        "known": ", ".join("{%s}" % n for n in CAMPAIGN_VARIABLES),  # noqa: UP031
                    }
                )
                break
            if coupon is None and COUPON_VARIABLES & set(used):
                errors["coupon_template"] = [
                    _("Template “%(code)s” names the recipient's coupon: choose the coupon to issue.") % {"code": code}
                ]
            if channel == MessageChannel.SMS and purpose == Purpose.MARKETING:
                composed = sms_compose(render(template.body, _sample()), purpose=purpose)
                if not opt_out or composed.count(opt_out) != 1:
                    problems.append(
                        _(
                            "A marketing SMS must end with the opt-out text “%(text)s” exactly once; remove it "
                            "from the body (it is added at the end)."
                        )
                        % {"text": opt_out or "回T退订"}
                    )
                    break
        if problems:
            errors[key] = problems


def _sample() -> dict[str, str]:
    values = sample_context()
    values.setdefault("coupon", "¥20 代金券")
    return values


def template_hint(template: MessageTemplate) -> dict[str, Any]:
    """Length and SMS segments of a template as a campaign would send it (sample values), for the edit form."""
    body = render(template.body, _sample())
    if template.channel == MessageChannel.SMS:
        body = sms_compose(body, purpose=template.purpose)
        return {"length": len(body), "segments": sms_segments(body)}
    return {"length": len(body), "segments": 1}


# --- drafting -----------------------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


@transaction.atomic
def campaign_save(*, actor: Actor, campaign: Campaign | None = None, data: dict[str, Any]) -> Campaign:
    """Create a draft, or change a draft: ``data`` overlays the stored values (a partial change keeps the rest,
    ``variants`` replaces all variants). Everything is checked before anything is written."""
    _require(actor, "campaigns.draft")
    now = timezone.now()
    current: dict[str, Any] = {}
    if campaign is not None:
        campaign = _locked(actor, campaign)
        if campaign.status != S.DRAFT:
            raise _conflict(
                _("Only a draft can be changed; this campaign is %(status)s.")
                % {"status": campaign.get_status_display()}
            )
        current = campaign_values(campaign)
    unknown = set(data) - set(FIELDS) - {"variants"}
    if unknown:
        raise ValidationError({name: [_("Unknown field.")] for name in sorted(unknown)})
    values, variants = _clean(actor, {**current, **data}, now=now)

    created = campaign is None
    if campaign is None:
        campaign = Campaign(created_by=signed_in(actor), status=S.DRAFT)
    before = {k: _json(v) for k, v in current.items() if k != "variants"}
    for name, value in values.items():
        setattr(campaign, name, value)
    campaign.save()
    existing = {v.label: v for v in campaign.variants.all()}
    keep = {v["label"] for v in variants}
    CampaignVariant.objects.filter(campaign=campaign).exclude(label__in=keep).delete()
    for variant in variants:
        row = existing.get(variant["label"])
        if row is None:
            CampaignVariant.objects.create(campaign=campaign, **variant)
        elif (row.template_code, row.split_percent) != (variant["template_code"], variant["split_percent"]):
            row.template_code, row.split_percent = variant["template_code"], variant["split_percent"]
            row.save(update_fields=["template_code", "split_percent"])
    after = {k: _json(v) for k, v in campaign_values(campaign).items() if k != "variants"}
    changes = {k: v for k, v in after.items() if before.get(k) != v or created}
    if current.get("variants") != variants:
        changes["variants"] = variants
    audit_record(
        actor=actor,
        action="create" if created else "update",
        object_type="campaigns.campaign",
        object_id=campaign.pk,
        changes=changes,
    )
    if created:
        event_record(
            name="campaign.created",
            aggregate="campaign",
            aggregate_id=campaign.pk,
            actor_id=actor_id(actor),
            payload={"channel": campaign.channel, "segment_id": campaign.segment_id, "schedule": campaign.schedule},
        )
    else:
        event_record(
            name="campaign.updated",
            aggregate="campaign",
            aggregate_id=campaign.pk,
            actor_id=actor_id(actor),
            payload={"fields": sorted(changes)},
        )
    return campaign


@transaction.atomic
def campaign_delete(*, actor: Actor, campaign: Campaign) -> None:
    """Delete a draft that never sent (test sends aside); a campaign past its draft is cancelled instead."""
    _require(actor, "campaigns.draft")
    campaign = _locked(actor, campaign)
    if campaign.status != S.DRAFT or campaign.runs.filter(is_test=False).exists():
        raise _conflict(_("Only a draft is deleted; cancel a campaign that was submitted."))
    pk = campaign.pk
    audit_record(
        actor=actor, action="delete", object_type="campaigns.campaign", object_id=pk, changes={"name": campaign.name}
    )
    event_record(
        name="campaign.deleted",
        aggregate="campaign",
        aggregate_id=pk,
        actor_id=actor_id(actor),
        payload={"status": campaign.status},
    )
    campaign.delete()


# --- the approval states ------------------------------------------------------------------------------------


def _audit_state(actor: Actor, campaign: Campaign, old: str, **extra: Any) -> None:
    audit_record(
        actor=actor,
        action="update",
        object_type="campaigns.campaign",
        object_id=campaign.pk,
        changes={"status": [old, campaign.status], **extra},
    )


def _next_run_at(campaign: Campaign, now: dt.datetime) -> dt.datetime | None:
    """When an approved campaign first sends: at once (NOW, or a ONCE time already past), its set time, or the
    first occurrence of its series in the campaign's own time zone."""
    from guanxi.campaigns.scheduling import first_occurrence

    return first_occurrence(campaign, now)


@dataclasses.dataclass(frozen=True)
class _Moved:
    """What a state change did besides the status: the other columns it set, and what the audit row and the
    event say about it."""

    fields: tuple[str, ...] = ()
    audit: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class _Step:
    """One change of the approval states: the states it starts from, the states in which it is already done (a
    retry: nothing happens), and the message when the campaign's state refuses it."""

    allowed: tuple[str, ...]
    already: tuple[str, ...]
    refused: Any


_SUBMIT = _Step((S.DRAFT,), (S.PENDING,), _("Only a draft can be submitted for approval."))
_APPROVE = _Step((S.PENDING,), (S.APPROVED,), _("Only a campaign waiting for approval can be approved."))
_REJECT = _Step((S.PENDING,), (), _("Only a campaign waiting for approval can be rejected."))
_PAUSE = _Step(PAUSABLE, (S.PAUSED,), _("Only an approved or sending campaign can be paused."))
_RESUME = _Step((S.PAUSED,), (S.APPROVED, S.RUNNING), _("Only a paused campaign can be resumed."))
_CANCEL = _Step(CANCELLABLE, (S.CANCELLED,), _("A completed campaign cannot be cancelled."))


def _transition(actor: Actor, campaign: Campaign, step: _Step, move: Callable[[Campaign], _Moved]) -> Campaign:
    """One approval-state change, under the campaign's row lock: nothing when it is ``step.already`` done;
    ``CampaignStateConflict`` (``step.refused``) unless its state is ``step.allowed``; else ``move`` checks
    what else it must (it may raise; nothing is written yet), sets the new status and the columns it names, and
    records its event (named there, so the event catalogue test reads it); the campaign is saved with an audit
    row. The caller has checked the actor's role."""
    campaign = _locked(actor, campaign)
    if campaign.status in step.already:
        return campaign
    if campaign.status not in step.allowed:
        raise _conflict(step.refused)
    old = campaign.status
    moved = move(campaign)
    campaign.save(update_fields=["status", *moved.fields, "updated_at"])
    _audit_state(actor, campaign, old, **moved.audit)
    return campaign


@transaction.atomic
def campaign_submit(*, actor: Actor, campaign: Campaign) -> Campaign:
    """draft -> pending: checked again in full (a template may have been deactivated since it was saved)."""
    _require(actor, "campaigns.draft")

    def _move(campaign: Campaign) -> _Moved:
        _clean(actor, campaign_values(campaign), now=timezone.now())
        campaign.status = S.PENDING
        campaign.submitted_by = signed_in(actor)
        event_record(
            name="campaign.submitted",
            aggregate="campaign",
            aggregate_id=campaign.pk,
            actor_id=actor_id(actor),
            payload={"status": campaign.status},
        )
        return _Moved(fields=("submitted_by",))

    return _transition(actor, campaign, _SUBMIT, _move)


@transaction.atomic
def campaign_approve(*, actor: Actor, campaign: Campaign) -> Campaign:
    """pending -> approved, by a manager or admin who did not submit it; sets when it first sends."""
    _require(actor, "campaigns.approve")

    def _move(campaign: Campaign) -> _Moved:
        if actor is not None and campaign.submitted_by_id == actor.pk:
            raise PermissionDenied(_("You submitted this campaign; another manager must approve it."))
        now = timezone.now()
        # the segment may no longer be usable by the approver, a template may be gone, the set time may have passed
        _clean(actor, campaign_values(campaign), now=now)
        campaign.status = S.APPROVED
        campaign.approved_by = signed_in(actor)
        campaign.approved_at = now
        campaign.next_run_at = _next_run_at(campaign, now)
        next_run_at = _json(campaign.next_run_at)
        event_record(
            name="campaign.approved",
            aggregate="campaign",
            aggregate_id=campaign.pk,
            actor_id=actor_id(actor),
            payload={"status": campaign.status, "next_run_at": next_run_at},
        )
        return _Moved(fields=("approved_by", "approved_at", "next_run_at"), audit={"next_run_at": next_run_at})

    return _transition(actor, campaign, _APPROVE, _move)


@transaction.atomic
def campaign_reject(*, actor: Actor, campaign: Campaign, reason: str) -> Campaign:
    """pending -> draft, with the reason (audited, shown on the campaign's page)."""
    _require(actor, "campaigns.approve")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why, so the author can fix it.")]})
    if len(reason) > MAX_REASON:
        raise ValidationError({"reason": [_("Keep the reason under %(n)s characters.") % {"n": MAX_REASON}]})

    def _move(campaign: Campaign) -> _Moved:
        campaign.status = S.DRAFT
        event_record(
            name="campaign.rejected",
            aggregate="campaign",
            aggregate_id=campaign.pk,
            actor_id=actor_id(actor),
            payload={"status": campaign.status},
        )
        return _Moved(audit={"reason": reason})

    return _transition(actor, campaign, _REJECT, _move)


@transaction.atomic
def campaign_pause(*, actor: Actor, campaign: Campaign) -> Campaign:
    """approved or running -> paused; the active run is paused with it (the engine stops between chunks)."""
    _require(actor, "campaigns.draft")

    def _move(campaign: Campaign) -> _Moved:
        runs = CampaignRun.objects.filter(campaign=campaign, is_test=False, status__in=ACTIVE_RUNS).update(
            status=CampaignRun.Status.PAUSED
        )
        campaign.status = S.PAUSED
        event_record(
            name="campaign.paused",
            aggregate="campaign",
            aggregate_id=campaign.pk,
            actor_id=actor_id(actor),
            payload={"status": campaign.status, "runs": runs},
        )
        return _Moved(audit={"runs_paused": runs})

    return _transition(actor, campaign, _PAUSE, _move)


@transaction.atomic
def campaign_resume(*, actor: Actor, campaign: Campaign) -> Campaign:
    """paused -> running (its paused run sends on) or approved (no run had started)."""
    _require(actor, "campaigns.approve")

    def _move(campaign: Campaign) -> _Moved:
        paused = CampaignRun.objects.filter(campaign=campaign, is_test=False, status=CampaignRun.Status.PAUSED)
        # a run that had chosen its recipients sends on; one paused while choosing chooses again
        sending = paused.filter(recipients__gt=0).update(status=CampaignRun.Status.SENDING)
        preparing = paused.update(status=CampaignRun.Status.PREPARING)
        runs = sending + preparing
        campaign.status = S.RUNNING if runs else S.APPROVED
        if sending:  # the engine takes the sending runs up again once this commits (the due sweep would, later)
            from guanxi.campaigns.tasks import campaign_run_task

            sending_runs = CampaignRun.objects.filter(
                campaign=campaign, is_test=False, status=CampaignRun.Status.SENDING
            )
            for run_id in sending_runs.values_list("pk", flat=True):
                campaign_run_task.delay_on_commit(run_id)
        event_record(
            name="campaign.resumed",
            aggregate="campaign",
            aggregate_id=campaign.pk,
            actor_id=actor_id(actor),
            payload={"status": campaign.status, "runs": runs},
        )
        return _Moved(audit={"runs_resumed": runs})

    return _transition(actor, campaign, _RESUME, _move)


@transaction.atomic
def campaign_cancel(*, actor: Actor, campaign: Campaign) -> Campaign:
    """Any state but completed -> cancelled: nothing more is sent; an active or paused run is cancelled."""
    _require(actor, "campaigns.draft")

    def _move(campaign: Campaign) -> _Moved:
        runs = CampaignRun.objects.filter(
            campaign=campaign, is_test=False, status__in=(*ACTIVE_RUNS, CampaignRun.Status.PAUSED)
        ).update(status=CampaignRun.Status.CANCELLED, finished_at=timezone.now())
        campaign.status = S.CANCELLED
        campaign.next_run_at = None
        event_record(
            name="campaign.cancelled",
            aggregate="campaign",
            aggregate_id=campaign.pk,
            actor_id=actor_id(actor),
            payload={"status": campaign.status, "runs": runs},
        )
        return _Moved(fields=("next_run_at",), audit={"runs_cancelled": runs})

    return _transition(actor, campaign, _CANCEL, _move)


# --- test send ----------------------------------------------------------------------------------------------


def _pick(templates: list[MessageTemplate]) -> MessageTemplate:
    by_language = {t.language: t for t in templates}
    return by_language.get(settings.LANGUAGE_CODE) or templates[0]


@transaction.atomic
def campaign_test_send(*, actor: Actor, campaign: Campaign, phones: list[str] | None = None) -> dict[str, Any]:
    """Each variant's message, with sample values, to up to five staff phones (the actor's own when none is
    given), through messaging's queue and provider. A test run (``is_test``) records it; no customer, no
    recipient row, no result is touched, and no consent applies (the phones are staff's)."""
    _require(actor, "campaigns.draft")
    campaign = _locked(actor, campaign)
    if campaign.status not in TESTABLE:
        raise _conflict(_("A %(status)s campaign sends no tests.") % {"status": campaign.get_status_display()})
    if campaign.channel != Campaign.Channel.SMS:
        raise ValidationError({"channel": [_("Test sends go to phones: only SMS campaigns are tested this way.")]})
    raw = [str(p).strip() for p in (phones or []) if str(p).strip()]
    if not raw:
        own = getattr(actor, "phone", "") or ""
        if not own:
            raise ValidationError({"phones": [_("Give a phone number, or add yours to your profile.")]})
        raw = [own]
    if len(raw) > MAX_TEST_PHONES:
        raise ValidationError({"phones": [_("At most %(n)s phones.") % {"n": MAX_TEST_PHONES}]})
    numbers: list[str] = []
    for value in raw:
        try:
            number = normalize_phone(value)
        except ValidationError:
            raise ValidationError(
                {"phones": [_("“%(value)s” is not a valid phone number.") % {"value": value[:32]}]}
            ) from None
        if number not in numbers:
            numbers.append(number)
    variants = list(campaign.variants.order_by("label"))
    templates: dict[str, list[MessageTemplate]] = {}
    for template in MessageTemplate.objects.filter(
        code__in=[v.template_code for v in variants], channel=campaign.channel, is_active=True
    ):
        templates.setdefault(template.code, []).append(template)
    missing = [v.label for v in variants if v.template_code not in templates]
    if missing:
        raise ValidationError(
            {"variants": [_("Variant %(labels)s has no active template.") % {"labels": ", ".join(missing)}]}
        )
    now = timezone.now()
    run = CampaignRun.objects.create(
        campaign=campaign,
        occurrence=now,
        is_test=True,
        status=CampaignRun.Status.DONE,
        started_at=now,
        finished_at=now,
    )
    batch_ref = f"campaign-test-{run.pk}"
    sample = _sample()
    sample["name"] = getattr(actor, "get_full_name", lambda: "")() or getattr(actor, "username", "") or sample["name"]
    rows = []
    for variant in variants:
        template = _pick(templates[variant.template_code])
        body = sms_compose(render(template.body, sample), purpose=template.purpose)
        for number in numbers:
            rows.append(
                {
                    "customer_id": None,
                    "channel": campaign.channel,
                    "purpose": template.purpose,
                    "template_id": template.pk,
                    "template_code": template.code,
                    "provider_template_code": template.provider_template_code
                    or settings.GUANXI_SMS_TEMPLATE_CODES.get(template.code, ""),
                    "language": template.language,
                    "subject": "",
                    "body": body,
                    "params": {name: str(sample.get(name, "")) for name in variables_in(template.body)},
                    "segments": sms_segments(body),
                    "to_address": number,
                    "to_index": contact_indexes("phone", number)[0],
                    "to_masked": mask_value("phone", number),
                    "status": "queued",
                    "reason": "",
                    "dedupe_key": f"{batch_ref}:{variant.label}:{number}:{uuid.uuid4().hex[:8]}",
                    "batch_ref": batch_ref,
                    "next_attempt_at": now,
                    "created_by_id": actor_id(actor),
                }
            )
    from guanxi.messaging.db import messages_insert
    from guanxi.messaging.tasks import messages_dispatch_task

    messages_insert(rows)
    masked = [mask_value("phone", n) for n in numbers]
    audit_record(
        actor=actor,
        action="create",
        object_type="campaigns.test_send",
        object_id=campaign.pk,
        channel=campaign.channel,
        changes={"to": masked, "messages": len(rows), "run": run.pk, "batch_ref": batch_ref},
    )
    event_record(
        name="campaign.test_sent",
        aggregate="campaign",
        aggregate_id=campaign.pk,
        actor_id=actor_id(actor),
        payload={"run_id": run.pk, "messages": len(rows)},
    )
    messages_dispatch_task.delay_on_commit(batch_ref=batch_ref)
    return {"run_id": run.pk, "batch_ref": batch_ref, "messages": len(rows), "to": masked}


# --- test sends on every channel ----------------------------------------------------------------------------

#: A WeChat OpenID as the Official Account gives it (28 characters today; bounded loosely).
_OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")


def _test_address(channel: str, value: str) -> str:
    """A staff address for a test send on ``channel`` (e-mail, WeChat OpenID), normalised; a named error if not."""
    if channel == Campaign.Channel.EMAIL:
        try:
            return normalize_email(value)
        except ValidationError:
            message = _("“%(value)s” is not a valid e-mail address.")
    elif _OPENID.match(value):
        return value
    else:
        message = _("“%(value)s” is not a WeChat OpenID (letters, digits, - and _).")
    raise ValidationError({"addresses": [message % {"value": value[:64]}]})


@transaction.atomic
def campaign_test_send_to(*, actor: Actor, campaign: Campaign, addresses: list[str] | None = None) -> dict[str, Any]:
    """A test send on the campaign's own channel: SMS to staff phones (``campaign_test_send``), e-mail to staff
    addresses (the actor's own e-mail when none is given) or a WeChat service notice to staff OpenIDs. Each
    variant's message with sample values, through messaging's queue and provider, recorded on a test run like
    the SMS test; no customer, consent, recipient row or result is touched. Bad addresses answer a
    ValidationError naming ``addresses`` (``phones`` for SMS) and nothing is written."""
    if campaign.channel == Campaign.Channel.SMS:
        return campaign_test_send(actor=actor, campaign=campaign, phones=addresses)
    _require(actor, "campaigns.draft")
    campaign = _locked(actor, campaign)
    if campaign.status not in TESTABLE:
        raise _conflict(_("A %(status)s campaign sends no tests.") % {"status": campaign.get_status_display()})
    channel = campaign.channel
    if channel not in (Campaign.Channel.EMAIL, Campaign.Channel.WECHAT):
        raise ValidationError({"channel": [_("A call list sends no messages: there is nothing to test.")]})
    raw = [str(a).strip() for a in (addresses or []) if str(a).strip()]
    if not raw:
        own = (getattr(actor, "email", "") or "") if channel == Campaign.Channel.EMAIL else ""
        if not own:
            if channel == Campaign.Channel.EMAIL:
                raise ValidationError({"addresses": [_("Give an e-mail address, or add yours to your profile.")]})
            raise ValidationError({"addresses": [_("Give the WeChat OpenID of at least one staff member.")]})
        raw = [own]
    if len(raw) > MAX_TEST_PHONES:
        raise ValidationError({"addresses": [_("At most %(n)s addresses.") % {"n": MAX_TEST_PHONES}]})
    targets: list[str] = []
    for value in raw:
        address = _test_address(channel, value)
        if address not in targets:
            targets.append(address)
    variants = list(campaign.variants.order_by("label"))
    templates: dict[str, list[MessageTemplate]] = {}
    for template in MessageTemplate.objects.filter(
        code__in=[v.template_code for v in variants], channel=channel, is_active=True
    ):
        templates.setdefault(template.code, []).append(template)
    missing = [v.label for v in variants if v.template_code not in templates]
    if missing:
        raise ValidationError(
            {"variants": [_("Variant %(labels)s has no active template.") % {"labels": ", ".join(missing)}]}
        )
    now = timezone.now()
    run = CampaignRun.objects.create(
        campaign=campaign, occurrence=now, is_test=True, status=CampaignRun.Status.DONE, started_at=now, finished_at=now
    )
    batch_ref = f"campaign-test-{run.pk}"
    sample = _sample()
    sample["name"] = getattr(actor, "get_full_name", lambda: "")() or getattr(actor, "username", "") or sample["name"]
    kind = MESSAGE_CONTACT_KIND[MessageChannel(channel)]
    provider_codes = settings.GUANXI_WECHAT_TEMPLATE_IDS if channel == Campaign.Channel.WECHAT else {}
    rows = []
    for variant in variants:
        template = _pick(templates[variant.template_code])
        body = render(template.body, sample)
        for address in targets:
            rows.append(
                {
                    "customer_id": None,
                    "channel": channel,
                    "purpose": template.purpose,
                    "template_id": template.pk,
                    "template_code": template.code,
                    "provider_template_code": template.provider_template_code or provider_codes.get(template.code, ""),
                    "language": template.language,
                    "subject": render(template.subject, sample)[:200],
                    "body": body,
                    "params": {name: str(sample.get(name, "")) for name in variables_in(template.body)},
                    "segments": 1,
                    "to_address": address,
                    "to_index": contact_indexes(kind, address)[0],
                    "to_masked": mask_value(kind, address),
                    "status": "queued",
                    "reason": "",
                    "dedupe_key": f"{batch_ref}:{variant.label}:{uuid.uuid4().hex[:12]}",
                    "batch_ref": batch_ref,
                    "next_attempt_at": now,
                    "created_by_id": actor_id(actor),
                }
            )
    from guanxi.messaging.db import messages_insert
    from guanxi.messaging.tasks import messages_dispatch_task

    messages_insert(rows)
    masked = [mask_value(kind, a) for a in targets]
    audit_record(
        actor=actor,
        action="create",
        object_type="campaigns.test_send",
        object_id=campaign.pk,
        channel=channel,
        changes={"to": masked, "messages": len(rows), "run": run.pk, "batch_ref": batch_ref},
    )
    event_record(
        name="campaign.test_sent",
        aggregate="campaign",
        aggregate_id=campaign.pk,
        actor_id=actor_id(actor),
        payload={"run_id": run.pk, "messages": len(rows), "channel": channel},
    )
    messages_dispatch_task.delay_on_commit(batch_ref=batch_ref)
    return {"run_id": run.pk, "batch_ref": batch_ref, "messages": len(rows), "to": masked}


# --- the global hold-out ------------------------------------------------------------------------------------

#: The global hold-out's bounds (its model's validators): a share of every customer no campaign reaches.
GLOBAL_HOLDOUT_MAX = Decimal("20")


def global_holdout_current() -> GlobalHoldout:
    """The one row, or (before anyone set it) an unsaved one at its defaults: 0%, leaving nobody out."""
    return GlobalHoldout.objects.order_by("pk").first() or GlobalHoldout()


@transaction.atomic
def global_holdout_update(*, actor: Actor, data: dict[str, Any]) -> GlobalHoldout:
    """Set the global hold-out: ``percent`` (a decimal 0 to 20, two places), ``enabled`` (on/off) and
    ``reshuffle`` (true: draw a new group, a new salt; only on this explicit request). Managers and admins
    (``campaigns.approve``). Validated in full first: a bad value names its field and nothing is written.
    Audited with the values before and after; an unchanged submission writes nothing."""
    _require(actor, "campaigns.approve")
    errors: dict[str, list[Any]] = {}
    holdout = GlobalHoldout.objects.select_for_update().order_by("pk").first() or GlobalHoldout.objects.create()
    percent = holdout.percent
    raw = data.get("percent")
    if raw is not None and raw != "":
        if isinstance(raw, float | bool):
            errors["percent"] = [_("Enter the percentage as a decimal string, e.g. “5.00”.")]
        else:
            try:
                percent = Decimal(str(raw).strip())
                if not percent.is_finite():
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                errors["percent"] = [_("Enter a number.")]
            else:
                if not Decimal("0") <= percent <= GLOBAL_HOLDOUT_MAX:
                    errors["percent"] = [_("The global hold-out is 0 to %(max)s percent.") % {"max": 20}]
                elif percent != percent.quantize(Decimal("0.01")):
                    errors["percent"] = [_("At most two decimal places.")]
    elif "percent" in data:
        errors["percent"] = [_("This field is required.")]
    enabled = holdout.enabled
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            errors["enabled"] = [_("Answer true or false.")]
        else:
            enabled = data["enabled"]
    reshuffle = data.get("reshuffle", False)
    if not isinstance(reshuffle, bool):
        errors["reshuffle"] = [_("Answer true or false.")]
    if errors:
        raise ValidationError(errors)
    percent = percent.quantize(Decimal("0.01"))
    changes: dict[str, list[Any]] = {}
    if percent != holdout.percent:
        changes["percent"] = [str(Decimal(holdout.percent).quantize(Decimal("0.01"))), str(percent)]
    if enabled != holdout.enabled:
        changes["enabled"] = [holdout.enabled, enabled]
    if reshuffle:
        changes["salt"] = ["…", "…"]  # the salt itself is not worth recording: that it changed is
    if not changes:
        return holdout
    holdout.percent, holdout.enabled = percent, enabled
    if reshuffle:
        holdout.salt = uuid.uuid4().hex
    holdout.save()
    audit_record(
        actor=actor, action="update", object_type="campaigns.global_holdout", object_id=holdout.pk, changes=changes
    )
    event_record(
        name="campaign.global_holdout_changed",
        aggregate="global_holdout",
        aggregate_id=holdout.pk,
        actor_id=actor_id(actor),
        payload={"percent": str(percent), "enabled": enabled, "reshuffled": bool(reshuffle)},
    )
    return holdout
