"""The customer pages of the staff workspace: list, 360, edit, duplicates, merge and the import wizard.

Thin: reads through selectors, writes through services. Other apps add their panels to the 360 page through
the registry in ``core`` (``core.registry.customer_panels``), so this module knows none of them.
"""

from __future__ import annotations

import csv
import uuid
from functools import partial
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorDict
from django.http import FileResponse, Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts.caching import cached
from guanxi.accounts.permissions import default_store_id, is_store_scoped
from guanxi.accounts.stores import current_store_id, scoped, switchable_stores
from guanxi.core.audit import audit_record
from guanxi.core.customer_create import customer_create_sections
from guanxi.core.registry import customer_list_actions, customer_panels
from guanxi.customers.duplicates import duplicate_dismiss, duplicate_pair_ids, duplicate_pairs
from guanxi.customers.exports import export_response
from guanxi.customers.forms import (
    PROFILE_EDIT_FIELDS,
    BulkTagForm,
    ContactAddForm,
    ContactChangeForm,
    CustomerForm,
    ImportantDateForm,
    ImportUploadForm,
    NewCustomerForm,
    NoteForm,
    attribute_field,
    attribute_initial,
)
from guanxi.customers.imports import import_dir, import_job_create, import_kind, read_header
from guanxi.customers.listing import SEGMENT_PREFIX, CustomerFilterForm, filtered_customers, keyset_page
from guanxi.customers.models import ContactPoint, CustomAttribute, Customer, ImportJob, Note
from guanxi.customers.selectors import customer_detail, customer_list, customer_timeline
from guanxi.customers.services import (
    ContactInput,
    contact_point_add,
    contact_point_change,
    contact_point_remove,
    contact_point_set_primary,
    customer_create_with_sections,
    customer_match,
    customer_merge,
    customer_tag,
    customer_update,
    important_date_add,
    note_add,
)
from guanxi.customers.tasks import import_job_run

BULK_TAG_LIMIT = 10_000


def _customers(request):
    return scoped(request, Customer.objects.visible_to(request.user))


# --- customer list ---------------------------------------------------------------------------------------------


def _filter_form(request):
    form = CustomerFilterForm(request.GET or None, stores=switchable_stores(request.user), user=request.user)
    form.is_valid()  # a bad value drops that one filter, not the others
    return form, getattr(form, "cleaned_data", {})


def _filtered(request, data):
    return filtered_customers(user=request.user, store_id=current_store_id(request), data=data)


def _list_actions(request, form) -> list[tuple[str, str]]:
    """Other apps' links for the active segment filters ("Save as segment"), each carrying the ``seg.*`` parameters."""
    if not form.segment_chips or form.segment_errors:
        return []
    query = QueryDict(mutable=True)
    for name in request.GET:
        if name.startswith(SEGMENT_PREFIX):
            query.setlist(name, request.GET.getlist(name))
    return [(str(a.label), f"{reverse(a.url_name)}?{query.urlencode()}") for a in customer_list_actions(request.user)]


@login_required
def customer_list_view(request):
    form, data = _filter_form(request)
    page = keyset_page(_filtered(request, data), sort=data.get("sort"), cursor=request.GET.get("after"))
    context = {"form": form, "page": page, "tag_form": BulkTagForm(), "list_actions": _list_actions(request, form)}
    status = 400 if form.segment_errors else 200  # a segment filter refused: the page says why, lists nobody
    if request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request:
        return render(request, "customers/_results.html", context, status=status)
    return render(request, "customers/list.html", context, status=status)


