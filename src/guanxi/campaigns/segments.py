"""Segments: create, change, freeze, archive and delete them; and the segment field "is in another segment".

A segment keeps its rule tree exactly as it was submitted, once ``segment_rules_clean`` has passed it, so a
field that cleans its values differently later still reads the tree its author wrote. A **snapshot** is the
tree evaluated once, with the freezing user's visibility, into ``SegmentMember`` rows by one
``INSERT … SELECT`` (the rows never pass through Python).

"Is in another segment" (``campaigns.segment``) names segments by id; its condition compiles each named
segment's own tree (or reads its snapshot members) when the including segment is evaluated, so a change to the
included segment reaches every segment that includes it. A segment that would include itself, directly or
through others, is refused on saving with the place of the offending condition.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.accounts.actors import actor_id as _actor_id
from guanxi.accounts.models import Store, User
from guanxi.campaigns.models import Campaign, Segment, SegmentMember
from guanxi.campaigns.selectors import (
    INCLUDE_FIELD,
    customers_count,
    segment_customers,
    segments_visible_to,
    tree_customers,
)
from guanxi.core.audit import audit_record
from guanxi.core.events import event_record
from guanxi.core.segments import SegmentField, register_segment_field, segment_q, segment_rules_clean
from guanxi.customers.models import Customer

MAX_INCLUDED = 20  # segments named by one "is in another segment" condition
MAX_RULES_CHARS = 20_000  # a submitted tree, as JSON
MAX_NAME = 120
MAX_DESCRIPTION = 2000
_INT_MAX = 2**31 - 1
#: Segment ids whose trees are being compiled right now (a stored cycle would otherwise never end).
_compiling: ContextVar[tuple[int, ...]] = ContextVar("segment_compiling", default=())
#: Campaigns in these states no longer need their segment.
_FINISHED = (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED)


# --- "is in another segment" -------------------------------------------------------------------------------------


def clean_segment_ids(value: Any) -> list[int]:
    """One segment id or a list of them, as sorted distinct ids of segments that exist and are not archived."""
    items = value if isinstance(value, list) else [value]
    if not items or items == [None] or items == [""]:
        raise ValidationError(_("Choose at least one segment."))
    if len(items) > MAX_INCLUDED:
        raise ValidationError(_("Choose at most %(n)d segments.") % {"n": MAX_INCLUDED})
    ids: set[int] = set()
    for item in items:
        text = str(item).strip()
        if isinstance(item, bool) or not text.isdigit() or not 1 <= int(text) <= _INT_MAX:
            raise ValidationError(_("“%(value)s” is not a segment; choose one from the list.") % {"value": item})
        ids.add(int(text))
    found = set(Segment.objects.filter(pk__in=ids, archived=False).values_list("pk", flat=True))
    missing = sorted(ids - found)
    if missing:
        raise ValidationError(_("There is no segment #%(id)s.") % {"id": missing[0]})
    return sorted(ids)


def _segment_condition(operator: str, value: list[int], params: dict[str, Any]) -> Q:
    """Customers in any of the segments ``value`` (``in``) or in none of them (``not_in``), as one ``Q``.

    A dynamic segment's own tree is compiled into the including query (no copy of its SQL is stored); a
    snapshot contributes its member rows. A segment met again while compiling (a cycle) matches nobody.
    """
    stack = _compiling.get()
    rows = {s.pk: s for s in Segment.objects.filter(pk__in=value).only("id", "kind", "rules")}
    q = Q(pk__in=[])
    for segment_id in value:
        segment = rows.get(segment_id)
        if segment is None or segment_id in stack:
            continue
        if segment.kind == Segment.Kind.SNAPSHOT:
            q |= Q(pk__in=SegmentMember.objects.filter(segment_id=segment_id).values("customer_id"))
            continue
        token = _compiling.set((*stack, segment_id))
        try:
            inner = segment_q(segment_rules_clean(segment.rules or {"all": []}), base=Customer.objects.all())
        finally:
            _compiling.reset(token)
        q |= inner if inner else Q(pk__isnull=False)  # an empty Q would vanish under ~ and |
    return ~q if operator == "not_in" else q


def _segment_filter(queryset: Any, operator: str, value: list[int]) -> Any:
    return queryset.filter(_segment_condition(operator, value, {}))


def register_include_field() -> None:
    register_segment_field(
        SegmentField(
            key=INCLUDE_FIELD,
            label=gettext_lazy("In segment"),
            type="choice",
            filter=_segment_filter,
            operators=("in", "not_in"),
            clean=clean_segment_ids,
            condition=_segment_condition,
            group="segment",
            order=90,
            help=gettext_lazy("Customers of another saved segment, as it is when this one is used."),
        )
    )


def _raw_ids(value: Any) -> set[int]:
    items = value if isinstance(value, list) else [value]
    return {int(str(i).strip()) for i in items if not isinstance(i, bool) and str(i).strip().isdigit()}


def _include_leaves(node: Any, where: str = "rules") -> Iterator[tuple[str, set[int]]]:
    """(place, segment ids) of each "is in another segment" condition of a tree, placed as the clean names them."""
    if not isinstance(node, dict):
        return
    for kind in ("all", "any"):
        if isinstance(node.get(kind), list):
            for i, item in enumerate(node[kind]):
                yield from _include_leaves(item, f"{where}.{kind}.{i}")
            return
    if "not" in node:
        yield from _include_leaves(node["not"], f"{where}.not")
        return
    if node.get("field") == INCLUDE_FIELD:
        yield where, _raw_ids(node.get("value"))


def _check_includes(tree: Any, *, actor: User | None, segment: Segment | None) -> None:
    """Included segments must be the actor's to see, and must not lead back to ``segment``."""
    leaves = list(_include_leaves(tree))
    if not leaves:
        return
    named = set().union(*(ids for _where, ids in leaves))
    visible = set(segments_visible_to(actor).filter(pk__in=named).values_list("pk", flat=True))
    for where, ids in leaves:
        hidden = sorted(ids - visible)
        if hidden:
            raise ValidationError({f"{where}.value": [_("There is no segment #%(id)s.") % {"id": hidden[0]}]})
    if segment is None or segment.pk is None:
        return  # a new segment: nothing includes it yet
    for where, ids in leaves:
        seen: set[int] = set()
        frontier = set(ids)
        while frontier:
            if segment.pk in frontier:
                raise ValidationError(
                    {
                        f"{where}.value": [
                            _("A segment cannot include itself, directly or through another segment it includes.")
                        ]
                    }
                )
            seen |= frontier
            found: set[int] = set()
            for rules in Segment.objects.filter(pk__in=frontier).values_list("rules", flat=True):
                for _where, more in _include_leaves(rules):
                    found |= more
            frontier = found - seen


