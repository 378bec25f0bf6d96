"""Staff pages of loyalty: the 360 panel with counter actions, and the program configuration pages."""

from __future__ import annotations

import uuid

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts.permissions import can, can_change, require
from guanxi.core.forms import error_lines, form_error_lines, model_labels
from guanxi.core.templatetags.money import format_money
from guanxi.customers.models import Customer
from guanxi.loyalty import selectors, services
from guanxi.loyalty.forms import (
    AdjustForm,
    CouponTemplateForm,
    IssueForm,
    ProgramForm,
    RedeemForm,
    TierForm,
    TopUpForm,
    TopUpRuleForm,
)
from guanxi.loyalty.models import CouponTemplate, Membership, ProgramSettings, Tier, TopUpRule

#: The counter forms of the 360 panel, by the name their refused input is kept under.
PANEL_FORMS = {"topup": TopUpForm, "redeem": RedeemForm, "adjust": AdjustForm, "issue": IssueForm}
#: The session key holding the input the last counter action refused, to show it again with the errors inline.
REFUSED = "loyalty.refused"


def _refused_form(request, name: str, default):
    """The panel's form ``name``: again with what was typed and its errors if the last try was refused."""
    refused = request.session.get(REFUSED) if hasattr(request, "session") else None
    if not refused or refused.get("form") != name:
        return default()
    del request.session[REFUSED]
    form = PANEL_FORMS[name](refused["data"])
    form.is_valid()
    for field, messages in refused["errors"].items():
        key = field if field in form.fields else None
        if messages and messages[0] not in (form.errors.get(key or "__all__") or []):
            form.add_error(key, messages)
    return form


def customer_panel_context(request, customer) -> dict:
    """Five queries whatever the history: membership (+tier, points, wallet), statements, coupons."""
    membership = (
        Membership.objects.select_related("tier", "points", "wallet", "store").filter(customer=customer).first()
    )
    context = {"customer": customer, "membership": membership, "can_manage": can(request.user, "loyalty.manage")}
    if membership is None:
        return context
    context.update(
        points_entries=list(selectors.points_entries(membership=membership)[:10]),
        wallet_entries=list(selectors.wallet_entries(membership=membership)[:10]),
        coupons=list(selectors.coupon_list(user=request.user, customer_id=customer.pk).filter(status="issued")[:20]),
        tiers=list(selectors.tiers()),
        topup_form=_refused_form(
            request, "topup", lambda: TopUpForm(initial={"reference": f"counter-{uuid.uuid4().hex[:12]}"})
        ),
        redeem_form=_refused_form(
            request, "redeem", lambda: RedeemForm(initial={"reference": f"gift-{uuid.uuid4().hex[:12]}"})
        ),
        adjust_form=_refused_form(request, "adjust", AdjustForm),
        issue_form=_refused_form(request, "issue", IssueForm),
        review_months=services.program().tier_review_months,
    )
    return context


def _customer(request, customer_id: int) -> Customer:
    return get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)


def _membership(request, customer_id: int) -> Membership:
    customer = _customer(request, customer_id)
    return get_object_or_404(Membership, customer=customer)


def _back(customer_id: int):
    return redirect("customers:customer", customer_id)


def _errors(request, exc: ValidationError, labels: dict | None = None) -> None:
    """A refusal as flash messages naming each field by its label ("积分：…"), never by its code."""
    for line in error_lines(exc, labels if labels is not None else model_labels(Membership)):
        flash.error(request, line)


def _refuse(request, name: str, form, exc: ValidationError | None = None) -> None:
    """Keep what was typed and why it was refused for the panel to show inline, and say so in a flash."""
    if exc is not None:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        for field, messages in errors.items():
            if field in form.fields:
                form.add_error(field, messages)
            else:
                form.add_error(None, error_lines({field: messages}, model_labels(Membership)))
    request.session[REFUSED] = {
        "form": name,
        "data": {key: request.POST.get(key, "") for key in form.fields},
        "errors": {field: [str(m) for m in messages] for field, messages in form.errors.items()},
    }
    for line in form_error_lines(form):
        flash.error(request, line)


@login_required
@require_POST
def enrol(request, customer_id: int):
    customer = _customer(request, customer_id)
    try:
        services.member_enrol(actor=request.user, customer=customer, invite_code=request.POST.get("invite_code", ""))
        flash.success(request, _("The customer is now a member."))
    except ValidationError as exc:
        _errors(request, exc)
    return _back(customer_id)


