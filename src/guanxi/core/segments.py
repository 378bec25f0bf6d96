"""Segment fields: what a segment (campaigns, care conditions, the customer list) can filter customers on.

An app that knows something about customers registers a field in its ``AppConfig.ready()``: the customers
app their gender and region, loyalty the tier and the points balance, analytics the churn risk. A segment is
then a list of ``(field key, operator, value)`` conditions that the segment engine turns into one SQL query
by calling each field's ``filter`` in turn; it never loads customers into Python.

``filter(queryset, operator, value) -> queryset`` narrows a queryset of ``customers.Customer`` that is
already limited to what the user may see: it only adds conditions (``filter``, ``exclude``, ``Exists``
subqueries), never widens the set or starts from ``Customer.objects``, never evaluates it, and adds no
per-customer query. ``operator`` is one of the field's ``operators``; ``value`` has been through ``clean``
(which raises ``ValidationError`` naming the problem).

**Rule trees** (campaign segments, care conditions) combine conditions with all / any / not and compile to
one ``Q`` over ``customers.Customer`` (``segment_q``), so a segment of any shape is one SQL statement:

    {"all": [{"field": "loyalty.tier", "op": "in", "value": [3]},
             {"not": {"field": "sales.last_purchase", "op": "within_days", "value": 90}},
             {"field": "messaging.consent", "op": "eq", "value": "sms:marketing"}]}

A field takes part in trees through ``condition(operator, value, params) -> Q`` (a ``Q`` or a conditional
expression such as ``Exists(...)`` over the customer's ``pk``); a field that offers only ``filter`` joins a
tree as ``pk IN (filter(base, ...))``. ``params`` are a leaf's extra inputs (``{"days": 90}``) named by
``SegmentField.params`` and cleaned by ``clean_params``. ``segment_rules_clean`` checks a whole tree before
it is saved and names the failing place (``rules.all.1.value``) and the problem, translated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.registry import Registry, allowed

FieldType = Literal["text", "number", "money", "date", "boolean", "choice", "tag"]

#: Operators a field may offer, with their labels for the segment builder.
OPERATORS: dict[str, Any] = {
    "eq": gettext_lazy("is"),
    "ne": gettext_lazy("is not"),
    "in": gettext_lazy("is any of"),
    "not_in": gettext_lazy("is none of"),
    "gt": gettext_lazy("more than"),
    "gte": gettext_lazy("at least"),
    "lt": gettext_lazy("less than"),
    "lte": gettext_lazy("at most"),
    "between": gettext_lazy("between"),
    "contains": gettext_lazy("contains"),
    "before": gettext_lazy("before"),
    "after": gettext_lazy("after"),
    "within_days": gettext_lazy("in the last … days"),
    "not_within_days": gettext_lazy("not in the last … days"),
    "is_true": gettext_lazy("yes"),
    "is_false": gettext_lazy("no"),
}

#: Groups of the segment builder's field list, in this order.
GROUPS: dict[str, Any] = {
    "profile": gettext_lazy("Profile"),
    "purchase": gettext_lazy("Purchase behaviour"),
    "loyalty": gettext_lazy("Loyalty"),
    "analytics": gettext_lazy("Analytics"),
    "messaging": gettext_lazy("Messaging"),
    "segment": gettext_lazy("Segments"),
    "other": gettext_lazy("Other"),
}

MAX_DEPTH = 6
MAX_CONDITIONS = 40


def _as_is(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class SegmentField:
    key: str
    label: Any
    type: FieldType
    filter: Callable[[Any, str, Any], Any]  # (QuerySet[Customer], operator, value) -> QuerySet[Customer]
    operators: tuple[str, ...] = ("eq",)
    clean: Callable[[Any], Any] = _as_is
    choices: Callable[[], list[tuple[str, Any]]] | None = None  # for "choice": [(value, label)]
    order: int = 100
    roles: frozenset[str] = field(default_factory=frozenset)  # empty: everyone who may build segments
    # rule trees: (operator, cleaned value, cleaned params) -> Q or a conditional expression over Customer.pk
    condition: Callable[[str, Any, dict[str, Any]], Any] | None = None
    group: str = "other"  # a key of GROUPS
    params: tuple[str, ...] = ()  # names of a leaf's extra inputs, e.g. ("days",)
    clean_params: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    help: Any = ""


SEGMENT_FIELDS: Registry[SegmentField] = Registry("segment fields")


def register_segment_field(segment_field: SegmentField) -> None:
    SEGMENT_FIELDS.register(segment_field)


def segment_fields() -> list[SegmentField]:
    return SEGMENT_FIELDS.entries()


# --- building fields ---------------------------------------------------------------------------------------
#
# Most fields are a ``condition`` (rule trees) whose ``filter`` (the customer list's ``?seg.`` links) is the
# same condition applied to the list's queryset. The helpers below build such a field with the operators of
# its kind as defaults; every other ``SegmentField`` option (``clean``, ``choices``, ``order``, ``help``,
# ``roles``, ``params``...) passes through unchanged, and an explicit ``operators`` or ``type`` wins.

Condition = Callable[[str, Any, dict[str, Any]], Any]

NUMBER_OPERATORS = ("gte", "lte")
DAYS_OPERATORS = ("within_days", "not_within_days")
DATE_OPERATORS = ("before", "after")
CHOICE_OPERATORS = ("in", "not_in")
FLAG_OPERATORS = ("is_true", "is_false")


def list_filter(condition: Condition) -> Callable[[Any, str, Any], Any]:
    """A field's ``filter`` from its ``condition``: ``queryset.filter(condition(operator, value, {}))``."""

    def narrow(queryset: Any, operator: str, value: Any) -> Any:
        return queryset.filter(condition(operator, value, {}))

    return narrow


