"""Every change to a customer goes through here, with its event, timeline entry and audit row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Field, Q
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.accounts.actors import Actor, signed_in
from guanxi.accounts.actors import actor_id as _actor_id
from guanxi.accounts.models import User
from guanxi.accounts.permissions import default_store_id, is_store_scoped, may_assign_owner, may_use_store
from guanxi.core.audit import audit_record
from guanxi.core.crypto import blind_index
from guanxi.core.customer_create import CustomerCreateSection
from guanxi.core.events import event_record
from guanxi.core.merge import MergeFollower, merge_followers, merge_hooks
from guanxi.core.personal_data import personal_data_erase
from guanxi.core.registry import allowed
from guanxi.customers.contacts import contact_indexes, mask_value, normalize_contact
from guanxi.customers.forms import CustomerForm, clean_custom_attributes
from guanxi.customers.lunar import lunar_md
from guanxi.customers.models import (
    ContactPoint,
    Customer,
    CustomerMerge,
    DismissedDuplicate,
    ImportantDate,
    Note,
    Tag,
    TimelineEntry,
)

PROFILE_FIELDS = CustomerForm.Meta.fields
_SENSITIVE = {"id_number"}


@dataclass(frozen=True)
class ContactInput:
    kind: str
    value: str
    label: str = ""
    is_primary: bool | None = None


@dataclass
class CustomerCreateResult:
    customer: Customer
    created: bool
    matched_by: str = ""
    contacts_added: list[ContactPoint] = field(default_factory=list)


def timeline_record(
    *,
    customer_id: int,
    kind: str,
    summary: str = "",
    data: dict[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
    actor: Actor = None,
    event_id: int | None = None,
    ref_type: str = "",
    ref_id: Any = "",
) -> TimelineEntry:
    return TimelineEntry.objects.create(
        customer_id=customer_id,
        kind=kind,
        summary=summary[:255] or kind,
        data=data or {},
        occurred_at=occurred_at or timezone.now(),
        actor=signed_in(actor),
        event_id=event_id,
        ref_type=ref_type,
        ref_id=str(ref_id),
    )


def _profile_field(name: str) -> Field[Any, Any]:
    field = Customer._meta.get_field(name)
    if not isinstance(field, Field):  # a reverse relation is never a profile field
        raise TypeError(f"Customer.{name} is not a model field")
    return field


def _clean_profile(data: dict[str, Any], *, instance: Customer | None = None) -> dict[str, Any]:
    unknown = set(data) - set(PROFILE_FIELDS) - {"custom_attributes", "contacts", "tags", "important_dates"}
    if unknown:
        raise ValidationError({name: [_("There is no such field.")] for name in sorted(unknown)})
    base = (
        model_to_dict(instance, fields=PROFILE_FIELDS)
        if instance
        else {f: _profile_field(f).get_default() for f in PROFILE_FIELDS}
    )
    merged = {**base, **{k: v for k, v in data.items() if k in PROFILE_FIELDS}}
    for key in ("interests", "preferences"):
        if key in merged and merged[key] is None:
            merged[key] = [] if key == "interests" else {}
    form = CustomerForm(data=merged, instance=instance)
    if not form.is_valid():
        raise ValidationError(form.errors.as_data())
    cleaned = {k: form.cleaned_data[k] for k in PROFILE_FIELDS}
    if "custom_attributes" in data:
        base_attrs = dict(instance.custom_attributes) if instance else {}
        base_attrs.update(data.get("custom_attributes") or {})
        cleaned["custom_attributes"] = clean_custom_attributes(base_attrs)
    elif instance is None:
        cleaned["custom_attributes"] = clean_custom_attributes({})
    return cleaned


CleanContact = tuple[ContactInput, str, str, str]  # the input, its normal form, its blind index, last four digits


def _clean_contacts(contacts: list[ContactInput | dict[str, Any]] | list[ContactInput]) -> list[CleanContact]:
    """Normalise contact inputs; errors name the position, e.g. ``contacts[1].value``."""
    out = []
    errors: dict[str, list[str]] = {}
    for i, raw in enumerate(contacts):
        item = raw if isinstance(raw, ContactInput) else ContactInput(**raw)
        if item.kind not in ContactPoint.Kind.values:
            errors[f"contacts[{i}].kind"] = [_("Choose phone, email, wechat or address.")]
            continue
        try:
            value = normalize_contact(item.kind, item.value)
        except ValidationError as exc:
            errors[f"contacts[{i}].value"] = exc.messages
            continue
        value_index, last4 = contact_indexes(item.kind, value)
        out.append((item, value, value_index, last4))
    if errors:
        raise ValidationError(errors)
    return out


def customer_find_existing(
    cleaned_contacts: list[CleanContact], *, actor: User | None = None
) -> tuple[Customer | None, str]:
    """The customer who already owns one of these phones or e-mails (phone wins over e-mail).

    With an ``actor`` only customers the actor may see are matched (``visible_to``): a phone known
    to another store is, to this actor, an unknown phone, so nothing about the other store leaks.
    """
    among = Customer.objects.visible_to(actor) if actor is not None else Customer.objects.all()
    for kind in ("phone", "email"):
        indexes = [idx for item, _v, idx, _l4 in cleaned_contacts if item.kind == kind and idx]
        if not indexes:
            continue
        contact = (
            ContactPoint.objects.filter(
                kind=kind,
                value_index__in=indexes,
                customer__merged_into__isnull=True,
                customer__in=among.values_list("pk", flat=True),
            )
            .select_related("customer")
            .order_by("customer_id")
            .first()
        )
        if contact:
            return contact.customer, kind
    return None, ""


def customer_match(*, actor: User | None, phone: str = "", email: str = "") -> tuple[Customer | None, str]:
    """The customer ``actor`` sees who already has this phone (or else e-mail); a value that is no phone or
    e-mail matches nobody. For the new-customer page's check as the clerk types."""
    items: list[CleanContact] = []
    for kind, value in (("phone", phone), ("email", email)):
        if value:
            try:
                items += _clean_contacts([ContactInput(kind=kind, value=value)])
            except ValidationError:
                continue
    return customer_find_existing(items, actor=actor) if items else (None, "")


