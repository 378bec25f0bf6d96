"""Care pages: the rules list, the care calendar of a week, and "my tasks" with outcome buttons. Thin."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts.permissions import can, require, signed_in
from guanxi.care import selectors, services
from guanxi.care.forms import STEPS_EDITOR, PlanForm, RuleForm, new_row_key, step_row_form
from guanxi.care.models import CarePlan, CareRule, CareTask
from guanxi.care.run import local_today
from guanxi.core.forms import error_lines, form_labels


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    require(request.user, "care.view")
    rules = list(selectors.rule_list(request.user)[:200])
    return render(
        request,
        "care/rule_list.html",
        {"rules": rules, "can_manage": can(request.user, "care.manage")},
    )


@login_required
def my_tasks(request: HttpRequest) -> HttpResponse:
    if not (can(request.user, "care.tasks") or can(request.user, "care.view")):
        raise PermissionDenied
    tasks = list(selectors.task_list(request.user, status=CareTask.Status.OPEN, mine=True)[:200])
    return render(request, "care/my_tasks.html", {"tasks": tasks, "outcomes": CareTask.Outcome.choices})


@login_required
@require_POST
def task_complete_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        task = selectors.tasks_visible_to(request.user).get(pk=pk)
    except CareTask.DoesNotExist:
        raise Http404 from None
    try:
        services.task_complete(
            actor=request.user, task=task, outcome=request.POST.get("outcome", ""), note=request.POST.get("note", "")
        )
        flash.success(request, _("Outcome logged."))
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
    return redirect(request.POST.get("next") or "care:my_tasks")


def _store_choice(request: HttpRequest, stores: list) -> int | None:
    try:
        store_id = int(request.GET.get("store") or 0) or None
    except ValueError:
        store_id = None
    return store_id if store_id in {s.pk for s in stores} else None


@login_required
def calendar(request: HttpRequest) -> HttpResponse:
    if not (can(request.user, "care.tasks") or can(request.user, "care.view")):
        raise PermissionDenied
    today = local_today()
    try:
        start = dt.date.fromisoformat(request.GET.get("week", ""))
    except ValueError:
        start = today - dt.timedelta(days=today.weekday())
    stores = selectors.calendar_stores(request.user)
    store_id = _store_choice(request, stores)
    data = selectors.week_calendar(request.user, start=start, store_id=store_id)
    occasions = selectors.week_occasions(request.user, start=start, store_id=store_id)
    days = [start + dt.timedelta(days=i) for i in range(7)]
    by_day = {
        d: {
            "tasks": [t for t in data["tasks"] if t.due_on == d],
            "fired": [o for o in data["fired"] if o.occurred_on == d],
            "occasions": occasions.get(d, []),
        }
        for d in days
    }
    gestures = [(value, label) for value, label in CareTask.Outcome.choices if value in services.GESTURES]
    return render(
        request,
        "care/calendar.html",
        {
            "days": [(d, by_day[d]) for d in days],
            "start": start,
            "previous": start - dt.timedelta(days=7),
            "next": start + dt.timedelta(days=7),
            "outcomes": CareTask.Outcome.choices,
            "gestures": gestures,
            "stores": stores if len(stores) > 1 else [],
            "store_id": store_id,
            "today": today,
        },
    )


@login_required
@require_POST
def gesture_log_view(request: HttpRequest) -> HttpResponse:
    try:
        day = dt.date.fromisoformat(request.POST.get("day", ""))
        customer_id = int(request.POST.get("customer", ""))
    except ValueError:
        raise Http404 from None
    try:
        services.gesture_log(
            actor=request.user,
            customer=customer_id,
            occasion=request.POST.get("occasion", ""),
            day=day,
            outcome=request.POST.get("outcome", ""),
            note=request.POST.get("note", ""),
        )
        flash.success(request, _("Outcome logged."))
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
    back = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})
    return redirect(back if back and safe else "care:calendar")


def _rule(request: HttpRequest, pk: int) -> CareRule:
    try:
        return selectors.rule_get(request.user, pk)
    except CareRule.DoesNotExist:
        raise Http404 from None


@login_required
def rule_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    require(request.user, "care.manage")
    rule = _rule(request, pk) if pk is not None else None
    problems: list[str] = []
    if request.method == "POST":
        form = RuleForm(request.POST)
        if form.is_valid():
            try:
                saved = services.rule_save(actor=signed_in(request.user), rule=rule, data=dict(form.cleaned_data))
            except ValidationError as exc:
                problems = error_lines(exc, form_labels(form))
            else:
                flash.success(request, _("Rule saved."))
                return redirect("care:rule_detail", saved.pk)
    else:
        initial = services.rule_values(rule) if rule is not None else {}
        form = RuleForm(initial=initial)
    return render(
        request,
        "care/rule_form.html",
        {"form": form, "rule": rule, "problems": problems, "steps_editor": STEPS_EDITOR},
    )


@login_required
def trigger_params(request: HttpRequest) -> HttpResponse:
    """The parameters of the trigger chosen in the rule form (htmx swaps them in when the trigger changes)."""
    require(request.user, "care.manage")
    form = RuleForm(initial={"trigger_key": request.GET.get("trigger_key", "")})
    return render(request, "care/_trigger_params.html", {"form": form})


@login_required
def step_row(request: HttpRequest) -> HttpResponse:
    """One step row of the rule form: a new one (the add button) or one whose kind changed (htmx swaps it)."""
    require(request.user, "care.manage")
    n = request.GET.get("n", "")
    if not (n.isalnum() and len(n) <= 16):
        n = new_row_key()
    kind = request.GET.get(f"s{n}_kind") or request.GET.get("kind") or "care.task"
    return render(request, "care/_step_row.html", {"row": step_row_form(n, kind)})


@login_required
def step_row_remove(request: HttpRequest) -> HttpResponse:
    """Nothing: htmx swaps the removed row for it."""
    require(request.user, "care.manage")
    return HttpResponse("")


@login_required
def rule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.user, "care.view")
    rule = _rule(request, pk)
    preview = services.rule_preview(rule, user=request.user, days=30)
    occurrences = list(rule.occurrences.select_related("customer").order_by("-occurred_on", "-id")[:50])
    return render(
        request,
        "care/rule_detail.html",
        {"rule": rule, "preview": preview, "occurrences": occurrences, "can_manage": can(request.user, "care.manage")},
    )


@login_required
@require_POST
def rule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.user, "care.manage")
    rule = _rule(request, pk)
    try:
        services.rule_set_active(actor=signed_in(request.user), rule=rule, active=not rule.active)
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
    return redirect("care:rule_detail", rule.pk)


@login_required
def plan_list(request: HttpRequest) -> HttpResponse:
    require(request.user, "care.view")
    today = local_today()
    plans = list(selectors.plans_with_spend(request.user, year=today.year)[:200])
    return render(
        request,
        "care/plan_list.html",
        {"plans": plans, "year": today.year, "can_manage": can(request.user, "care.manage")},
    )


@login_required
def plan_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A plan's detail: managers edit it (care.manage); whoever sees care reads it."""
    require(request.user, "care.view")
    manage = can(request.user, "care.manage")
    plan: CarePlan | None = None
    if pk is not None:
        try:
            plan = selectors.plans_with_spend(request.user, year=local_today().year).get(pk=pk)
        except CarePlan.DoesNotExist:
            raise Http404 from None
    elif not manage:
        raise PermissionDenied
    problems: list[str] = []
    if request.method == "POST":
        if not manage:
            raise PermissionDenied
        form = PlanForm(request.POST)
        if form.is_valid():
            try:
                saved = services.plan_save(actor=signed_in(request.user), plan=plan, data=dict(form.cleaned_data))
            except ValidationError as exc:
                problems = error_lines(exc, form_labels(form))
            else:
                flash.success(request, _("Care plan saved."))
                return redirect("care:plan_detail", saved.pk)
    else:
        initial = (
            {
                "name": plan.name,
                "tier": plan.tier_id,
                "budget_per_customer": plan.budget_per_customer,
                "budget_total": plan.budget_total,
                "active": plan.active,
            }
            if plan is not None
            else {}
        )
        form = PlanForm(initial=initial, read_only=not manage)
    rules = (
        list(selectors.rules_visible_to(request.user).filter(plan=plan).order_by("-priority", "id")[:200])
        if plan
        else []
    )
    return render(
        request,
        "care/plan_form.html",
        {"form": form, "plan": plan, "rules": rules, "problems": problems, "can_manage": manage},
    )
