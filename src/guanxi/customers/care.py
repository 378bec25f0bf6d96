"""The care triggers and actions of the customer profile (``core.care``), registered in ``CustomersConfig.ready()``.

Triggers (daily, ``context["today"]`` is the local date):
- ``birthday`` (``days_before`` 0–60): the customers whose birthday is ``today + days_before``. A 29 February
  birthday falls on 28 February in other years; a lunar (农历) birthday on the solar date its lunar month-day
  falls on this year (see ``customers.lunar``). One query on the indexed month-day columns.
- ``important_date`` (``kind``, ``days_before`` 0–60): the same for the customer's important dates of a kind
  (a wedding anniversary, …). One query.

Actions: ``tag_add`` and ``tag_remove`` (``tag``: a tag id), idempotent by nature: a tag already there (or
already gone) is left as it is and writes nothing.

Also the parameter cleaners the care entries of every app share, each raising ``ValidationError`` keyed by the
parameter's name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.care import CareAction, CareTrigger, register_care_action, register_care_trigger
from guanxi.customers.lunar import lunar_mds_on
from guanxi.customers.models import Customer, ImportantDate, Tag
from guanxi.customers.segments import _whole, clean_money

BIRTHDAY = "birthday"
IMPORTANT_DATE = "important_date"
TAG_ADD = "tag_add"
TAG_REMOVE = "tag_remove"
MAX_DAYS_BEFORE = 60


# --- shared parameter cleaners -------------------------------------------------------------------------------


def param_int(params: dict[str, Any], name: str, *, low: int, high: int, default: int | None = None) -> int:
    """The whole number ``params[name]`` within ``low``–``high`` (``default`` when left out and one is given)."""
    raw = params.get(name)
    if raw in (None, "") and default is not None:
        return default
    value = _whole(raw)
    if value is None or not low <= value <= high:
        raise ValidationError(
            {name: [_("Enter a whole number from %(low)d to %(high)d.") % {"low": low, "high": high}]}
        )
    return value


def param_choice(params: dict[str, Any], name: str, choices: Iterable[str], *, default: str | None = None) -> str:
    raw = params.get(name)
    if raw in (None, "") and default is not None:
        return default
    allowed = list(choices)
    if not isinstance(raw, str) or raw not in allowed:
        raise ValidationError({name: [_("Choose one of: %(choices)s.") % {"choices": ", ".join(allowed)}]})
    return raw


def param_money(params: dict[str, Any], name: str) -> Decimal:
    """An amount of money in yuan (Decimal, at most two decimal places), as the segment fields take it."""
    try:
        return clean_money(params.get(name))
    except ValidationError as exc:
        raise ValidationError({name: exc.messages}) from None


def param_id(params: dict[str, Any], name: str, queryset: Any) -> int:
    """The id of a row of ``queryset`` (one query)."""
    value = _whole(params.get(name))
    if value is None or value < 1 or not queryset.filter(pk=value).exists():
        raise ValidationError({name: [_("Choose one that exists.")]})
    return value


def days_schema(title: Any, *, low: int, high: int, default: int) -> dict[str, Any]:
    return {"type": "integer", "title": title, "minimum": low, "maximum": high, "default": default}


def today_of(context: dict[str, Any]) -> dt.date:
    today = context["today"]
    if isinstance(today, dt.datetime):  # a caller that passed a time: its date
        return today.date()
    return today


# --- dates ---------------------------------------------------------------------------------------------------


def solar_mds_on(day: dt.date) -> list[int]:
    """The month-days (``month * 100 + day``) whose anniversary is ``day`` this year: 28 Feb of a common year
    also takes 29 Feb."""
    mds = [day.month * 100 + day.day]
    if day.month == 2 and day.day == 28 and (day + dt.timedelta(days=1)).month == 3:
        mds.append(229)
    return mds


def clean_birthday_params(params: dict[str, Any]) -> dict[str, Any]:
    return {"days_before": param_int(params, "days_before", low=0, high=MAX_DAYS_BEFORE, default=0)}


def birthday_on_q(day: dt.date, prefix: str = "") -> Q:
    """Customers whose birthday falls on ``day``: a solar one on its month-day (29 February on 28 February of a
    common year), a lunar one on the solar date its lunar month-day falls on this year. ``prefix`` reaches the
    customer through a relation (``"customer__"``). Uses the indexed month-day columns."""
    solar_kept = Q(**{f"{prefix}birthday_is_lunar": False}) | Q(**{f"{prefix}birthday_lunar_md__isnull": True})
    condition = Q(**{f"{prefix}birthday_md__in": solar_mds_on(day)}) & solar_kept  # lunar outside 1900–2099: solar
    lunar = lunar_mds_on(day)
    if lunar:
        condition |= Q(**{f"{prefix}birthday_is_lunar": True, f"{prefix}birthday_lunar_md__in": lunar})
    return condition


def birthday_customers(params: dict[str, Any], context: dict[str, Any]) -> Any:
    """Those whose (solar or lunar) birthday is ``today + days_before``: one query."""
    target = today_of(context) + dt.timedelta(days=int(params.get("days_before") or 0))
    return Customer.objects.filter(birthday_on_q(target), merged_into__isnull=True).values_list("id", flat=True)


def clean_important_date_params(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": param_choice(params, "kind", ImportantDate.Kind.values),
        "days_before": param_int(params, "days_before", low=0, high=MAX_DAYS_BEFORE, default=0),
    }


def important_date_customers(params: dict[str, Any], context: dict[str, Any]) -> Any:
    """Those with an important date of ``kind`` on ``today + days_before`` (any year): one query."""
    target = today_of(context) + dt.timedelta(days=int(params.get("days_before") or 0))
    dates = ImportantDate.objects.filter(
        customer_id=OuterRef("pk"), kind=params["kind"], month_day__in=solar_mds_on(target)
    )
    return Customer.objects.filter(Exists(dates), merged_into__isnull=True).values_list("id", flat=True)


# --- tags ----------------------------------------------------------------------------------------------------


def clean_tag_params(params: dict[str, Any]) -> dict[str, Any]:
    return {"tag": param_id(params, "tag", Tag.objects.all())}


def tag_add(customer: Customer, params: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Add the tag; a customer who has it already is left alone (so a repeated run writes nothing)."""
    from guanxi.customers.services import customer_tag

    tag = Tag.objects.get(pk=params["tag"])
    added = customer_tag(actor=None, customer_ids=[customer.pk], tag_name=tag.name)
    return {"tag": tag.name, "added": bool(added)}