@transaction.atomic
def customer_create(
    *,
    actor: Actor,
    data: dict[str, Any],
    contacts: list[ContactInput | dict[str, Any]] | list[ContactInput] | None = None,
    tags: list[str] | None = None,
    important_dates: list[dict[str, Any]] | None = None,
    channel: str = "api",
    force_new: bool = False,
) -> CustomerCreateResult:
    """Create a customer, or find the one who already has this phone or e-mail.

    A twin is made only on purpose (``force_new``, e.g. two family members sharing a phone).
    """
    cleaned_contacts = _clean_contacts(contacts or [])
    if not force_new:
        existing, matched_by = customer_find_existing(cleaned_contacts, actor=_user(actor))
        if existing is not None:
            return CustomerCreateResult(customer=existing, created=False, matched_by=matched_by)
    if is_store_scoped(actor) and data.get("home_store") in (None, ""):
        data = {**data, "home_store": default_store_id(actor)}
    profile = _clean_profile(data)
    _check_home_store(actor, profile.get("home_store"))
    _check_owner(actor, profile.get("owner"))
    dates = _clean_important_dates(important_dates or [])
    customer = Customer(**profile)
    _derive(customer)
    try:
        with transaction.atomic():  # a savepoint: a twin created at the same moment undoes only this
            customer.save()
            added = _add_contacts(customer, cleaned_contacts, identity=not force_new)
    except IntegrityError:
        # Another request created a customer with this phone or e-mail between our look-up and our
        # insert, or a customer the actor may not see holds it; that identity claim won
        # (contact_one_identity). Match it, as the look-up would have, if the actor may see it;
        # otherwise the actor gets what an unknown phone gives: a customer of their own, who claims
        # no identity (a twin, as ``force_new`` makes), so nothing of the other store shows.
        existing, matched_by = customer_find_existing(cleaned_contacts, actor=_user(actor))
        if existing is not None:
            return CustomerCreateResult(customer=existing, created=False, matched_by=matched_by)
        if _user(actor) is None:
            raise
        customer.pk = None
        customer.save()
        added = _add_contacts(customer, cleaned_contacts, identity=False)
    if tags:
        customer.tags.add(*_tags_by_name(tags))
    for item in dates:
        ImportantDate.objects.create(customer=customer, **item)
    event = event_record(
        name="customer.created",
        customer_id=customer.pk,
        aggregate="customer",
        aggregate_id=customer.pk,
        actor_id=_actor_id(actor),
        payload={"channel": channel, "home_store_id": customer.home_store_id},
    )
    timeline_record(
        customer_id=customer.pk,
        kind="customer.created",
        summary=f"created via {channel}",
        data={"channel": channel},
        actor=actor,
        event_id=event.pk,
    )
    audit_record(
        actor=actor,
        action="create",
        object_type="customer",
        object_id=customer.pk,
        customer_id=customer.pk,
        channel=channel,
        changes={"fields": sorted(profile)},
    )
    return CustomerCreateResult(customer=customer, created=True, contacts_added=added)


