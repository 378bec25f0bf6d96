"""The customer list: filters, sort orders and keyset pagination that stay fast at a million rows.

No page counts the whole set and no page skips rows with OFFSET: the "next" link carries the sort
value and id of the last row shown, and the next page starts right after it on an index.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import F, Q, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from guanxi.accounts.actors import Actor
from guanxi.accounts.models import Store
from guanxi.core.registry import allowed
from guanxi.core.segments import SEGMENT_FIELDS, segment_filter
from guanxi.core.widgets import QuickSelect
from guanxi.customers.models import Customer, Tag
from guanxi.customers.selectors import customer_search, customers_tagged

PAGE_SIZE = 50

#: sort key -> (model field, nullable). The fields are indexed: id, name, last_order_at. Sorting by a
#: nullable field lists only the rows where it is set (e.g. "last purchase" lists customers who bought).
SORTS: dict[str, tuple[str, bool]] = {
    "id": ("id", False),
    "name": ("name", False),
    "last_order_at": ("last_order_at", True),
}
DEFAULT_SORT = "-id"

AGE_BANDS = [
    ("-24", _("Under 25"), 0, 24),
    ("25-34", _("25–34"), 25, 34),
    ("35-44", _("35–44"), 35, 44),
    ("45-54", _("45–54"), 45, 54),
    ("55-", _("55 and over"), 55, 150),
]
#: Query parameters ``seg.<field key>=<value>`` filter on a segment field registered in ``core.segments`` by an
#: app above customers (``?seg.analytics.rfm=important_value``): its pages link here without customers knowing it.
SEGMENT_PREFIX = "seg."

PURCHASE_WINDOWS = [(30, _("Last 30 days")), (90, _("Last 90 days")), (180, _("Last 180 days")), (365, _("Last year"))]


class CustomerFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.objects.none(), required=False, widget=QuickSelect)
    tag = forms.CharField(label=_("Tag"), required=False, max_length=50, widget=QuickSelect)
    gender = forms.ChoiceField(label=_("Gender"), required=False, widget=QuickSelect)
    age = forms.ChoiceField(label=_("Age"), required=False, widget=QuickSelect)
    region = forms.CharField(label=_("Region"), required=False, max_length=64)
    key_account = forms.BooleanField(label=_("Key accounts only"), required=False)
    purchased_days = forms.TypedChoiceField(
        label=_("Purchased"), required=False, coerce=int, empty_value=None, widget=QuickSelect
    )
    sort = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, stores: list[Store], user: Actor = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.segments, self.segment_chips, self.segment_errors = segment_conditions(self.data, user=user)
        for chip in self.segment_chips:  # the filter bar keeps them when another filter changes
            self.fields[SEGMENT_PREFIX + chip.key] = forms.CharField(required=False, widget=forms.HiddenInput)
        store = cast(forms.ModelChoiceField, self.fields["store"])
        store.queryset = Store.objects.filter(pk__in=[s.pk for s in stores])
        store.empty_label = _("All stores")
        # The options from the stores in hand, as the queryset would list them (by code), without querying again
        store.widget.choices = [("", store.empty_label)] + [(s.pk, str(s)) for s in stores]
        tags = list(Tag.objects.order_by("name").values_list("name", flat=True)[:500])
        self.fields["tag"].widget.choices = [("", _("Any tag"))] + [(name, name) for name in tags]
        cast(forms.ChoiceField, self.fields["gender"]).choices = [("", _("Any gender"))] + [
            (v, label) for v, label in Customer.Gender.choices if v
        ]
        cast(forms.ChoiceField, self.fields["age"]).choices = [("", _("Any age"))] + [
            (key, label) for key, label, _lo, _hi in AGE_BANDS
        ]
        cast(forms.ChoiceField, self.fields["purchased_days"]).choices = [("", _("Any time")), *PURCHASE_WINDOWS]
        self.stores = stores

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        # A segment refused is no filter dropped: the list, the export and the bulk tag then match nobody.
        data["segments"] = None if self.segment_errors else self.segments
        return data


@dataclass(frozen=True)
class SegmentChip:
    """An active segment filter as the list shows it: "RFM segment: High value", removable."""

    key: str
    label: str
    value: str
    remove_query: str  # the list's query string without this filter (and back on the first page)


def segment_conditions(params: Any, *, user: Actor) -> tuple[list[tuple[str, str]], list[SegmentChip], list[str]]:
    """The ``seg.*`` parameters as (key, value) conditions, their chips, and the messages of those refused.

    A field is refused when no app registered it (or the user's role may not use it) or its value does not
    clean; the message names the field and the problem.
    """
    if not isinstance(params, QueryDict):
        params = QueryDict(mutable=True)
    conditions: list[tuple[str, str]] = []
    chips: list[SegmentChip] = []
    errors: list[str] = []
    for name in sorted(params):
        if not name.startswith(SEGMENT_PREFIX):
            continue
        key, raw = name[len(SEGMENT_PREFIX) :], params.get(name) or ""
        found = SEGMENT_FIELDS.get(key)
        if found is None or not allowed(found.roles, user):
            errors.append(str(_("There is no filter “%(key)s”; the link may be from an older version.") % {"key": key}))
            continue
        try:
            value = found.clean(raw)
        except ValidationError as exc:
            errors.append(f"{found.label}: {' '.join(exc.messages)}")
            continue
        rest = params.copy()
        rest.pop(name, None)
        rest.pop("after", None)
        conditions.append((key, raw))
        chips.append(SegmentChip(key, str(found.label), _chip_value(found.choices, value), rest.urlencode()))
    return conditions, chips, errors


def _list_separator() -> str:
    """Between the values of one chip: "Female, Male"; Chinese writes them 女、男 (the enumeration comma)."""
    return "、" if (get_language() or "").lower().startswith("zh") else ", "


def _chip_value(choices: Any, value: Any) -> str:
    if isinstance(value, list | tuple):  # fields that take several values: "Female, Male"
        labels = {str(key): label for key, label in choices()} if choices is not None else {}
        return _list_separator().join(str(labels.get(str(item), item)) for item in value)
    if choices is not None:
        return str(dict(choices()).get(value, value))
    if value is True:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m") if value.day == 1 else value.isoformat()
    return str(value)


def apply_segments(qs: QuerySet[Customer], conditions: list[tuple[str, str]] | None) -> QuerySet[Customer]:
    """Narrow ``qs`` by each segment condition through its registered field; ``None`` (refused) matches nobody."""
    if conditions is None:
        return qs.none()
    for key, raw in conditions:
        found = SEGMENT_FIELDS.get(key)
        operator = found.operators[0] if found else "eq"
        qs = segment_filter(qs, key=key, operator=operator, value=raw)
    return qs


def apply_filters(qs: QuerySet[Customer], data: dict[str, Any], *, today: dt.date | None = None) -> QuerySet[Customer]:
    today = today or timezone.localdate()
    if data.get("store"):
        qs = qs.filter(home_store=data["store"])
    if data.get("tag"):
        qs = customers_tagged(qs, tag_name=data["tag"])
    if data.get("gender"):
        qs = qs.filter(gender=data["gender"])
    if data.get("age"):
        band = next((b for b in AGE_BANDS if b[0] == data["age"]), None)
        if band:
            _key, _label, low, high = band
            oldest = _years_before(today, high + 1) + dt.timedelta(days=1)
            youngest = _years_before(today, low)
            qs = qs.filter(birthday__gte=oldest, birthday__lte=youngest)
    if data.get("region"):
        qs = qs.filter(region=data["region"].strip())
    if data.get("key_account"):
        qs = qs.filter(is_key_account=True)
    if data.get("purchased_days"):
        qs = qs.filter(last_order_at__gte=timezone.now() - dt.timedelta(days=data["purchased_days"]))
    if "segments" in data:
        qs = apply_segments(qs, data["segments"])
    return qs


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def filtered_customers(*, user: Actor, store_id: int | None, data: dict[str, Any]) -> QuerySet[Customer]:
    """The list's set: search and filters over the customers visible to the user, in the chosen store."""
    qs = customer_search(user=user, query=data.get("q") or "")
    if store_id:
        qs = qs.filter(home_store_id=store_id)
    return apply_filters(qs, data)


def parse_sort(value: str | None) -> tuple[str, bool]:
    """'-name' -> ('name', descending=True); unknown values fall back to newest first."""
    value = value or DEFAULT_SORT
    key = value.lstrip("-")
    if key not in SORTS:
        return parse_sort(DEFAULT_SORT)
    return key, value.startswith("-")


def _encode(value: Any, pk: int) -> str:
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    elif isinstance(value, Decimal):
        value = str(value)
    raw = json.dumps([value, pk], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, key: str) -> tuple[Any, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, pk = json.loads(raw)
        pk = int(pk)
        if value is not None and key == "last_order_at":
            value = dt.datetime.fromisoformat(value)
        elif value is not None and key == "id":
            value = int(value)
        elif value is not None:
            value = str(value)
        return value, pk
    except (ValueError, TypeError, json.JSONDecodeError):
        return None


@dataclass
class Page:
    rows: list[Customer]
    next_cursor: str | None
    sort: str
    is_first: bool


def keyset_page(qs: QuerySet[Customer], *, sort: str | None, cursor: str | None, size: int = PAGE_SIZE) -> Page:
    """One page of ``qs`` ordered by (sort field, id), starting after ``cursor``; size+1 rows fetched, no COUNT."""
    key, desc = parse_sort(sort)
    field, nullable = SORTS[key]
    after = _decode(cursor, key) if cursor else None
    if nullable:
        # Sorting by a date that may be empty lists the rows that have one: the index then serves both directions.
        qs = qs.filter(**{f"{field}__isnull": False})
    id_order = F("id").desc() if desc else F("id").asc()
    if key == "id":
        ordering = [id_order]
        if after:
            qs = qs.filter(id__lt=after[1]) if desc else qs.filter(id__gt=after[1])
    else:
        ordering = [F(field).desc() if desc else F(field).asc(), id_order]
        if after and after[0] is not None:
            value, pk = after
            cmp = "lt" if desc else "gt"
            # (field, id) after (value, pk), written so the index on ``field`` bounds the scan
            qs = qs.filter(**{f"{field}__{cmp}e": value}).filter(
                Q(**{f"{field}__{cmp}": value}) | Q(**{f"id__{cmp}": pk})
            )
    rows = list(qs.order_by(*ordering)[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = _encode(getattr(last, field), last.pk)
    return Page(rows=rows, next_cursor=next_cursor, sort=("-" if desc else "") + key, is_first=not cursor)