def tag_remove(customer: Customer, params: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Remove the tag; a customer without it is left alone (no timeline line for a removal that did nothing)."""
    from guanxi.customers.services import customer_untag

    tag = Tag.objects.get(pk=params["tag"])
    if not Customer.tags.through.objects.filter(customer_id=customer.pk, tag_id=tag.pk).exists():
        return {"tag": tag.name, "removed": False}
    customer_untag(actor=None, customer=customer, tag=tag)
    return {"tag": tag.name, "removed": True}


def register() -> None:
    days = days_schema(gettext_lazy("Days before"), low=0, high=MAX_DAYS_BEFORE, default=0)
    register_care_trigger(
        CareTrigger(
            key=BIRTHDAY,
            label=gettext_lazy("Birthday (solar or lunar)"),
            handler=birthday_customers,
            validate_params=clean_birthday_params,
            params_schema={"type": "object", "properties": {"days_before": days}},
            order=10,
        )
    )
    register_care_trigger(
        CareTrigger(
            key=IMPORTANT_DATE,
            label=gettext_lazy("Important date (wedding anniversary, …)"),
            handler=important_date_customers,
            validate_params=clean_important_date_params,
            params_schema={
                "type": "object",
                "properties": {
                    "kind": {
                        "type": "string",
                        "title": gettext_lazy("Kind of date"),
                        "enum": list(ImportantDate.Kind.values),
                        "enumNames": [label for _value, label in ImportantDate.Kind.choices],
                        "default": ImportantDate.Kind.WEDDING_ANNIVERSARY,
                    },
                    "days_before": days,
                },
                "required": ["kind"],
            },
            order=11,
        )
    )
    tag = {"type": "integer", "title": gettext_lazy("Tag"), "x-choices": "customers.tag"}
    schema = {"type": "object", "properties": {"tag": tag}, "required": ["tag"]}
    register_care_action(
        CareAction(
            key=TAG_ADD,
            label=gettext_lazy("Add a tag"),
            handler=tag_add,
            validate_params=clean_tag_params,
            params_schema=schema,
            order=40,
        )
    )
    register_care_action(
        CareAction(
            key=TAG_REMOVE,
            label=gettext_lazy("Remove a tag"),
            handler=tag_remove,
            validate_params=clean_tag_params,
            params_schema=schema,
            order=41,
        )
    )