@transaction.atomic
def customer_create_with_sections(
    *,
    actor: Actor,
    data: dict[str, Any],
    contacts: list[ContactInput] | None = None,
    tags: list[str] | None = None,
    sections: Sequence[tuple[CustomerCreateSection, dict[str, Any]]] = (),
    channel: str = "web",
    force_new: bool = False,
) -> CustomerCreateResult:
    """The new-customer page's create: the customer, then every section (membership, consents…) in ONE transaction.

    When the phone or e-mail already belongs to a customer the actor sees, nothing is written and the result
    names that customer (``created=False``), so the page can offer it instead of a twin. A section that raises
    ``ValidationError`` (or anything else) rolls back the customer and every section before it.
    """
    user = _user(actor)
    for section, _cleaned in sections:
        if not allowed(section.roles, user):
            raise ValidationError({section.key: [_("You may not use “%(section)s”.") % {"section": section.label}]})
    result = customer_create(actor=actor, data=data, contacts=contacts, tags=tags, channel=channel, force_new=force_new)
    if not result.created:
        return result
    for section, cleaned in sections:
        try:
            section.save(result.customer, cleaned, actor)
        except ValidationError as exc:  # keyed "<section key>.<field>" so the page puts it under the field
            if hasattr(exc, "error_dict"):
                raise ValidationError({f"{section.key}.{k}": v for k, v in exc.message_dict.items()}) from exc
            raise ValidationError({section.key: exc.messages}) from exc
    return result


def _user(actor: Actor) -> User | None:
    """The signed-in user behind ``actor``, or None for the system (webhooks, workers)."""
    return signed_in(actor)


def _check_home_store(actor: Actor, store: Any) -> None:
    """Store-bound staff put customers only in their own stores; admins anywhere; the system anywhere."""
    store_id = getattr(store, "pk", store)
    if not may_use_store(_user(actor), store_id):
        raise ValidationError({"home_store": [_("Choose one of your own stores as the home store.")]})


def _check_owner(actor: Actor, owner: Any) -> None:
    """An owner sees the customer from any store: store-bound staff name only colleagues of their stores."""
    if not may_assign_owner(_user(actor), getattr(owner, "pk", owner)):
        raise ValidationError({"owner": [_("Choose yourself or a colleague of your stores as the owner.")]})


def _derive(customer: Customer) -> None:
    b = customer.birthday
    customer.birthday_md = b.month * 100 + b.day if b else None
    customer.birthday_lunar_md = lunar_md(b) if customer.birthday_is_lunar else None
    customer.id_number_index = blind_index("id_number", customer.id_number) if customer.id_number else ""


