"""The care rule form: the trigger from the registry with its parameters as fields generated from the trigger's
``params_schema`` (swapped by htmx when the trigger changes; JSON for a schema they cannot express), conditions
and steps as JSON (their structured editor is not built yet), priority, hold-out and store."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.care import CARE_TRIGGERS, care_triggers

PARAM_PREFIX = "tp_"


class JSONText(forms.CharField):
    def __init__(self, *, empty: Any, **kwargs: Any) -> None:
        self.empty = empty
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4, "class": "mono"}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False, indent=1)
        return value

    def to_python(self, value: Any) -> Any:
        text = (value or "").strip()
        if not text:
            return self.empty
        try:
            return json.loads(text)
        except ValueError:
            raise ValidationError(_("Enter valid JSON.")) from None


def _param_field(spec: dict[str, Any], *, required: bool) -> forms.Field | None:
    label, default = spec.get("title"), spec.get("default")
    if "x-choices" in spec:
        return None  # rows of another app (tags, templates): the JSON field takes them
    if "enum" in spec:
        names = spec.get("enumNames") or spec["enum"]
        choices = [(v, str(n)) for v, n in zip(spec["enum"], names, strict=False)]
        return forms.ChoiceField(label=label, choices=choices, required=required, initial=default)
    if spec.get("type") == "integer":
        return forms.IntegerField(
            label=label,
            required=required,
            initial=default,
            min_value=spec.get("minimum"),
            max_value=spec.get("maximum"),
        )
    if spec.get("type") == "number":
        return forms.DecimalField(label=label, required=required, initial=default)
    if spec.get("type") == "string":
        return forms.CharField(label=label, required=required, initial=default)
    return None


def trigger_param_fields(trigger_key: str) -> dict[str, forms.Field]:
    """The trigger's parameters as form fields (``tp_<name>``); empty when a parameter has no field here."""
    trigger = CARE_TRIGGERS.get(trigger_key)
    schema = (trigger.params_schema if trigger is not None else None) or {}
    required = set(schema.get("required") or [])
    fields: dict[str, forms.Field] = {}
    for name, spec in (schema.get("properties") or {}).items():
        field = _param_field(spec if isinstance(spec, dict) else {}, required=name in required)
        if field is None:
            return {}
        fields[PARAM_PREFIX + name] = field
    return fields


class RuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    trigger_key = forms.ChoiceField(label=gettext_lazy("Trigger"), choices=())
    trigger_params = JSONText(label=gettext_lazy("Trigger parameters"), empty={})
    conditions = JSONText(label=gettext_lazy("Conditions (segment rules)"), empty={})
    steps = JSONText(label=gettext_lazy("Steps"), empty=[])
    priority = forms.IntegerField(label=gettext_lazy("Priority"), initial=100, min_value=-1000, max_value=1000)
    holdout_percent = forms.DecimalField(
        label=gettext_lazy("Hold-out (percent)"), initial=10, min_value=0, max_value=50, decimal_places=2
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["trigger_key"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(t.key, str(t.label)) for t in care_triggers()]
        field.widget.attrs.update(
            {"hx-get": reverse_lazy("care:trigger_params"), "hx-target": "#trigger-params", "hx-swap": "innerHTML"}
        )
        key = str(self.data.get("trigger_key") or self.initial.get("trigger_key") or "")
        if not key and field.choices:
            key = str(field.choices[0][0])
        generated = trigger_param_fields(key)
        if self.is_bound and not any(name in self.data for name in generated):
            generated = {}  # posted as JSON (an API-like client, or a schema without fields)
        self.param_names = list(generated)
        stored = self.initial.get("trigger_params") or {}
        for name, param in generated.items():
            if isinstance(stored, dict) and name[len(PARAM_PREFIX) :] in stored:
                param.initial = stored[name[len(PARAM_PREFIX) :]]
            self.fields[name] = param
        if generated:
            self.fields["trigger_params"].widget = forms.HiddenInput()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.param_names:
            params: dict[str, Any] = {}
            for name in self.param_names:
                value = cleaned.pop(name, None)
                if value not in (None, ""):
                    params[name[len(PARAM_PREFIX) :]] = str(value) if isinstance(value, Decimal) else value
            cleaned["trigger_params"] = params
        return cleaned

    def param_fields(self) -> list[Any]:
        return [self[name] for name in self.param_names]


class PlanForm(forms.Form):
    """A care plan: its tier and its yearly budgets (Decimal; empty means no budget)."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    tier = forms.TypedChoiceField(label=gettext_lazy("Tier"), choices=(), required=False, coerce=int, empty_value=None)
    budget_per_customer = forms.DecimalField(
        label=gettext_lazy("Yearly budget per customer"), required=False, min_value=0, decimal_places=2
    )
    budget_total = forms.DecimalField(
        label=gettext_lazy("Yearly budget of the plan"), required=False, min_value=0, decimal_places=2
    )
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args: Any, read_only: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from guanxi.loyalty.models import Tier

        field = self.fields["tier"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", "—"), *((t.pk, t.name) for t in Tier.objects.order_by("name", "id"))]
        if read_only:
            for each in self.fields.values():
                each.disabled = True