def condition_field(
    key: str,
    label: Any,
    type: FieldType,
    condition: Condition,
    *,
    days: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    **options: Any,
) -> SegmentField:
    """A field given by its ``condition``, its ``filter`` derived from it (``list_filter``).

    ``days``: the cleaner of an optional "in the last N days" leaf parameter (``params=("days",)``, e.g.
    ``customers.segments.clean_optional_days``); the condition reads ``params["days"]``.
    """
    if days is not None:
        options.update(params=("days",), clean_params=days)
    return SegmentField(key=key, label=label, type=type, filter=list_filter(condition), condition=condition, **options)


def _kind(type: FieldType, operators: tuple[str, ...], doc: str) -> Callable[..., SegmentField]:
    """A builder ``(key, label, condition, **options) -> SegmentField`` of one kind of field: ``type`` and
    ``operators`` are its defaults (``type=`` and ``operators=`` override them)."""

    def build(key: str, label: Any, condition: Condition, **options: Any) -> SegmentField:
        options.setdefault("operators", operators)
        return condition_field(key, label, options.pop("type", type), condition, **options)

    build.__doc__ = doc
    return build


number_field = _kind("number", NUMBER_OPERATORS, 'A number (or ``type="money"``) compared with at least / at most.')
days_field = _kind("number", DAYS_OPERATORS, "Something in (or not in) the last N local calendar days; the value is N.")
date_field = _kind("date", DATE_OPERATORS, "A calendar date (or month) compared with before / after.")
choice_field = _kind("choice", CHOICE_OPERATORS, 'Some of a list (or ``type="text"``/``"tag"``): any of / none of.')
flag_field = _kind("boolean", FLAG_OPERATORS, "A yes/no condition; the operator says yes or no.")


def segment_filter(queryset: Any, *, key: str, operator: str, value: Any) -> Any:
    """Apply one condition through its registered field; unknown fields or operators are refused."""
    found = SEGMENT_FIELDS.get(key)
    if found is None:
        raise ValidationError({"field": [_("There is no segment field “%(key)s”.") % {"key": key}]})
    if operator not in found.operators:
        raise ValidationError(
            {"operator": [_("“%(op)s” cannot be used with “%(key)s”.") % {"op": operator, "key": key}]}
        )
    return found.filter(queryset, operator, found.clean(value))


# --- rule trees ------------------------------------------------------------------------------------


def _leaf_error(path: str, message: Any) -> ValidationError:
    return ValidationError({path: [str(message)]})