def _clean_important_dates(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out, errors = [], {}
    for i, item in enumerate(items):
        kind = item.get("kind") or ImportantDate.Kind.OTHER
        if kind not in ImportantDate.Kind.values:
            errors[f"important_dates[{i}].kind"] = [_("Unknown kind of date.")]
            continue
        raw = item.get("date")
        try:
            date = raw if isinstance(raw, dt.date) else dt.date.fromisoformat(str(raw))
        except (TypeError, ValueError):
            errors[f"important_dates[{i}].date"] = [_("Enter a real date, e.g. 2015-10-01.")]
            continue
        label = str(item.get("label") or "")[:64]
        if kind == ImportantDate.Kind.OTHER and not label:
            errors[f"important_dates[{i}].label"] = [_("Name this date.")]
            continue
        out.append({"kind": kind, "date": date, "label": label})
    if errors:
        raise ValidationError(errors)
    return out


def _tags_by_name(names: list[str]) -> list[Tag]:
    clean = sorted({n.strip()[:50] for n in names if n and n.strip()})
    existing = {t.name: t for t in Tag.objects.filter(name__in=clean)}
    for name in clean:
        if name not in existing:
            existing[name], _created = Tag.objects.get_or_create(name=name)
    return [existing[n] for n in clean]


def _add_contacts(
    customer: Customer, cleaned_contacts: list[CleanContact], *, identity: bool = False
) -> list[ContactPoint]:
    """Add contacts the customer does not have yet; ``identity``: phones and e-mails claim it (see the model)."""
    have_primary = set(ContactPoint.objects.filter(customer=customer, is_primary=True).values_list("kind", flat=True))
    have_index = set(
        ContactPoint.objects.filter(customer=customer).exclude(value_index="").values_list("value_index", flat=True)
    )
    added = []
    for item, value, value_index, last4 in cleaned_contacts:
        if value_index and value_index in have_index:
            continue
        primary = item.is_primary if item.is_primary is not None else item.kind not in have_primary
        if primary and item.kind in have_primary:
            ContactPoint.objects.filter(customer=customer, kind=item.kind, is_primary=True).update(is_primary=False)
        contact = ContactPoint.objects.create(
            customer=customer,
            kind=item.kind,
            value=value,
            value_index=value_index,
            last4_index=last4,
            label=item.label[:32],
            is_primary=primary,
            is_identity=identity and item.kind in ("phone", "email") and bool(value_index),
        )
        if primary:
            have_primary.add(item.kind)
        if value_index:
            have_index.add(value_index)
        added.append(contact)
    return added


def _display(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "pk"):
        return value.pk
    return value


@transaction.atomic
def customer_update(*, actor: Actor, customer: Customer, data: dict[str, Any], channel: str = "api") -> Customer:
    """Change profile fields; the timeline says which, the audit log says from what to what."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    before = {f: _display(getattr(customer, f)) for f in PROFILE_FIELDS} | {
        "custom_attributes": dict(customer.custom_attributes)
    }
    cleaned = _clean_profile(data, instance=customer)
    if getattr(cleaned.get("home_store"), "pk", None) != before["home_store"]:  # (the form set it on customer)
        _check_home_store(actor, cleaned.get("home_store"))
    if getattr(cleaned.get("owner"), "pk", None) != before["owner"]:
        _check_owner(actor, cleaned.get("owner"))
    for name, value in cleaned.items():
        setattr(customer, name, value)
    _derive(customer)
    after = {f: _display(getattr(customer, f)) for f in PROFILE_FIELDS} | {
        "custom_attributes": dict(customer.custom_attributes)
    }
    changed = sorted(f for f in after if after[f] != before[f])
    if not changed:
        return customer
    customer.save()
    changes = {
        f: ({"from": "***", "to": "***"} if f in _SENSITIVE else {"from": before[f], "to": after[f]}) for f in changed
    }
    event = event_record(
        name="customer.updated",
        customer_id=customer.pk,
        aggregate="customer",
        aggregate_id=customer.pk,
        actor_id=_actor_id(actor),
        payload={"fields": changed},
    )
    timeline_record(
        customer_id=customer.pk,
        kind="customer.updated",
        summary=f"changed: {', '.join(changed)}",
        data={"field_names": changed, "changes": {f: c for f, c in changes.items() if f not in _SENSITIVE}},
        actor=actor,
        event_id=event.pk,
    )
    audit_record(
        actor=actor,
        action="update",
        object_type="customer",
        object_id=customer.pk,
        customer_id=customer.pk,
        channel=channel,
        changes=changes,
    )
    return customer


@transaction.atomic
def contact_point_add(
    *,
    actor: Actor,
    customer: Customer,
    kind: str,
    value: str,
    label: str = "",
    is_primary: bool | None = None,
    channel: str = "api",
) -> ContactPoint:
    cleaned = _clean_contacts([ContactInput(kind=kind, value=value, label=label, is_primary=is_primary)])
    item, normalized, value_index, _l4 = cleaned[0]
    if value_index:
        clash = ContactPoint.objects.filter(customer=customer, kind=kind, value_index=value_index).first()
        if clash:
            raise ValidationError({"value": [_already_has(kind)]})
    contact = _add_contacts(customer, cleaned)[0]
    masked = mask_value(kind, normalized)
    event = event_record(
        name="contact.added",
        customer_id=customer.pk,
        aggregate="customer",
        aggregate_id=customer.pk,
        actor_id=_actor_id(actor),
        payload={"kind": kind, "id": contact.pk},
    )
    timeline_record(
        customer_id=customer.pk,
        kind="contact.added",
        summary=f"{kind} added",
        data={"kind": str(ContactPoint.Kind(kind).label), "masked": masked},
        actor=actor,
        event_id=event.pk,
    )
    audit_record(
        actor=actor,
        action="update",
        object_type="contact_point",
        object_id=contact.pk,
        customer_id=customer.pk,
        channel=channel,
        changes={"added": kind},
    )
    return contact


def _already_has(kind: str) -> str:
    return _("This customer already has this %(kind)s.") % {"kind": str(ContactPoint.Kind(kind).label).lower()}


def _clean_one_contact(kind: str, value: str) -> tuple[str, str, str]:
    """(normal form, blind index, last four) of one value, errors keyed ``value`` as the pages name the field."""
    try:
        cleaned = _clean_contacts([ContactInput(kind=kind, value=value)])
    except ValidationError as exc:
        raise ValidationError({"value": exc.messages}) from None
    _item, normalized, value_index, last4 = cleaned[0]
    return normalized, value_index, last4


@transaction.atomic
def contact_point_change(
    *, actor: Actor, contact: ContactPoint, value: str, label: str | None = None, channel: str = "api"
) -> ContactPoint:
    """Correct a contact's value (a mistyped phone, a new address); the audit row and timeline keep both, masked.

    The customer may not hold the new value twice. A phone or e-mail the customer was created under keeps that
    identity claim when nobody else claims the new value; otherwise the corrected contact is an ordinary one
    (as contacts added later are), so a correction never fails because of a customer the actor may not see.
    """
    contact = ContactPoint.objects.select_for_update().get(pk=contact.pk)
    normalized, value_index, last4 = _clean_one_contact(contact.kind, value)
    new_label = contact.label if label is None else label.strip()[:32]
    if normalized == contact.value and new_label == contact.label:
        return contact
    if (
        value_index
        and ContactPoint.objects.filter(customer_id=contact.customer_id, kind=contact.kind, value_index=value_index)
        .exclude(pk=contact.pk)
        .exists()
    ):
        raise ValidationError({"value": [_already_has(contact.kind)]})
    before = mask_value(contact.kind, contact.value)
    contact.value, contact.value_index, contact.last4_index, contact.label = normalized, value_index, last4, new_label
    fields = ["value", "value_index", "last4_index", "label", "verified_at"]
    contact.verified_at = None  # a corrected value has not been verified
    try:
        with transaction.atomic():
            contact.save(update_fields=fields)
    except IntegrityError:  # another customer claims the new value as identity
        contact.is_identity = False
        contact.save(update_fields=[*fields, "is_identity"])
    after = mask_value(contact.kind, contact.value)
    timeline_record(
        customer_id=contact.customer_id,
        kind="contact.changed",
        summary=f"{contact.kind} changed",
        data={"kind": str(ContactPoint.Kind(contact.kind).label), "from": before, "to": after},
        actor=actor,
    )
    audit_record(
        actor=actor,
        action="update",
        object_type="contact_point",
        object_id=contact.pk,
        customer_id=contact.customer_id,
        channel=channel,
        changes={"changed": contact.kind, "from": before, "to": after},
    )
    return contact


@transaction.atomic
def contact_point_remove(*, actor: Actor, contact: ContactPoint, channel: str = "api") -> None:
    customer_id, kind, masked = contact.customer_id, contact.kind, mask_value(contact.kind, contact.value)
    was_primary = contact.is_primary
    contact.delete()
    if was_primary:
        successor = ContactPoint.objects.filter(customer_id=customer_id, kind=kind).order_by("id").first()
        if successor:
            ContactPoint.objects.filter(pk=successor.pk).update(is_primary=True)
    event = event_record(
        name="contact.removed",
        customer_id=customer_id,
        aggregate="customer",
        aggregate_id=customer_id,
        actor_id=_actor_id(actor),
        payload={"kind": kind},
    )
    timeline_record(
        customer_id=customer_id,
        kind="contact.removed",
        summary=f"{kind} removed",
        data={"kind": str(ContactPoint.Kind(kind).label), "masked": masked},
        actor=actor,
        event_id=event.pk,
    )
    audit_record(
        actor=actor,
        action="update",
        object_type="contact_point",
        object_id=contact.pk or "",
        customer_id=customer_id,
        channel=channel,
        changes={"removed": kind},
    )


@transaction.atomic
def contact_point_set_primary(*, actor: Actor, contact: ContactPoint, channel: str = "api") -> ContactPoint:
    if contact.is_primary:
        return contact
    ContactPoint.objects.filter(customer_id=contact.customer_id, kind=contact.kind, is_primary=True).exclude(
        pk=contact.pk
    ).update(is_primary=False)
    ContactPoint.objects.filter(pk=contact.pk).update(is_primary=True)
    contact.is_primary = True
    timeline_record(
        customer_id=contact.customer_id,
        kind="contact.primary",
        summary="primary changed",
        data={"kind": str(ContactPoint.Kind(contact.kind).label), "masked": mask_value(contact.kind, contact.value)},
        actor=actor,
    )
    audit_record(
        actor=actor,
        action="update",
        object_type="contact_point",
        object_id=contact.pk,
        customer_id=contact.customer_id,
        channel=channel,
        changes={"primary": contact.kind},
    )
    return contact


@transaction.atomic
def customer_tag(*, actor: Actor, customer_ids: list[int], tag_name: str) -> int:
    """Tag many customers in one statement; returns how many newly got the tag."""
    name = (tag_name or "").strip()
    if not name:
        raise ValidationError({"tag": [_("Enter a tag name.")]})
    if len(name) > 50:
        raise ValidationError({"tag": [_("A tag name has at most 50 characters.")]})
    tag = _tags_by_name([name])[0]
    through = Customer.tags.through
    have = set(through.objects.filter(tag=tag, customer_id__in=customer_ids).values_list("customer_id", flat=True))
    new_ids = [cid for cid in dict.fromkeys(customer_ids) if cid not in have]
    through.objects.bulk_create([through(customer_id=cid, tag=tag) for cid in new_ids], batch_size=1000)
    TimelineEntry.objects.bulk_create(
        [
            TimelineEntry(
                customer_id=cid,
                kind="tag.added",
                summary=f"tag {name}",
                data={"tag": name},
                occurred_at=timezone.now(),
                actor_id=_actor_id(actor),
            )
            for cid in new_ids
        ],
        batch_size=1000,
    )
    return len(new_ids)


@transaction.atomic
def customer_untag(*, actor: Actor, customer: Customer, tag: Tag) -> None:
    customer.tags.remove(tag)
    timeline_record(
        customer_id=customer.pk,
        kind="tag.removed",
        summary=f"tag {tag.name} removed",
        data={"tag": tag.name},
        actor=actor,
    )


@transaction.atomic
def note_add(*, actor: Actor, customer: Customer, body: str) -> Note:
    text = (body or "").strip()
    if not text:
        raise ValidationError({"body": [_("Write something in the note.")]})
    if len(text) > 5000:
        raise ValidationError({"body": [_("A note has at most 5,000 characters.")]})
    note = Note.objects.create(customer=customer, author=_user(actor), body=text)
    event = event_record(
        name="note.added", customer_id=customer.pk, aggregate="note", aggregate_id=note.pk, actor_id=_actor_id(actor)
    )
    timeline_record(
        customer_id=customer.pk,
        kind="note.added",
        summary=text[:80],
        data={"excerpt": text[:80]},
        actor=actor,
        event_id=event.pk,
        ref_type="note",
        ref_id=note.pk,
    )
    return note


@transaction.atomic
def important_date_add(*, actor: Actor, customer: Customer, kind: str, date: Any, label: str = "") -> ImportantDate:
    item = _clean_important_dates([{"kind": kind, "date": date, "label": label}])[0]
    important = ImportantDate.objects.create(customer=customer, **item)
    timeline_record(
        customer_id=customer.pk,
        kind="date.added",
        summary=f"date {item['date']}",
        data={"label": label or str(ImportantDate.Kind(kind).label), "date": item["date"].isoformat()},
        actor=actor,
    )
    return important


#: The rows of this app that follow a merge with one UPDATE; ``CustomersConfig.ready()`` registers them in
#: ``core.merge`` beside the other apps' followers and hooks (contacts and tags need more than a move: below).
MERGE_FOLLOWERS = [
    MergeFollower("customers.Note", order=10),
    MergeFollower("customers.TimelineEntry", order=10),
    MergeFollower("customers.ImportantDate", order=10),
]


def _dismissed_pairs_follow(survivor: Customer, merged: Customer) -> int:
    """ "Not the same person" marks on ``merged`` now concern ``survivor`` (the merged record is the survivor now).

    A mark between the two themselves goes (they were one person after all), and one the survivor already has
    with the same customer is kept once; the rest keep who dismissed them and when. Returns the marks moved.
    """
    rows = list(DismissedDuplicate.objects.filter(Q(first=merged) | Q(second=merged)).order_by("pk"))
    if not rows:
        return 0
    have = set(
        DismissedDuplicate.objects.filter(Q(first=survivor) | Q(second=survivor)).values_list("first_id", "second_id")
    )
    drop: list[int] = []
    moves: list[tuple[int, int, int]] = []
    for row in rows:
        other = row.second_id if row.first_id == merged.pk else row.first_id
        pair = (min(survivor.pk, other), max(survivor.pk, other))
        if other == survivor.pk or pair in have:
            drop.append(row.pk)
            continue
        have.add(pair)
        moves.append((row.pk, *pair))
    DismissedDuplicate.objects.filter(pk__in=drop).delete()
    for pk, first, second in moves:
        DismissedDuplicate.objects.filter(pk=pk).update(first_id=first, second_id=second)
    return len(moves)


@transaction.atomic
def customer_merge(*, actor: Actor, survivor: Customer, merged: Customer) -> CustomerMerge:
    """Fold ``merged`` into ``survivor``: every order, note, tag, date, contact and timeline entry moves.

    The merged record stays as a tombstone pointing at the survivor, so old references resolve.
    """
    from django.apps import apps

    if survivor.pk == merged.pk:
        raise ValidationError({"merged": [_("A customer cannot be merged with itself.")]})
    first, second = sorted([survivor.pk, merged.pk])
    locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[first, second]).order_by("pk")}
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    if survivor.merged_into_id or merged.merged_into_id:
        raise ValidationError({"merged": [_("One of these customers has already been merged away.")]})
    moved: dict[str, int] = {}
    for follower in merge_followers():
        model = apps.get_model(follower.model_label)
        moved[follower.model_label] = model.objects.filter(**{follower.field_name: merged}).update(
            **{follower.field_name: survivor}
        )

    survivor_indexes = set(
        ContactPoint.objects.filter(customer=survivor).exclude(value_index="").values_list("value_index", flat=True)
    )
    survivor_primary = set(
        ContactPoint.objects.filter(customer=survivor, is_primary=True).values_list("kind", flat=True)
    )
    contacts_moved = 0
    for contact in ContactPoint.objects.filter(customer=merged).order_by("-is_primary", "id"):
        if contact.value_index and contact.value_index in survivor_indexes:
            contact.delete()
            continue
        ContactPoint.objects.filter(pk=contact.pk).update(
            customer=survivor, is_primary=contact.is_primary and contact.kind not in survivor_primary
        )
        if contact.is_primary:
            survivor_primary.add(contact.kind)
        contacts_moved += 1
    moved["customers.ContactPoint"] = contacts_moved
    moved["customers.DismissedDuplicate"] = _dismissed_pairs_follow(survivor, merged)

    through = Customer.tags.through
    have_tags = set(through.objects.filter(customer=survivor).values_list("tag_id", flat=True))
    new_tags = [
        t for t in through.objects.filter(customer=merged).values_list("tag_id", flat=True) if t not in have_tags
    ]
    through.objects.bulk_create([through(customer_id=survivor.pk, tag_id=t) for t in new_tags])
    through.objects.filter(customer=merged).delete()
    moved["tags"] = len(new_tags)

    filled = []
    for name in PROFILE_FIELDS:
        if getattr(survivor, name) in (None, "", [], {}) and getattr(merged, name) not in (None, "", [], {}):
            setattr(survivor, name, getattr(merged, name))
            filled.append(name)
    survivor.custom_attributes = {**merged.custom_attributes, **survivor.custom_attributes}
    survivor.interests = sorted(set(survivor.interests) | set(merged.interests))
    survivor.is_key_account = survivor.is_key_account or merged.is_key_account
    _derive(survivor)
    survivor.save()
    Customer.objects.filter(pk=merged.pk).update(merged_into=survivor, updated_at=timezone.now())
    for hook in merge_hooks():
        moved.update(hook.function(survivor, merged))

    record = CustomerMerge.objects.create(
        survivor=survivor,
        merged=merged,
        actor=_user(actor),
        moved={**moved, "filled_fields": filled},
    )
    event = event_record(
        name="customer.merged",
        customer_id=survivor.pk,
        aggregate="customer",
        aggregate_id=survivor.pk,
        actor_id=_actor_id(actor),
        payload={"merged_id": merged.pk, "moved": moved},
    )
    timeline_record(
        customer_id=survivor.pk,
        kind="customer.merged",
        summary=f"merged #{merged.pk}",
        data={"merged_id": merged.pk, "merged_name": merged.name, "moved": moved},
        actor=actor,
        event_id=event.pk,
        ref_type="merge",
        ref_id=record.pk,
    )
    audit_record(
        actor=actor,
        action="merge",
        object_type="customer",
        object_id=survivor.pk,
        customer_id=survivor.pk,
        changes={"merged_id": merged.pk, "moved": moved},
    )
    return record


@transaction.atomic
def customer_erase(*, actor: Actor, customer: Customer, reason: str = "deleted") -> Customer:
    """Delete a customer's personal data; orders stay (accounting) but point at an anonymous record."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    ContactPoint.objects.filter(customer=customer).delete()
    ImportantDate.objects.filter(customer=customer).delete()
    Note.objects.filter(customer=customer).delete()
    customer.tags.clear()
    blank: dict[str, Any] = {
        "name": _("Deleted customer"),
        "gender": "",
        "birthday": None,
        "birthday_md": None,
        "birthday_is_lunar": False,
        "birthday_lunar_md": None,
        "occupation": "",
        "income_band": "",
        "education": "",
        "family_size": None,
        "region": "",
        "organisation_name": "",
        "id_number": "",
        "id_number_index": "",
        "interests": [],
        "preferences": {},
        "custom_attributes": {},
        "owner": None,
        "is_key_account": False,
    }
    for name, value in blank.items():
        setattr(customer, name, value)
    customer.save()
    TimelineEntry.objects.filter(customer=customer).exclude(kind__in=["order.paid", "order.refunded"]).delete()
    erased = personal_data_erase(customer)  # every app's copies (messages, replies…), in this transaction
    event_record(
        name="customer.erased",
        customer_id=customer.pk,
        aggregate="customer",
        aggregate_id=customer.pk,
        actor_id=_actor_id(actor),
        payload={"reason": reason},
    )
    audit_record(
        actor=actor,
        action="delete",
        object_type="customer",
        object_id=customer.pk,
        customer_id=customer.pk,
        changes={"reason": reason, "erased": erased} if erased else {"reason": reason},
    )
    return customer


# --- imports interrupted by a crash --------------------------------------------------------------


@dataclass(frozen=True)
class ReapResult:
    requeued: list[int]
    failed: list[int]


def import_jobs_reap_stale(*, stale_after: float | None = None) -> ReapResult:
    """Take up import jobs whose worker is gone, so that none shows "importing… 40%" forever.

    A job that is queued (``pending``) with no sign of life for ``stale_after`` seconds lost its task (the
    broker was down, or the worker died before starting it): it is queued again. A job checking or importing
    with no progress for that long lost its worker mid-way (killed, out of memory, machine restarted): it is
    marked failed with the reason, and the user runs it again. Runs every minute from beat.
    """
    from django.conf import settings

    from guanxi.customers.models import ImportJob
    from guanxi.customers.tasks import import_job_run

    seconds = settings.GUANXI_IMPORT_STALE_SECONDS if stale_after is None else stale_after
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=seconds)
    stale = ImportJob.objects.filter(heartbeat_at__lt=cutoff)
    requeued = list(stale.filter(status=ImportJob.Status.PENDING).values_list("pk", flat=True))
    for pk in requeued:
        ImportJob.objects.filter(pk=pk, status=ImportJob.Status.PENDING).update(heartbeat_at=now)
        import_job_run.publish_best_effort((pk,), {})
    running = (ImportJob.Status.VALIDATING, ImportJob.Status.RUNNING)
    failed = []
    for job in stale.filter(status__in=running).only("pk"):
        # Conditional on the stale heartbeat: a job that ticked meanwhile is alive and keeps running.
        if (
            ImportJob.objects.filter(pk=job.pk, status__in=running, heartbeat_at__lt=cutoff).update(
                status=ImportJob.Status.FAILED,
                error=_(
                    "The import stopped: the process running it ended unexpectedly (no progress for %(seconds)d "
                    "seconds). Start it again to finish."
                )
                % {"seconds": seconds},
                finished_at=now,
                heartbeat_at=now,
            )
            == 1
        ):
            failed.append(job.pk)
    return ReapResult(requeued=requeued, failed=failed)
