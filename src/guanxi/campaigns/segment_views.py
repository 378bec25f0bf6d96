"""Segment pages: the list, the rule-tree builder with its live preview, freeze, archive, delete and export.

Thin: reads through ``campaigns.selectors``, writes through ``campaigns.segments``. The builder's editor is
``static/campaigns/segment_builder.js``; it gets the field list from a ``json_script`` tag and posts the tree
as JSON to ``segment_preview`` as the rules change.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from guanxi.accounts.permissions import can, signed_in
from guanxi.campaigns import selectors
from guanxi.campaigns.models import Segment
from guanxi.campaigns.segments import (
    MAX_DESCRIPTION,
    MAX_NAME,
    segment_archive,
    segment_create,
    segment_delete,
    segment_freeze,
    segment_tree_clean,
    segment_update,
)
from guanxi.core.segments import SEGMENT_FIELDS
from guanxi.customers.exports import export_response
from guanxi.customers.listing import SEGMENT_PREFIX

MAX_PREVIEW_BODY = 40_000  # bytes of a preview request


def _may_view(request: HttpRequest) -> None:
    if not can(request.user, "campaigns.segments_view"):
        raise PermissionDenied


def _may_edit(request: HttpRequest) -> None:
    if not can(request.user, "campaigns.segments"):
        raise PermissionDenied


def _segment(request: HttpRequest, pk: int) -> Segment:
    segment: Segment = get_object_or_404(selectors.segments_visible_to(request.user).select_related("store"), pk=pk)
    return segment


class SegmentForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("segment", "Name"), max_length=MAX_NAME)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        max_length=MAX_DESCRIPTION,
        required=False,
        widget=forms.Textarea({"rows": 2}),
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("Save as"),
        choices=[
            (Segment.Kind.DYNAMIC, gettext_lazy("Dynamic: evaluated each time it is used")),
            (Segment.Kind.SNAPSHOT, gettext_lazy("Snapshot: freeze the customers now")),
        ],
        widget=forms.RadioSelect,
        initial=Segment.Kind.DYNAMIC,
    )
    rules = forms.CharField(
        label=gettext_lazy("Rules (JSON)"), required=False, widget=forms.Textarea({"rows": 4, "class": "mono"})
    )


@login_required
def segment_list(request: HttpRequest) -> HttpResponse:
    _may_view(request)
    archived = request.GET.get("archived") == "1"
    segments = list(selectors.segment_list(user=request.user, archived=archived))
    return render(
        request,
        "campaigns/segment_list.html",
        {"segments": segments, "archived": archived, "can_edit": can(request.user, "campaigns.segments")},
    )


def _prefill(request: HttpRequest) -> tuple[dict[str, Any], list[str]]:
    """The tree of a link ``?seg.<key>=<value>&…`` (the customer list's format): one condition per parameter."""
    leaves: list[dict[str, Any]] = []
    skipped: list[str] = []
    for name in sorted(request.GET):
        if not name.startswith(SEGMENT_PREFIX):
            continue
        key = name[len(SEGMENT_PREFIX) :]
        found = SEGMENT_FIELDS.get(key)
        if found is None:
            skipped.append(key)
            continue
        for value in request.GET.getlist(name)[:10]:
            leaves.append({"field": key, "op": found.operators[0], "value": value})
    return ({"all": leaves} if leaves else {"all": []}), skipped


def _rule_errors(exc: ValidationError, form: SegmentForm) -> dict[str, list[str]]:
    """Split a service's errors: form fields go on the form, places in the tree go to the editor."""
    out: dict[str, list[str]] = {}
    for key, messages_ in exc.message_dict.items():
        if key in ("name", "description", "kind"):
            for message in messages_:
                form.add_error(key, message)
        elif key.startswith("rules"):
            out[key] = messages_
        else:
            for message in messages_:
                form.add_error(None, message)
    return out


def _builder_text() -> dict[str, Any]:
    return {
        "all": _("All of these"),
        "any": _("Any of these"),
        "not": _("None of these"),
        "addCondition": _("Add condition"),
        "addGroup": _("Add group"),
        "remove": _("Remove"),
        "chooseField": _("Choose a field"),
        "chooseValue": _("Choose…"),
        "yes": _("Yes"),
        "no": _("No"),
        "counting": _("Counting…"),
        "none": _("No customers match."),
        "sample": _("The newest 20 of them:"),
        "refused": _("Fix the marked condition to see the count."),
        "failed": _("The preview could not be loaded; try again."),
        "empty": _("Add a condition to see who matches."),
        "groupKind": _("Match"),
        "operator": _("Operator"),
        "value": _("Value"),
        "field": _("Field"),
        "confirmDelete": _("Delete this segment?"),
        "params": {"days": _("days")},
    }


def _builder(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    _may_edit(request)
    rule_errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = SegmentForm(request.POST)
        if form.is_valid():
            raw = form.cleaned_data["rules"] or ""
            data = {
                "name": form.cleaned_data["name"],
                "description": form.cleaned_data["description"],
                "kind": form.cleaned_data["kind"],
                "rules": raw,
            }
            try:
                if segment is None:
                    saved = segment_create(actor=signed_in(request.user), data=data)
                else:
                    saved = segment_update(actor=signed_in(request.user), segment=segment, data=data)
            except ValidationError as exc:
                rule_errors = _rule_errors(exc, form)
            else:
                if saved.kind == Segment.Kind.SNAPSHOT and saved.member_count is not None:
                    messages.success(
                        request,
                        _("Saved “%(name)s” with %(n)s customers frozen.")
                        % {"name": saved.name, "n": saved.member_count},
                    )
                else:
                    messages.success(request, _("Saved “%(name)s”.") % {"name": saved.name})
                return redirect("campaigns:segment_edit", pk=saved.pk)
        try:
            tree = json.loads(request.POST.get("rules") or "{}")
        except ValueError:
            tree = {"all": []}
    elif segment is not None:
        form = SegmentForm(
            initial={
                "name": segment.name,
                "description": segment.description,
                "kind": segment.kind,
                "rules": json.dumps(segment.rules, ensure_ascii=False),
            }
        )
        tree = segment.rules
    else:
        tree, skipped = _prefill(request)
        if skipped:
            messages.warning(
                request, _("Left out conditions this version does not know: %(keys)s.") % {"keys": ", ".join(skipped)}
            )
        form = SegmentForm(initial={"rules": json.dumps(tree, ensure_ascii=False)})
    return render(
        request,
        "campaigns/segment_builder.html",
        {
            "form": form,
            "segment": segment,
            "builder": {
                "tree": tree if isinstance(tree, dict) else {"all": []},
                "errors": rule_errors,
                "fields": selectors.segment_field_meta(user=request.user),
                "preview_url": reverse("campaigns:segment_preview"),
                "text": _builder_text(),
            },
        },
        status=400 if (request.method == "POST") else 200,
    )


@login_required
def segment_new(request: HttpRequest) -> HttpResponse:
    return _builder(request, None)


@login_required
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _may_view(request)
    segment = _segment(request, pk)
    if not can(request.user, "campaigns.segments"):
        return render(request, "campaigns/segment_view.html", {"segment": segment})
    return _builder(request, segment)


@login_required
@require_POST
def segment_preview(request: HttpRequest) -> JsonResponse:
    """Count and 20 customers of the posted tree ``{"rules": …}``; ``{"errors": {place: [message]}}`` if refused."""
    _may_view(request)
    if len(request.body) > MAX_PREVIEW_BODY:
        return JsonResponse({"errors": {"rules": [_("The rules are too long.")]}}, status=400)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JsonResponse({"errors": {"rules": [_("The rules could not be read; start again.")]}}, status=400)
    segment = None
    if body.get("segment") not in (None, ""):
        raw = str(body["segment"])
        if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 2**31 - 1:
            segment = selectors.segments_visible_to(request.user).filter(pk=int(raw)).first()
    try:
        tree = segment_tree_clean(body.get("rules"), actor=signed_in(request.user), segment=segment)
    except ValidationError as exc:
        return JsonResponse({"errors": exc.message_dict}, status=400)
    preview = selectors.customers_preview(selectors.tree_customers(tree, user=request.user), user=request.user)
    return JsonResponse(
        {
            "count": preview.count,
            "rows": [{"id": r.id, "name": r.name, "phone": r.phone, "store": r.store} for r in preview.rows],
        }
    )


@login_required
@require_POST
def segment_freeze_view(request: HttpRequest, pk: int) -> HttpResponse:
    _may_edit(request)
    segment = _segment(request, pk)
    members = segment_freeze(actor=signed_in(request.user), segment=segment)
    messages.success(request, _("Froze %(n)s customers into “%(name)s”.") % {"n": members, "name": segment.name})
    return redirect("campaigns:segment_edit", pk=segment.pk)


@login_required
@require_POST
def segment_archive_view(request: HttpRequest, pk: int) -> HttpResponse:
    _may_edit(request)
    segment = _segment(request, pk)
    archived = request.POST.get("archived", "1") != "0"
    try:
        segment_archive(actor=signed_in(request.user), segment=segment, archived=archived)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("campaigns:segment_edit", pk=segment.pk)
    messages.success(
        request, (_("Archived “%(name)s”.") if archived else _("Restored “%(name)s”.")) % {"name": segment.name}
    )
    return redirect("campaigns:segment_list")


@login_required
@require_POST
def segment_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    _may_edit(request)
    segment = _segment(request, pk)
    try:
        segment_delete(actor=signed_in(request.user), segment=segment)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("campaigns:segment_edit", pk=segment.pk)
    messages.success(request, _("Deleted “%(name)s”.") % {"name": segment.name})
    return redirect("campaigns:segment_list")


@login_required
def segment_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The segment's customers the user sees, as the customer list's CSV export (streamed, every row audited)."""
    _may_view(request)
    segment = _segment(request, pk)
    try:
        customers = selectors.segment_customers(segment, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("campaigns:segment_edit", pk=segment.pk)
    return export_response(user=request.user, queryset=customers.order_by("id"), fmt="csv")