def segment_rules_clean(tree: Any, *, user: Any = None, path: str = "rules") -> dict[str, Any]:
    """A rule tree checked and normalised (values through each field's ``clean``), or ``ValidationError``.

    Errors are keyed by the place in the tree (``rules.all.1.value``) and say what is wrong in the user's
    language; nothing is evaluated. ``user`` hides fields whose ``roles`` the user lacks.
    """
    count = [0]

    def walk(node: Any, where: str, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise _leaf_error(where, _("Rules may be nested at most %(n)d deep.") % {"n": MAX_DEPTH})
        if not isinstance(node, dict):
            raise _leaf_error(where, _("Each rule must be a condition or a group of conditions."))
        groups = [k for k in ("all", "any", "not") if k in node]
        if groups:
            if len(groups) > 1 or "field" in node:
                raise _leaf_error(where, _("A group is either all, any or not, never more than one."))
            kind = groups[0]
            if kind == "not":
                return {"not": walk(node["not"], f"{where}.not", depth + 1)}
            items = node[kind]
            if not isinstance(items, list) or (not items and not (kind == "all" and depth == 0)):
                # an empty "all" at the top is "every customer I may see"; an empty group inside is a mistake
                raise _leaf_error(f"{where}.{kind}", _("A group needs at least one condition."))
            return {kind: [walk(item, f"{where}.{kind}.{i}", depth + 1) for i, item in enumerate(items)]}
        count[0] += 1
        if count[0] > MAX_CONDITIONS:
            raise _leaf_error(where, _("A segment may have at most %(n)d conditions.") % {"n": MAX_CONDITIONS})
        key = node.get("field")
        found = SEGMENT_FIELDS.get(key) if isinstance(key, str) else None
        if found is None or (user is not None and not allowed(found.roles, user)):
            raise _leaf_error(f"{where}.field", _("There is no segment field “%(key)s”.") % {"key": key})
        op = node.get("op") or found.operators[0]
        if op not in found.operators:
            raise _leaf_error(
                f"{where}.op",
                _("“%(op)s” cannot be used with “%(field)s”.") % {"op": op, "field": found.label},
            )
        try:
            value = found.clean(node.get("value"))
        except ValidationError as exc:
            raise _leaf_error(f"{where}.value", f"{found.label}: {' '.join(exc.messages)}") from exc
        leaf: dict[str, Any] = {"field": key, "op": op, "value": value}
        if found.params or found.clean_params:
            raw = {name: node.get(name) for name in found.params}
            try:
                leaf.update(found.clean_params(raw) if found.clean_params else raw)
            except ValidationError as exc:
                bad = next(iter(exc.message_dict)) if hasattr(exc, "error_dict") else "value"
                raise _leaf_error(f"{where}.{bad}", f"{found.label}: {' '.join(exc.messages)}") from exc
        return leaf

    return walk(tree, path, 0)


def segment_q(tree: dict[str, Any], *, base: Any) -> Q:
    """The cleaned tree as one ``Q`` over customers; ``base`` (all customers) serves ``filter``-only fields.

    The tree must have been through ``segment_rules_clean``; an empty ``{"all": []}`` matches everyone.
    """
    if "all" in tree:
        q = Q()
        for item in tree["all"]:
            q &= segment_q(item, base=base)
        return q
    if "any" in tree:
        items = tree["any"]
        if not items:
            return Q()
        q = segment_q(items[0], base=base)
        for item in items[1:]:
            q |= segment_q(item, base=base)
        return q
    if "not" in tree:
        return ~segment_q(tree["not"], base=base)
    found = SEGMENT_FIELDS.get(tree["field"])
    if found is None:
        raise ValidationError({"field": [_("There is no segment field “%(key)s”.") % {"key": tree["field"]}]})
    params = {k: v for k, v in tree.items() if k not in ("field", "op", "value")}
    if found.condition is not None:
        made = found.condition(tree["op"], tree["value"], params)
        return made if isinstance(made, Q) else Q(made)
    return Q(pk__in=found.filter(base, tree["op"], tree["value"]).values("pk"))


def segment_apply(queryset: Any, tree: dict[str, Any]) -> Any:
    """``queryset`` (already limited to what the user may see) narrowed by a cleaned rule tree, unevaluated."""
    return queryset.filter(segment_q(tree, base=queryset.model._default_manager.all()))
