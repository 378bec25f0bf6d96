"""Staff pages of messaging: the message log, resend, templates with preview, a customer's consent."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts.permissions import can, can_change, require
from guanxi.core.forms import error_lines, model_labels
from guanxi.customers.models import Customer
from guanxi.customers.selectors import customer_detail
from guanxi.messaging import selectors, services
from guanxi.messaging.forms import ConsentForm, MessageFilterForm, TemplateForm
from guanxi.messaging.models import Message, MessageTemplate
from guanxi.messaging.rendering import VARIABLES, preview

PAGE_SIZE = 50


def customer_panel_context(request, customer) -> dict:
    """The 360 panel: two queries (recent messages with their templates, the consent ledger)."""
    return {
        "recent_messages": selectors.customer_messages(customer=customer, limit=5),
        "consents": selectors.consent_state(customer=customer),
        "customer": customer,
    }


@login_required
def message_log(request):
    form = MessageFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    qs = selectors.message_list(
        user=request.user,
        status=filters.get("status") or "",
        channel=filters.get("channel") or "",
        template_code=filters.get("template") or "",
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
        customer_id=filters.get("customer"),
        before_id=filters.get("before"),
    )
    rows = list(qs[: PAGE_SIZE + 1])
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    query = request.GET.copy()
    query.pop("before", None)
    if has_more:
        query["before"] = rows[-1].pk
    return render(
        request,
        "messaging/log.html",
        {
            "form": form,
            "rows": rows,
            "next_query": query.urlencode() if has_more else "",
            "can_manage": can(request.user, "messaging.manage"),
        },
    )


@login_required
def message_detail(request, pk: int):
    message = get_object_or_404(Message.objects.visible_to(request.user).select_related("customer", "template"), pk=pk)
    receipts = list(message.receipts.order_by("-id")[:20])
    return render(
        request,
        "messaging/detail.html",
        {"message": message, "receipts": receipts, "can_manage": can(request.user, "messaging.manage")},
    )


@login_required
@require_POST
def message_resend(request, pk: int):
    require(request.user, "messaging.manage")
    message = get_object_or_404(Message.objects.visible_to(request.user), pk=pk)
    try:
        copy = services.message_resend(actor=request.user, message=message)
    except ValidationError as exc:
        for line in error_lines(exc, model_labels(Message)):
            flash.error(request, line)
        return redirect("messaging:detail", pk=pk)
    flash.success(request, _("Queued again as message #%(id)s.") % {"id": copy.pk})
    return redirect("messaging:detail", pk=copy.pk)


@login_required
def template_list(request):
    return render(
        request,
        "messaging/templates.html",
        {"templates": selectors.template_list(), "can_manage": can_change(request.user, MessageTemplate)},
    )


@login_required
def template_edit(request, pk: int | None = None):
    if not can_change(request.user, MessageTemplate):
        raise PermissionDenied
    instance = get_object_or_404(MessageTemplate, pk=pk) if pk else None
    form = TemplateForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid() and "preview" not in request.POST:
        template = services.template_save(actor=request.user, template=form.save(commit=False))
        flash.success(request, _("Template saved."))
        return redirect("messaging:template_edit", pk=template.pk)
    # a sample customer the user may see, for the preview
    sample = Customer.objects.visible_to(request.user).select_related("home_store").order_by("id").first()
    target = (form.instance if form.is_valid() else None) if form.is_bound else instance
    shown = preview(target, customer=sample) if target is not None else None
    return render(
        request,
        "messaging/template_form.html",
        {
            "form": form,
            "template": instance,
            "preview": shown,
            "sample": sample,
            "variables": sorted(VARIABLES.items()),
        },
    )


@login_required
def customer_consent(request, customer_id: int):
    try:
        customer = customer_detail(user=request.user, pk=customer_id)
    except Customer.DoesNotExist:
        from django.http import Http404

        raise Http404 from None
    form = ConsentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.consent_record(actor=request.user, customer=customer, **form.cleaned_data)
        flash.success(request, _("Consent recorded."))
        return redirect("messaging:consent", customer_id=customer.pk)
    return render(
        request,
        "messaging/consent.html",
        {
            "customer": customer,
            "form": form,
            "consents": selectors.consent_state(customer=customer),
            "history": selectors.consent_history(customer=customer),
        },
    )