@login_required
@require_POST
def top_up(request, customer_id: int):
    membership = _membership(request, customer_id)
    form = TopUpForm(request.POST)
    if form.is_valid():
        try:
            entry, created = services.wallet_top_up(
                actor=request.user,
                membership=membership,
                amount=str(form.cleaned_data["amount"]),
                reference=form.cleaned_data["reference"],
                store=membership.store,
            )
            flash.success(
                request,
                _("Topped up %(p)s (bonus %(b)s).")
                % {"p": format_money(entry.principal), "b": format_money(entry.bonus)}
                if created
                else _("This top-up was already recorded."),
            )
        except ValidationError as exc:
            _refuse(request, "topup", form, exc)
    else:
        _refuse(request, "topup", form)
    return _back(customer_id)


@login_required
@require_POST
def redeem(request, customer_id: int):
    membership = _membership(request, customer_id)
    form = RedeemForm(request.POST)
    if form.is_valid():
        try:
            services.points_redeem(
                actor=request.user,
                membership=membership,
                points=form.cleaned_data["points"],
                reference=form.cleaned_data["reference"],
                reason=form.cleaned_data["reason"],
            )
            flash.success(request, _("Points redeemed."))
        except ValidationError as exc:
            _refuse(request, "redeem", form, exc)
    else:
        _refuse(request, "redeem", form)
    return _back(customer_id)


@login_required
@require_POST
def adjust(request, customer_id: int):
    require(request.user, "loyalty.manage")
    membership = _membership(request, customer_id)
    form = AdjustForm(request.POST)
    if form.is_valid():
        try:
            services.points_adjust(
                actor=request.user,
                membership=membership,
                points=form.cleaned_data["points"],
                reason=form.cleaned_data["reason"],
            )
            flash.success(request, _("Points adjusted."))
        except ValidationError as exc:
            _refuse(request, "adjust", form, exc)
    else:
        _refuse(request, "adjust", form)
    return _back(customer_id)


@login_required
@require_POST
def issue(request, customer_id: int):
    require(request.user, "loyalty.manage")
    customer = _customer(request, customer_id)
    form = IssueForm(request.POST)
    if form.is_valid():
        try:
            services.coupon_issue(
                actor=request.user, template=form.cleaned_data["template"], customer_ids=[customer.pk]
            )
            flash.success(request, _("Coupon issued."))
        except ValidationError as exc:
            _refuse(request, "issue", form, exc)
    else:
        _refuse(request, "issue", form)
    return _back(customer_id)


@login_required
@require_POST
def set_status(request, customer_id: int):
    require(request.user, "loyalty.manage")
    membership = _membership(request, customer_id)
    try:
        services.member_set_status(
            actor=request.user,
            membership=membership,
            status=request.POST.get("status", ""),
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as exc:
        _errors(request, exc)
    return _back(customer_id)


@login_required
def statement(request, customer_id: int):
    membership = _membership(request, customer_id)
    return render(
        request,
        "loyalty/statement.html",
        {
            "membership": membership,
            "customer": membership.customer,
            "points_entries": selectors.points_entries(membership=membership)[:200],
            "wallet_entries": selectors.wallet_entries(membership=membership)[:200],
            "tier_changes": membership.tier_changes.select_related("from_tier", "to_tier").order_by("-pk")[:50],
        },
    )


@login_required
def program(request):
    settings = services.program()
    form = ProgramForm(request.POST or None, instance=settings)
    if request.method == "POST":
        if not can_change(request.user, services.program()):
            raise PermissionDenied
        if form.is_valid():
            form.save()
            flash.success(request, _("Program saved."))
            return redirect("loyalty:program")
    return render(
        request,
        "loyalty/program.html",
        {
            "form": form,
            "tiers": selectors.tiers(),
            "rules": selectors.top_up_rules(),
            "templates": selectors.coupon_templates(),
            # the settings form and the edit links only for who may save them: nobody sees inputs they cannot save
            "can_manage": can_change(request.user, ProgramSettings),
        },
    )


def _edit(request, model, form_class, pk, title):
    if not can_change(request.user, model):
        raise PermissionDenied
    instance = get_object_or_404(model, pk=pk) if pk else None
    form = form_class(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():  # a coupon template's form checks it with the service's clean
        form.save()
        flash.success(request, _("Saved."))
        return redirect("loyalty:program")
    return render(request, "loyalty/edit.html", {"form": form, "title": title})


@login_required
def tier_edit(request, pk: int | None = None):
    return _edit(request, Tier, TierForm, pk, _("Tier"))


@login_required
def rule_edit(request, pk: int | None = None):
    return _edit(request, TopUpRule, TopUpRuleForm, pk, _("Top-up rule"))


@login_required
def coupon_template_edit(request, pk: int | None = None):
    return _edit(request, CouponTemplate, CouponTemplateForm, pk, _("Coupon template"))
