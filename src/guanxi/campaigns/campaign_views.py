"""Campaign pages: the list, the draft form (with its variants), the detail page with the state actions,
and the approval view with the pre-send report. Thin: services decide, selectors read."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts.permissions import can, require, signed_in
from guanxi.campaigns import campaign_selectors as selectors
from guanxi.campaigns import services
from guanxi.campaigns.forms import WEEKDAYS, CampaignForm, RejectForm, TestSendForm, variant_formset, variants_from
from guanxi.campaigns.models import Campaign
from guanxi.campaigns.results import campaign_headline, campaigns_headlines
from guanxi.core.forms import error_lines, form_labels
from guanxi.core.models import AuditLog
from guanxi.messaging.models import MessageTemplate


def _campaign(request: HttpRequest, pk: int) -> Campaign:
    try:
        return selectors.campaign_get(request.user, pk)
    except Campaign.DoesNotExist:
        raise Http404 from None


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    require(request.user, "campaigns.view")
    status = request.GET.get("status", "")
    if status not in Campaign.Status.values:
        status = ""
    campaigns = list(selectors.campaign_list(request.user, status=status)[:200])
    uplift: dict[int, Any] = {
        pk: headline.text for pk, headline in campaigns_headlines([c.pk for c in campaigns]).items()
    }  # one query for the page
    for campaign in campaigns:
        campaign.schedule_text = schedule_text(campaign)  # type: ignore[attr-defined]
        campaign.uplift = uplift.get(campaign.pk)  # type: ignore[attr-defined]
    return render(
        request,
        "campaigns/campaign_list.html",
        {
            "campaigns": campaigns,
            "status": status,
            "statuses": Campaign.Status.choices,
            "can_draft": can(request.user, "campaigns.draft"),
            "uplift": uplift,
        },
    )


def schedule_text(campaign: Campaign) -> str:
    """The schedule as people say it: "at once when approved", "2026-03-03 10:00", "every Monday 10:00"."""
    Sched = Campaign.Schedule
    when = campaign.send_time.strftime("%H:%M") if campaign.send_time else ""
    if campaign.schedule == Sched.ONCE and campaign.starts_at:
        return timezone.localtime(campaign.starts_at).strftime("%Y-%m-%d %H:%M")
    if campaign.schedule == Sched.WEEKLY and campaign.weekday is not None:
        return _("every %(weekday)s %(time)s") % {"weekday": WEEKDAYS[campaign.weekday][1], "time": when}
    if campaign.schedule == Sched.MONTHLY and campaign.day_of_month:
        return _("day %(day)s of every month, %(time)s") % {"day": campaign.day_of_month, "time": when}
    return str(campaign.get_schedule_display())


def _template_hints() -> list[dict[str, Any]]:
    hints = []
    for template in MessageTemplate.objects.filter(is_active=True).order_by("code", "channel", "language"):
        hints.append({"template": template, **services.template_hint(template)})
    return hints


def _put_errors(exc: ValidationError, form: Any, formset: Any, rows: list[dict[str, Any]]) -> list[str]:
    """The service's field-named errors under the form's fields and the variant rows; the rest as lines."""
    rest: dict[str, list[Any]] = {}
    for key, messages in exc.message_dict.items():
        if key.startswith("variants[") and "]." in key:
            position = int(key[len("variants[") : key.index("]")])
            field = key[key.index("].") + 2 :]
            if position < len(rows) and field in ("template_code", "split_percent"):
                formset.forms[rows[position]["form_index"]].add_error(field, messages)
                continue
        if key in form.fields:
            form.add_error(key, messages)
        else:
            rest[key] = messages
    return error_lines(rest, {"variants": _("Variants"), **form_labels(form)})


@login_required
def campaign_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    require(request.user, "campaigns.draft")
    campaign = _campaign(request, pk) if pk else None
    if campaign is not None and campaign.status != Campaign.Status.DRAFT:
        flash.error(request, _("Only a draft can be changed."))
        return redirect("campaigns:campaign_detail", campaign.pk)
    initial: dict[str, Any] = {}
    variants_initial: list[dict[str, Any]] = [{"template_code": "", "split_percent": 100}]
    if campaign is not None:
        initial = services.campaign_values(campaign)
        variants_initial = [
            {"template_code": v["template_code"], "split_percent": v["split_percent"]} for v in initial.pop("variants")
        ]
    form = CampaignForm(request.POST or None, initial=initial, user=request.user)
    formset = variant_formset(request.POST or None, initial=variants_initial)
    problems: list[str] = []
    if request.method == "POST":
        form_ok, formset_ok = form.is_valid(), formset.is_valid()
        if form_ok and formset_ok:
            rows = variants_from(formset)
            data = form.service_data()
            data["variants"] = [{k: v for k, v in row.items() if k != "form_index"} for row in rows]
            try:
                campaign = services.campaign_save(actor=signed_in(request.user), campaign=campaign, data=data)
            except Campaign.DoesNotExist:
                raise Http404 from None
            except ValidationError as exc:
                problems = _put_errors(exc, form, formset, rows)
            else:
                flash.success(request, _("Saved."))
                return redirect("campaigns:campaign_detail", campaign.pk)
        problems += [str(e) for e in formset.non_form_errors()]
    return render(
        request,
        "campaigns/campaign_form.html",
        {"campaign": campaign, "form": form, "formset": formset, "problems": problems, "hints": _template_hints()},
    )


def _history(campaign: Campaign) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(
            object_type__in=("campaigns.campaign", "campaigns.test_send"), object_id=str(campaign.pk)
        )
        .select_related("actor")
        .order_by("-at", "-id")[:100]
    )


def _context(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    user = request.user
    S = Campaign.Status
    may_draft, may_approve = can(user, "campaigns.draft"), can(user, "campaigns.approve")
    return {
        "campaign": campaign,
        "variants": list(campaign.variants.all()),
        "runs": selectors.campaign_runs(campaign),
        "history": _history(campaign),
        "reject_form": RejectForm(),
        "test_form": TestSendForm(),
        "may": {
            "edit": may_draft and campaign.status == S.DRAFT,
            "submit": may_draft and campaign.status == S.DRAFT,
            "approve": may_approve and campaign.status == S.PENDING and campaign.submitted_by_id != user.pk,
            "reject": may_approve and campaign.status == S.PENDING,
            "pause": may_draft and campaign.status in services.PAUSABLE,
            "resume": may_approve and campaign.status == S.PAUSED,
            "cancel": may_draft and campaign.status in services.CANCELLABLE,
            "test": may_draft and campaign.status in services.TESTABLE and campaign.channel != Campaign.Channel.CALL,
        },
        "own_submission": campaign.status == S.PENDING and campaign.submitted_by_id == user.pk,
        "schedule_text": schedule_text(campaign),
        "uplift": (lambda h: h.text if h else None)(campaign_headline(campaign)),
    }


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    return render(request, "campaigns/campaign_detail.html", _context(request, campaign))


#: The pre-send report's entries the approval page lays out by name.
def _preflight(campaign: Campaign, user: Any) -> dict[str, Any]:
    """The send engine's pre-send report, laid out for the page: who is drawn where, who would not get a
    message and why (in words), segments and cost."""
    from guanxi.campaigns.run import COUPON_BUDGET, COUPON_LIMIT, campaign_preflight
    from guanxi.messaging.services import reason_label

    report = campaign_preflight(campaign, user=user)
    coupon_reasons = {
        COUPON_LIMIT: _("the customer already holds the most coupons of this kind"),
        COUPON_BUDGET: _("the coupon budget is used up"),
    }
    return {
        "audience": report.audience,
        "global_holdout": report.global_holdout,
        "control": report.control,
        "messages": report.messages,
        "cost": report.cost,
        "price": report.price,
        "variants": [
            {
                "label": label,
                "drawn": drawn,
                "sendable": report.sendable.get(label, 0),
                "segments": report.segments.get(label, 1),
            }
            for label, drawn in sorted(report.variants.items())
        ],
        "suppressed": sorted(
            ((str(coupon_reasons.get(reason) or reason_label(reason)), n) for reason, n in report.suppressed.items()),
            key=lambda item: -item[1],
        ),
    }


@login_required
def campaign_review(request: HttpRequest, pk: int) -> HttpResponse:
    """The approval view: the campaign, and what sending it now would do."""
    campaign = _campaign(request, pk)
    context = _context(request, campaign)
    context["preflight"] = _preflight(campaign, request.user)
    return render(request, "campaigns/campaign_review.html", context)


def _act(request: HttpRequest, pk: int, function: Any, done: str, **kwargs: Any) -> HttpResponse:
    campaign = _campaign(request, pk)
    try:
        function(actor=signed_in(request.user), campaign=campaign, **kwargs)
    except Campaign.DoesNotExist:
        raise Http404 from None
    except PermissionDenied as exc:
        flash.error(request, str(exc) or _("You may not do this."))
    except ValidationError as exc:
        labels = {
            "status": _("Status"),
            "reason": _("Reason"),
            "phones": _("Staff phones"),
            "addresses": _("Staff addresses"),
        }
        for line in error_lines(exc, labels):
            flash.error(request, line)
    else:
        flash.success(request, done)
    return redirect("campaigns:campaign_detail", campaign.pk)


@login_required
@require_POST
def campaign_submit(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.campaign_submit, _("Submitted for approval."))


@login_required
@require_POST
def campaign_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.campaign_approve, _("Approved."))


@login_required
@require_POST
def campaign_reject(request: HttpRequest, pk: int) -> HttpResponse:
    form = RejectForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _act(request, pk, services.campaign_reject, _("Sent back to the author as a draft."), reason=reason)


@login_required
@require_POST
def campaign_pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.campaign_pause, _("Paused."))


@login_required
@require_POST
def campaign_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.campaign_resume, _("Resumed."))


@login_required
@require_POST
def campaign_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.campaign_cancel, _("Cancelled."))


@login_required
@require_POST
def campaign_test_send(request: HttpRequest, pk: int) -> HttpResponse:
    form = TestSendForm(request.POST)
    addresses = form.address_list() if form.is_valid() else ["-"]
    return _act(request, pk, services.campaign_test_send_to, _("Test messages queued."), addresses=addresses)