def _including(segment: Segment) -> list[Segment]:
    """Other live segments whose trees name ``segment`` (segments are few: their trees are read here)."""
    out = []
    for other in Segment.objects.filter(archived=False).exclude(pk=segment.pk).only("id", "name", "rules"):
        if any(segment.pk in ids for _where, ids in _include_leaves(other.rules)):
            out.append(other)
    return out


# --- input -------------------------------------------------------------------------------------------------------


def segment_tree_clean(rules: Any, *, actor: User | None, segment: Segment | None = None) -> dict[str, Any]:
    """A submitted tree checked as the builder and the API need it: bounded, valid, visible, without cycles."""
    if rules in (None, "", {}):
        raise ValidationError({"rules": [_("Add at least one condition.")]})
    if isinstance(rules, str):
        try:
            rules = json.loads(rules)
        except ValueError:
            raise ValidationError({"rules": [_("The rules could not be read; start again.")]}) from None
    if len(json.dumps(rules, default=str)) > MAX_RULES_CHARS:
        raise ValidationError({"rules": [_("The rules are too long.")]})
    cleaned = segment_rules_clean(rules, user=actor)
    _check_includes(rules, actor=actor, segment=segment)
    return cleaned


def _store_for(actor: User | None, value: Any, *, current: Store | None) -> Store | None:
    if value in (None, ""):
        if current is not None:
            return current
        if actor is not None and not actor.sees_all_stores:
            mine = list(actor.stores.all()[:2])
            return mine[0] if len(mine) == 1 else None
        return None
    store_id = value.pk if isinstance(value, Store) else value
    if isinstance(store_id, bool) or not str(store_id).isdigit() or not 1 <= int(store_id) <= _INT_MAX:
        raise ValidationError({"store": [_("Choose one of your own stores.")]})
    stores = Store.objects.all() if actor is None or actor.sees_all_stores else actor.stores.all()
    store = stores.filter(pk=int(store_id)).first()
    if store is None:
        raise ValidationError({"store": [_("Choose one of your own stores.")]})
    return store