@login_required
@require_POST
def customer_bulk_tag(request):
    form, data = _filter_form(request)
    tag_form = BulkTagForm(request.POST)
    back = reverse("customers:customers") + ("?" + request.GET.urlencode() if request.GET else "")
    if not tag_form.is_valid():
        messages.error(request, _("Enter a tag name."))
        return redirect(back)
    if form.segment_errors:
        messages.error(request, " ".join(form.segment_errors))
        return redirect(back)
    ids = list(_filtered(request, data).order_by("-id").values_list("id", flat=True)[: BULK_TAG_LIMIT + 1])
    if len(ids) > BULK_TAG_LIMIT:
        messages.error(
            request,
            _("More than %(n)s customers match; narrow the filters to tag them at once.") % {"n": BULK_TAG_LIMIT},
        )
        return redirect(back)
    try:
        added = customer_tag(actor=request.user, customer_ids=ids, tag_name=tag_form.cleaned_data["tag"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(back)
    messages.success(
        request,
        _("Tagged %(added)s of %(n)s customers “%(tag)s”.")
        % {"added": added, "n": len(ids), "tag": tag_form.cleaned_data["tag"]},
    )
    return redirect(back)


@login_required
def customer_export(request):
    form, data = _filter_form(request)
    if form.segment_errors:
        messages.error(request, " ".join(form.segment_errors))
        return redirect(reverse("customers:customers") + "?" + request.GET.urlencode())
    fmt = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    return export_response(user=request.user, queryset=_filtered(request, data).order_by("id"), fmt=fmt)


# --- new customer (the counter) -------------------------------------------------------------------------------


def _store_choice(request, stores) -> int | None:
    """The store a new customer joins unless the clerk picks another: the switcher's, else the user's only one."""
    store_id = current_store_id(request) or default_store_id(request.user)
    if store_id is None and is_store_scoped(request.user) and stores:
        store_id = stores[0].pk
    return store_id if any(s.pk == store_id for s in stores) else None


def _new_customer_forms(request, data=None):
    stores = switchable_stores(request.user)
    form = NewCustomerForm(
        data,
        stores=stores,
        store_required=is_store_scoped(request.user),
        initial={"home_store": _store_choice(request, stores)},
    )
    form.fields["mobile"].widget.attrs.update(
        {
            "hx-get": reverse("customers:customer_new_check"),
            "hx-trigger": "input changed delay:400ms, blur",
            "hx-target": "#mobile-match",
            "hx-swap": "innerHTML",
        }
    )
    sections = [
        (section, section.form_class(data, prefix=section.key, user=request.user))
        for section in customer_create_sections(request.user)
    ]
    return form, sections


def _render_new(request, form, sections, *, match=None, matched_by="", status=200):
    rendered = [{"section": section, "form": section_form} for section, section_form in sections]
    context = {"form": form, "sections": rendered, "match": match, "matched_by": matched_by}
    if match is not None:
        context["match_last4"] = (form.cleaned_data.get("mobile") or "")[-4:] if matched_by == "phone" else ""
    return render(request, "customers/new.html", context, status=status)


def _new_customer_errors(exc: ValidationError, form, sections) -> None:
    """Put each error under the field it names: profile fields, contacts[0] (mobile), contacts[1] (e-mail),
    ``<section key>.<field>`` for a section."""
    contact_fields = {"contacts[0]": "mobile", "contacts[1]": "email"}
    by_key = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for key, errors in by_key.items():
        for section, section_form in sections:
            if key == section.key or key.startswith(section.key + "."):
                name = key[len(section.key) + 1 :]
                section_form.add_error(name if name in section_form.fields else None, errors)
                break
        else:
            name = contact_fields.get(key.rsplit(".", 1)[0], key)
            form.add_error(name if name in form.fields else None, errors)


@login_required
def customer_new(request):
    """新建客户: the customer, the sections other apps add (membership, consents), all in one transaction.

    A mobile or e-mail that a customer the user sees already has is not created twice: the page shows that
    customer instead, and "create anyway" (``force_new``) makes a second record on purpose (a family sharing
    a phone)."""
    if request.method != "POST":
        form, sections = _new_customer_forms(request)
        return _render_new(request, form, sections)
    form, sections = _new_customer_forms(request, request.POST)
    valid = form.is_valid()
    for _section, section_form in sections:  # every form, so every error shows at once
        valid = section_form.is_valid() and valid
    if not valid:
        return _render_new(request, form, sections, status=400)
    data = form.cleaned_data
    contacts = [ContactInput(kind="phone", value=data["mobile"])]
    if data["email"]:
        contacts.append(ContactInput(kind="email", value=data["email"]))
    profile = {"name": data["name"], "gender": data["gender"] or "", "birthday": data["birthday"]}
    store_id = data["home_store"] or _store_choice(request, switchable_stores(request.user))
    if store_id:
        profile["home_store"] = store_id
    try:
        result = customer_create_with_sections(
            actor=request.user,
            data=profile,
            contacts=contacts,
            tags=data["tags"],
            sections=[(section, section_form.cleaned_data) for section, section_form in sections],
            channel="web",
            force_new=request.POST.get("force_new") == "1",
        )
    except ValidationError as exc:
        _new_customer_errors(exc, form, sections)
        return _render_new(request, form, sections, status=400)
    if not result.created:
        return _render_new(request, form, sections, match=result.customer, matched_by=result.matched_by)
    messages.success(request, _("Customer %(name)s created.") % {"name": result.customer.name})
    return redirect("customers:customer", pk=result.customer.pk)


@login_required
def customer_new_check(request):
    """The htmx check under the mobile field: the customer the user sees who has this number, or nothing."""
    mobile = request.GET.get("mobile", "").strip()
    customer, _by = customer_match(actor=request.user, phone=mobile) if mobile else (None, "")
    digits = "".join(c for c in mobile if c.isdigit())
    return render(request, "customers/_match.html", {"match": customer, "match_last4": digits[-4:]})


# --- customer 360 ----------------------------------------------------------------------------------------------


def _visible_customer(request, pk: int) -> Customer:
    try:
        return customer_detail(user=request.user, pk=pk)
    except Customer.DoesNotExist:
        raise Http404(_("No such customer, or not one of your stores.")) from None


ATTR_PREFIX = "attr_"


def _profile_form(customer: Customer, data=None, definitions=None) -> CustomerForm:
    """The customer's own form (customers.forms.CustomerForm) cut to the profile, plus the custom attributes."""
    form = CustomerForm(data=data, instance=customer)
    for name in list(form.fields):
        if name not in PROFILE_EDIT_FIELDS:
            del form.fields[name]
    for d in definitions if definitions is not None else CustomAttribute.objects.all():
        field = attribute_field(d)
        field.initial = attribute_initial(d, customer.custom_attributes.get(d.key))
        form.fields[ATTR_PREFIX + d.key] = field
    return form


def _contact_rows(customer: Customer, full: bool, failed: ContactPoint | None = None, failed_form=None) -> list:
    """Each contact with its correction form; the value is filled in only for those who see it in full."""
    rows = []
    for c in sorted(customer.contact_points.all(), key=lambda c: (c.kind, not c.is_primary, c.pk)):
        if failed is not None and c.pk == failed.pk:
            form = failed_form
        else:
            form = ContactChangeForm(
                auto_id=f"contact{c.pk}_%s", initial={"value": c.value if full else "", "label": c.label}
            )
        rows.append({"contact": c, "form": form})
    return rows


def _detail_context(
    request,
    customer: Customer,
    *,
    note_form=None,
    tag_form=None,
    date_form=None,
    contact_form=None,
    failed_contact=None,
    change_form=None,
) -> dict:
    panels = []
    for panel in customer_panels(request.user):
        extra = panel.context(request, customer) if panel.context else {}
        context = {"customer": customer, **(extra or {})}
        panels.append({"panel": panel, "html": render_to_string(panel.template, context, request=request)})
    definitions = list(CustomAttribute.objects.all())
    attributes = [
        {"label": d.label, "value": customer.custom_attributes.get(d.key)}
        for d in definitions
        if customer.custom_attributes.get(d.key) not in (None, "")
    ]
    return {
        "customer": customer,
        "contacts": _contact_rows(customer, request.user.sees_full_contacts, failed_contact, change_form),
        "contact_form": contact_form or ContactAddForm(auto_id="contact_%s"),
        "timeline": customer_timeline(customer=customer, limit=30),
        "notes": list(Note.objects.filter(customer=customer).select_related("author").order_by("-created_at")[:10]),
        "attributes": attributes,
        "panels": panels,
        "note_form": note_form or NoteForm(),
        "tag_form": tag_form or BulkTagForm(auto_id="tag_%s"),
        "date_form": date_form or ImportantDateForm(auto_id="date_%s"),
        "full_contacts": request.user.sees_full_contacts,
    }


@login_required
def customer_detail_view(request, pk: int):
    customer = _visible_customer(request, pk)
    audit_record(
        actor=request.user,
        action="view",
        object_type="customer",
        object_id=customer.pk,
        customer_id=customer.pk,
        channel="web",
    )
    return render(request, "customers/detail.html", _detail_context(request, customer))


@login_required
def customer_edit(request, pk: int):
    customer = _visible_customer(request, pk)
    definitions = list(CustomAttribute.objects.all())
    if request.method != "POST":
        form = _profile_form(customer, definitions=definitions)
        return render(request, "customers/edit.html", {"customer": customer, "form": form})
    data = {name: request.POST.get(name, "") for name in PROFILE_EDIT_FIELDS}
    data["is_key_account"] = request.POST.get("is_key_account") in ("on", "true", "1")
    if definitions:
        data["custom_attributes"] = {d.key: request.POST.get(ATTR_PREFIX + d.key, "") for d in definitions}
    try:
        customer_update(actor=request.user, customer=customer, data=data, channel="web")
    except ValidationError as exc:
        form = _profile_form(customer, data=request.POST, definitions=definitions)
        form.cleaned_data = {}
        form._errors = ErrorDict()  # type: ignore[attr-defined]  # add_error needs it; full_clean() would re-validate
        for field, errors in exc.message_dict.items():
            if field.startswith("custom_attributes."):
                field = ATTR_PREFIX + field.split(".", 1)[1]
            form.add_error(field if field in form.fields else None, errors)
        return render(request, "customers/edit.html", {"customer": customer, "form": form})
    messages.success(request, _("Saved."))
    return redirect("customers:customer", pk=customer.pk)


@login_required
@require_POST
def customer_tag_add(request, pk: int):
    customer = _visible_customer(request, pk)
    form = BulkTagForm(request.POST, auto_id="tag_%s")
    if form.is_valid():
        try:
            customer_tag(actor=request.user, customer_ids=[customer.pk], tag_name=form.cleaned_data["tag"])
        except ValidationError as exc:
            form.add_error("tag", exc.messages)
    if form.errors:
        return render(request, "customers/detail.html", _detail_context(request, customer, tag_form=form))
    messages.success(request, _("Tag added."))
    return redirect(reverse("customers:customer", kwargs={"pk": customer.pk}) + "#profile")


@login_required
@require_POST
def customer_date_add(request, pk: int):
    customer = _visible_customer(request, pk)
    form = ImportantDateForm(request.POST, auto_id="date_%s")
    if form.is_valid():
        try:
            important_date_add(actor=request.user, customer=customer, **form.cleaned_data)
        except ValidationError as exc:
            for key, errors in exc.message_dict.items():
                field = key.rsplit(".", 1)[-1]
                form.add_error(field if field in form.fields else None, errors)
    if form.errors:
        return render(request, "customers/detail.html", _detail_context(request, customer, date_form=form))
    messages.success(request, _("Date added."))
    return redirect(reverse("customers:customer", kwargs={"pk": customer.pk}) + "#profile")


@login_required
@require_POST
def customer_note_add(request, pk: int):
    customer = _visible_customer(request, pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            note_add(actor=request.user, customer=customer, body=form.cleaned_data["body"])
        except ValidationError as exc:
            form.add_error("body", exc.messages)
    if form.errors:
        context = _detail_context(request, customer, note_form=form)
        return render(request, "customers/detail.html", context)
    messages.success(request, _("Note added."))
    return redirect(reverse("customers:customer", kwargs={"pk": customer.pk}) + "#notes")


def _form_errors(form, exc: ValidationError) -> None:
    """A service's errors under the form's fields: ``contacts[0].value`` and ``value`` both land on ``value``."""
    by_key = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for key, errors in by_key.items():
        name = key.rsplit(".", 1)[-1]
        form.add_error(name if name in form.fields else None, errors)


def _back_to_contacts(customer: Customer):
    return redirect(reverse("customers:customer", kwargs={"pk": customer.pk}) + "#contacts")


def _contact_form_answer(request, customer: Customer, form, save, done: str, **page):
    """A contact form's answer: ``save(**cleaned_data)`` (the service's refusal shown beside its field) and back
    to the contacts saying ``done``; or the 360 page again with the form's errors (400), ``page`` telling which."""
    if form.is_valid():
        try:
            save(**form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
    if form.errors:
        return render(request, "customers/detail.html", _detail_context(request, customer, **page), status=400)
    messages.success(request, done)
    return _back_to_contacts(customer)


@login_required
@require_POST
def customer_contact_add(request, pk: int):
    customer = _visible_customer(request, pk)
    form = ContactAddForm(request.POST, auto_id="contact_%s")
    save = partial(contact_point_add, actor=request.user, customer=customer, channel="web")
    return _contact_form_answer(request, customer, form, save, _("Contact added."), contact_form=form)


def _visible_contact(request, pk: int, contact_id: int) -> tuple[Customer, ContactPoint]:
    customer = _visible_customer(request, pk)
    return customer, get_object_or_404(ContactPoint, pk=contact_id, customer=customer)


@login_required
@require_POST
def customer_contact_change(request, pk: int, contact_id: int):
    customer, contact = _visible_contact(request, pk, contact_id)
    form = ContactChangeForm(request.POST, auto_id=f"contact{contact.pk}_%s")
    save = partial(contact_point_change, actor=request.user, contact=contact, channel="web")
    return _contact_form_answer(
        request, customer, form, save, _("Contact corrected."), failed_contact=contact, change_form=form
    )


def _contact_action(request, pk: int, contact_id: int, action, done: str):
    """Remove a contact or make it the primary one (``action``), then back to the contacts saying ``done``."""
    customer, contact = _visible_contact(request, pk, contact_id)
    action(actor=request.user, contact=contact, channel="web")
    messages.success(request, done)
    return _back_to_contacts(customer)


@login_required
@require_POST
def customer_contact_remove(request, pk: int, contact_id: int):
    return _contact_action(request, pk, contact_id, contact_point_remove, _("Contact removed."))


@login_required
@require_POST
def customer_contact_primary(request, pk: int, contact_id: int):
    return _contact_action(request, pk, contact_id, contact_point_set_primary, _("Primary contact set."))


# --- duplicates ------------------------------------------------------------------------------------------------


@login_required
def duplicates(request):
    rows = cached("duplicate_pairs", request, lambda: duplicate_pair_ids(visible=_customers(request)))
    pairs = duplicate_pairs(user=request.user, rows=rows)
    return render(request, "customers/duplicates.html", {"pairs": pairs})


@login_required
@require_POST
def duplicate_dismiss_view(request, first: int, second: int):
    """ "Not the same person": the pair leaves the list for good."""
    try:
        duplicate_dismiss(actor=request.user, first_id=first, second_id=second)
    except ValidationError as exc:
        raise Http404(" ".join(exc.messages)) from exc
    messages.success(request, _("Marked as two different people; the pair is no longer listed."))
    return redirect("customers:duplicates")


@login_required
def merge_confirm(request, first: int, second: int):
    visible = customer_list(user=request.user).prefetch_related("contact_points", "important_dates")
    found = visible.in_bulk([first, second])
    if first == second or len(found) != 2:
        raise Http404(_("No such customer, or not one of your stores."))
    a, b = found[first], found[second]
    if request.method == "POST":
        survivor_id = request.POST.get("survivor")
        if survivor_id not in (str(first), str(second)):
            messages.error(request, _("Choose which record to keep."))
        else:
            survivor, merged = (a, b) if survivor_id == str(first) else (b, a)
            try:
                customer_merge(actor=request.user, survivor=survivor, merged=merged)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(
                    request,
                    _("Merged %(merged)s into %(survivor)s.") % {"merged": merged.name, "survivor": survivor.name},
                )
                return redirect("customers:customer", pk=survivor.pk)
    return render(
        request,
        "customers/merge.html",
        {"pair": [a, b], "full_contacts": request.user.sees_full_contacts},
    )


# --- import wizard ---------------------------------------------------------------------------------------------


def _job(request, pk: int) -> ImportJob:
    job = get_object_or_404(ImportJob, pk=pk)
    if job.created_by_id != request.user.pk and not request.user.sees_all_stores:
        raise Http404
    return job


@login_required
def import_start(request):
    stores = switchable_stores(request.user)
    form = ImportUploadForm(
        request.POST or None,
        request.FILES or None,
        stores=stores,
        initial={"store": _store_choice(request, stores)},
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        suffix = Path(upload.name).suffix.lower()
        path = import_dir() / f"{uuid.uuid4().hex}{suffix}"
        with open(path, "wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        try:
            job = _create_job(request, path, form.cleaned_data["target"], upload.name, form.cleaned_data["store"])
        except (ValidationError, ValueError, OSError) as exc:
            path.unlink(missing_ok=True)  # no job will ever read it
            form.add_error("file", getattr(exc, "messages", None) or _("This file cannot be read."))
        else:
            return redirect("customers:import_mapping", pk=job.pk)
    jobs = ImportJob.objects.filter(created_by=request.user).order_by("-id")[:10]
    return render(request, "customers/imports/start.html", {"form": form, "jobs": jobs})


def _create_job(request, path: Path, target: str, name: str, store_id: int | None = None) -> ImportJob:
    """The job remembers the store its customers join (rows naming no store): the one chosen in the wizard (one
    of the user's, the form offers no other), else the switcher's or the user's own, so the importer sees them."""
    from guanxi.accounts.models import Store
    from guanxi.customers.imports import auto_mapping, file_sha256

    stores = switchable_stores(request.user)
    if store_id is None or not any(s.pk == store_id for s in stores):
        store_id = _store_choice(request, stores)
    return ImportJob.objects.create(
        target=target,
        file=str(path),
        file_sha256=file_sha256(str(path)),
        original_name=name,
        mapping=auto_mapping(read_header(str(path)), target),
        dry_run=True,
        store=Store.objects.filter(pk=store_id).first() if store_id else None,
        created_by=request.user,
    )


def _queue(job: ImportJob) -> None:
    import_job_run.delay_on_commit(job.pk)


@login_required
def import_mapping(request, pk: int):
    job = _job(request, pk)
    try:
        header = read_header(job.file)
    except ValidationError as exc:  # the upload is gone (imported, or past its retention) or unreadable
        messages.error(request, " ".join(exc.messages))
        return redirect("customers:import_job", pk=job.pk)
    fields = list(import_kind(job.target).fields)  # each kind's app registers its fields
    errors: list[str] = []
    if request.method == "POST":
        mapping = {column: request.POST.get(f"col-{i}", "") for i, column in enumerate(header)}
        mapping = {c: f for c, f in mapping.items() if f}
        try:
            checked = import_job_create(
                actor=request.user, path=job.file, target=job.target, mapping=mapping, original_name=job.original_name
            )
        except ValidationError as exc:
            errors = exc.messages
        else:
            checked.delete()  # import_job_create validated the mapping; this job keeps its id and file
            job.mapping = mapping
            job.dry_run = True
            job.status = ImportJob.Status.PENDING
            job.save(update_fields=["mapping", "dry_run", "status"])
            _queue(job)
            return redirect("customers:import_job", pk=job.pk)
    columns = [{"index": i, "name": c, "field": job.mapping.get(c, "")} for i, c in enumerate(header)]
    return render(
        request,
        "customers/imports/mapping.html",
        {"job": job, "columns": columns, "fields": fields, "errors": errors},
    )


def _rejected_rows(job: ImportJob, limit: int = 50) -> tuple[list[str], list[list[str]]]:
    if not job.rejected_file or not Path(job.rejected_file).exists():
        return [], []
    with open(job.rejected_file, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        rows = [row for _i, row in zip(range(limit), reader, strict=False)]
    return header, rows


@login_required
def import_job(request, pk: int):
    job = _job(request, pk)
    if request.method == "POST" and request.POST.get("action") == "run":
        if job.status == ImportJob.Status.VALIDATED and job.dry_run:
            job.dry_run = False
            job.status = ImportJob.Status.PENDING
            job.save(update_fields=["dry_run", "status"])
            _queue(job)
        elif job.status == ImportJob.Status.FAILED and not job.dry_run:
            job.status = ImportJob.Status.PENDING  # import_run continues after the committed rows
            job.save(update_fields=["status"])
            _queue(job)
        return redirect("customers:import_job", pk=job.pk)
    header, rows = _rejected_rows(job)
    context = {"job": job, "rejected_header": header, "rejected_rows": rows}
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "customers/imports/_job.html", context)
    return render(request, "customers/imports/job.html", context)


@login_required
def import_rejected(request, pk: int):
    job = _job(request, pk)
    if not job.rejected_file or not Path(job.rejected_file).exists():
        raise Http404
    name = f"rejected-{Path(job.original_name).stem or job.pk}.csv"
    return FileResponse(open(job.rejected_file, "rb"), as_attachment=True, filename=name, content_type="text/csv")  # noqa: SIM115
