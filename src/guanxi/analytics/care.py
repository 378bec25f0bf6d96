"""The behaviour triggers of analytics (``core.care``), registered in ``AnalyticsConfig.ready()``; all daily,
each one query over what analytics and sales already keep.

- ``repurchase_overdue`` (``factor`` 1–5, left out: the analytics setting): the customer became overdue to buy
  again during the local day ``today``, that is ``factor`` × their own typical interval
  ((last − first) / (orders − 1), from the purchase figures on the customer row, as the segment field
  "overdue to buy again" reads them) since the last purchase ran out that day. It fires once per lapse: the
  next day they are still overdue, but did not become so.
- ``churn_risk`` (``p_alive_below``, 0–1, default 0.3): P(alive) of the latest scores refresh is below the
  threshold. The scores table keeps one row per customer (no history), so the crossing itself is not known:
  the trigger returns everyone below the threshold each day, and "once per lapse" is the care rule's business
  (its occurrence ledger, a tag action, or the frequency cap).
- ``high_value_drifting`` (``basis`` clv or spend, ``value`` yuan, ``p_alive_below`` 0–1): a predicted 12-month
  value (CLV) or past net spend of at least ``value`` and P(alive) below the threshold.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import DateTimeField, Exists, ExpressionWrapper, F, FloatField, OuterRef, Q, Value
from django.db.models.lookups import GreaterThan, LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy

from guanxi.analytics.models import CustomerScore
from guanxi.analytics.segments import _Days, clean_overdue_params, clean_probability, default_overdue_factor
from guanxi.core.care import CareTrigger, register_care_trigger
from guanxi.customers.care import param_choice, param_money, today_of
from guanxi.customers.models import Customer

REPURCHASE_OVERDUE = "repurchase_overdue"
CHURN_RISK = "churn_risk"
HIGH_VALUE_DRIFTING = "high_value_drifting"
BASES = ("clv", "spend")


def _param_probability(params: dict[str, Any], name: str, default: float) -> float:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        return clean_probability(raw)
    except ValidationError as exc:
        raise ValidationError({name: exc.messages}) from None


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def _overdue_at(moment: dt.datetime, factor: float) -> Any:
    """``(moment − last) × (orders − 1) > factor × (last − first)`` in days: the segment field's comparison."""
    now = _Days(Value(moment, output_field=DateTimeField()))
    first, last = _Days(F("first_order_at")), _Days(F("last_order_at"))
    since = ExpressionWrapper((now - last) * (F("order_count") - 1), output_field=FloatField())
    allowed = ExpressionWrapper(Value(factor) * (last - first), output_field=FloatField())
    return since, allowed


def repurchase_overdue_customers(params: dict[str, Any], context: dict[str, Any]) -> Any:
    """Customers who became overdue during the local day ``today``: not overdue at its start, overdue at its end."""
    factor = float(params.get("factor") or default_overdue_factor())
    today = today_of(context)
    since_start, allowed = _overdue_at(_day_start(today), factor)
    since_end, _allowed = _overdue_at(_day_start(today + dt.timedelta(days=1)), factor)
    return (
        Customer.objects.filter(order_count__gte=2, last_order_at__gt=F("first_order_at"), merged_into__isnull=True)
        .filter(Q(GreaterThan(since_end, allowed)) & Q(LessThanOrEqual(since_start, allowed)))
        .values_list("id", flat=True)
    )


def clean_churn_params(params: dict[str, Any]) -> dict[str, Any]:
    return {"p_alive_below": _param_probability(params, "p_alive_below", 0.3)}


def churn_risk_customers(params: dict[str, Any], context: dict[str, Any]) -> Any:
    scores = CustomerScore.objects.filter(customer_id=OuterRef("pk"), p_alive__lt=float(params["p_alive_below"]))
    return Customer.objects.filter(Exists(scores), merged_into__isnull=True).values_list("id", flat=True)


def clean_drifting_params(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "basis": param_choice(params, "basis", BASES, default="clv"),
        "value": str(param_money(params, "value")),
        "p_alive_below": _param_probability(params, "p_alive_below", 0.5),
    }


def high_value_drifting_customers(params: dict[str, Any], context: dict[str, Any]) -> Any:
    value = params["value"]
    worth = Q(clv_12m__gte=value) if params.get("basis", "clv") == "clv" else Q(monetary__gte=value)
    scores = CustomerScore.objects.filter(worth, customer_id=OuterRef("pk"), p_alive__lt=float(params["p_alive_below"]))
    return Customer.objects.filter(Exists(scores), merged_into__isnull=True).values_list("id", flat=True)


#: churn risk and drifting hold day after day: a rule on them reaches a customer once per quarter at most
STATE_REARM_DAYS = 90


def register() -> None:
    def probability(title: Any, default: float) -> dict[str, Any]:
        return {"type": "number", "title": title, "minimum": 0, "maximum": 1, "default": default}

    register_care_trigger(
        CareTrigger(
            key=REPURCHASE_OVERDUE,
            label=gettext_lazy("Overdue to buy again"),
            handler=repurchase_overdue_customers,
            validate_params=clean_overdue_params,
            params_schema={
                "type": "object",
                "properties": {
                    "factor": {"type": "number", "title": gettext_lazy("Factor"), "minimum": 1, "maximum": 5}
                },
            },
            order=50,
        )
    )
    register_care_trigger(
        CareTrigger(
            key=CHURN_RISK,
            label=gettext_lazy("Churn risk"),
            handler=churn_risk_customers,
            validate_params=clean_churn_params,
            params_schema={
                "type": "object",
                "properties": {"p_alive_below": probability(gettext_lazy("P(alive) below"), 0.3)},
            },
            order=51,
            rearm_days=STATE_REARM_DAYS,
        )
    )
    register_care_trigger(
        CareTrigger(
            key=HIGH_VALUE_DRIFTING,
            label=gettext_lazy("High-value customer drifting away"),
            handler=high_value_drifting_customers,
            validate_params=clean_drifting_params,
            params_schema={
                "type": "object",
                "properties": {
                    "basis": {
                        "type": "string",
                        "title": gettext_lazy("Value from"),
                        "enum": list(BASES),
                        "enumNames": [gettext_lazy("Predicted 12-month value"), gettext_lazy("Past spend")],
                        "default": "clv",
                    },
                    "value": {"type": "string", "format": "decimal", "title": gettext_lazy("At least (¥)")},
                    "p_alive_below": probability(gettext_lazy("P(alive) below"), 0.5),
                },
                "required": ["value"],
            },
            order=52,
            rearm_days=STATE_REARM_DAYS,
        )
    )