def _clean(*, actor: User | None, data: dict[str, Any], segment: Segment | None) -> dict[str, Any]:
    """Every field checked before anything is written; all the problems found at once, by field."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    name = str(data.get("name", segment.name if segment else "") or "").strip()
    if not name:
        errors["name"] = [_("Give the segment a name.")]
    elif len(name) > MAX_NAME:
        errors["name"] = [_("A name has at most %(n)d characters.") % {"n": MAX_NAME}]
    out["name"] = name
    description = str(data.get("description", segment.description if segment else "") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = [_("A description has at most %(n)d characters.") % {"n": MAX_DESCRIPTION}]
    out["description"] = description
    kind = data.get("kind") or (segment.kind if segment else Segment.Kind.DYNAMIC)
    if kind not in Segment.Kind.values:
        errors["kind"] = [_("Choose dynamic or snapshot.")]
    out["kind"] = kind
    rules = data["rules"] if "rules" in data else (segment.rules if segment else None)
    try:
        segment_tree_clean(rules, actor=actor, segment=segment)
        out["rules"] = json.loads(rules) if isinstance(rules, str) else rules
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    try:
        out["store"] = _store_for(actor, data.get("store"), current=segment.store if segment else None)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return out


# --- writes ------------------------------------------------------------------------------------------------------


def _audit(*, actor: User | None, segment: Segment, action: str, changes: dict[str, Any]) -> None:
    audit_record(actor=actor, action=action, object_type="segment", object_id=segment.pk, changes=changes)


def segment_create(*, actor: User | None, data: dict[str, Any]) -> Segment:
    """A new segment from ``name``, ``description``, ``kind``, ``rules`` and ``store``; a snapshot is frozen now."""
    clean = _clean(actor=actor, data=data, segment=None)
    with transaction.atomic():
        segment = Segment.objects.create(
            name=clean["name"],
            description=clean["description"],
            kind=clean["kind"],
            rules=clean["rules"],
            store=clean["store"],
            created_by=actor if _actor_id(actor) else None,
        )
        _audit(
            actor=actor, segment=segment, action="create", changes={"kind": segment.kind, "store_id": segment.store_id}
        )
        event_record(
            name="segment.created",
            payload={"kind": segment.kind, "store_id": segment.store_id},
            aggregate="segment",
            aggregate_id=segment.pk,
            actor_id=_actor_id(actor),
        )
        if segment.kind == Segment.Kind.SNAPSHOT:
            _freeze(actor=actor, segment=segment)
    return segment


def segment_update(*, actor: User | None, segment: Segment, data: dict[str, Any]) -> Segment:
    """Change what ``data`` names; turning into a snapshot freezes it, turning dynamic drops its members."""
    clean = _clean(actor=actor, data=data, segment=segment)
    with transaction.atomic():
        locked = Segment.objects.select_for_update().get(pk=segment.pk)
        changed = [
            name for name in ("name", "description", "kind", "rules", "store") if getattr(locked, name) != clean[name]
        ]
        was_snapshot = locked.kind == Segment.Kind.SNAPSHOT
        for name in ("name", "description", "kind", "rules", "store"):
            setattr(locked, name, clean[name])
        if locked.kind == Segment.Kind.DYNAMIC and was_snapshot:
            SegmentMember.objects.filter(segment=locked).delete()
            locked.frozen_at = None
        if "rules" in changed or "kind" in changed:
            locked.member_count = None
            locked.counted_at = None
        locked.save()
        _audit(actor=actor, segment=locked, action="update", changes={"kind": locked.kind, "changed": changed})
        event_record(
            name="segment.updated",
            payload={"kind": locked.kind, "changed": changed},
            aggregate="segment",
            aggregate_id=locked.pk,
            actor_id=_actor_id(actor),
        )
        if locked.kind == Segment.Kind.SNAPSHOT and not was_snapshot:
            _freeze(actor=actor, segment=locked)
    return locked


def _insert_members(segment: Segment, customers: Any) -> int:
    """The customers of ``customers`` (a queryset) as members of ``segment``, by one INSERT … SELECT."""
    # the column named by an alias: SQLite does not name a subquery's qualified column by its bare name
    try:
        sql, params = customers.order_by().annotate(member_id=F("pk")).values("member_id").query.sql_with_params()
    except EmptyResultSet:  # a query that can match nobody (no visible customers, an empty choice)
        return 0
    quote = connection.ops.quote_name
    table = quote(SegmentMember._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({quote('segment_id')}, {quote('customer_id')}) "  # noqa: S608 - names quoted, values bound
            f"SELECT DISTINCT %s, chosen.{quote('member_id')} FROM ({sql}) chosen",
            [segment.pk, *params],
        )
        return int(cursor.rowcount)


def _freeze(*, actor: User | None, segment: Segment) -> int:
    viewer = actor if _actor_id(actor) else segment.created_by
    tree = segment_rules_clean(segment.rules or {"all": []})
    SegmentMember.objects.filter(segment=segment).delete()
    members = _insert_members(segment, tree_customers(tree, user=viewer))
    now = timezone.now()
    Segment.objects.filter(pk=segment.pk).update(
        kind=Segment.Kind.SNAPSHOT, frozen_at=now, member_count=members, counted_at=now
    )
    segment.kind, segment.frozen_at, segment.member_count, segment.counted_at = Segment.Kind.SNAPSHOT, now, members, now
    _audit(actor=actor, segment=segment, action="freeze", changes={"members": members})
    event_record(
        name="segment.frozen",
        payload={"members": members},
        aggregate="segment",
        aggregate_id=segment.pk,
        actor_id=_actor_id(actor),
    )
    return members


def segment_freeze(*, actor: User | None, segment: Segment) -> int:
    """Evaluate the segment's tree now (with ``actor``'s visibility) and keep the result as its members."""
    with transaction.atomic():
        locked = Segment.objects.select_for_update().get(pk=segment.pk)
        members = _freeze(actor=actor, segment=locked)
    segment.refresh_from_db()
    return members


def _refuse_if_used(segment: Segment, *, finished_too: bool) -> None:
    campaigns = Campaign.objects.filter(segment=segment)
    if not finished_too:
        campaigns = campaigns.exclude(status__in=_FINISHED)
    names = list(campaigns.order_by("-id").values_list("name", flat=True)[:3])
    if names:
        raise ValidationError({"segment": [_("Campaigns use this segment: %(names)s.") % {"names": "、".join(names)}]})
    including = _including(segment)
    if including:
        raise ValidationError(
            {
                "segment": [
                    _("Other segments include this one: %(names)s.")
                    % {"names": "、".join(s.name for s in including[:3])}
                ]
            }
        )


def segment_archive(*, actor: User | None, segment: Segment, archived: bool = True) -> Segment:
    """Hide a segment from the lists (or bring it back); refused while a running campaign or a segment uses it."""
    with transaction.atomic():
        locked = Segment.objects.select_for_update().get(pk=segment.pk)
        if archived and not locked.archived:
            _refuse_if_used(locked, finished_too=False)
        if locked.archived == archived:
            return locked
        locked.archived = archived
        locked.save(update_fields=["archived", "updated_at"])
        _audit(actor=actor, segment=locked, action="archive", changes={"archived": archived})
        event_record(
            name="segment.archived",
            payload={"archived": archived},
            aggregate="segment",
            aggregate_id=locked.pk,
            actor_id=_actor_id(actor),
        )
    return locked


def segment_delete(*, actor: User | None, segment: Segment) -> None:
    """Delete a segment and its snapshot; refused when any campaign, past ones included, or segment uses it."""
    with transaction.atomic():
        locked = Segment.objects.select_for_update().get(pk=segment.pk)
        _refuse_if_used(locked, finished_too=True)
        _audit(actor=actor, segment=locked, action="delete", changes={"kind": locked.kind})
        event_record(
            name="segment.deleted",
            payload={"kind": locked.kind},
            aggregate="segment",
            aggregate_id=locked.pk,
            actor_id=_actor_id(actor),
        )
        locked.delete()


def segment_count(*, actor: User | None, segment: Segment) -> int:
    """How many of the segment's customers ``actor`` sees, kept on the segment as "at the last count"."""
    count = customers_count(segment_customers(segment, user=actor))
    Segment.objects.filter(pk=segment.pk).update(member_count=count, counted_at=timezone.now())
    return count
