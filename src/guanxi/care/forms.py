"""The care rule form: the trigger from the registry with its parameters as fields generated from the trigger's
``params_schema`` (swapped by htmx when the trigger changes; JSON for a schema they cannot express); the steps as
rows (an action with its parameters generated the same way, a wait, or an order check), added, removed and
swapped by htmx; conditions as JSON; priority and hold-out. A post without the rows (an API-like client) may
still give the steps as JSON."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.care import CARE_ACTIONS, CARE_TRIGGERS, care_actions, care_triggers

PARAM_PREFIX = "tp_"
STEP_WAIT, STEP_IF_NO_ORDER = "wait", "if_no_order"
STEPS_EDITOR = "steps_editor"  # posted by the page: the steps come as rows, not as JSON


def _coupon_templates() -> list[tuple[Any, str]]:
    from guanxi.loyalty.models import CouponTemplate

    return [(t.pk, t.name) for t in CouponTemplate.objects.filter(active=True).order_by("name", "id")]


def _message_templates() -> list[tuple[Any, str]]:
    from guanxi.messaging.models import MessageTemplate

    rows = MessageTemplate.objects.filter(is_active=True).order_by("code", "id").values_list("code", "name")
    return list({code: (code, f"{name} ({code})") for code, name in rows}.values())


def _tags() -> list[tuple[Any, str]]:
    from guanxi.customers.models import Tag

    return [(t.pk, t.name) for t in Tag.objects.order_by("name", "id")]


#: Rows of another app a parameter names (``x-choices``), as choices for its select.
X_CHOICES = {
    "loyalty.coupon_template": _coupon_templates,
    "messaging.template": _message_templates,
    "customers.tag": _tags,
}


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


def _param_field(spec: dict[str, Any], *, required: bool, cache: dict[str, Any] | None = None) -> forms.Field | None:
    label, default = spec.get("title"), spec.get("default")
    if "x-choices" in spec:
        source = X_CHOICES.get(str(spec["x-choices"]))
        if source is None:
            return None  # rows this form does not know: the JSON field takes them
        coerce: Any = int if spec.get("type") == "integer" else str
        cache = {} if cache is None else cache
        if spec["x-choices"] not in cache:
            cache[spec["x-choices"]] = source()  # once per form, however many rows name them
        choices = [("", "—"), *cache[spec["x-choices"]]]
        return forms.TypedChoiceField(label=label, choices=choices, required=required, coerce=coerce, empty_value=None)
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


def schema_fields(
    schema: dict[str, Any] | None, prefix: str, cache: dict[str, Any] | None = None
) -> dict[str, forms.Field] | None:
    """A params schema as form fields (``<prefix><name>``); None when a parameter has no field here."""
    schema = schema or {}
    required = set(schema.get("required") or [])
    fields: dict[str, forms.Field] = {}
    for name, spec in (schema.get("properties") or {}).items():
        field = _param_field(spec if isinstance(spec, dict) else {}, required=name in required, cache=cache)
        if field is None:
            return None
        fields[prefix + name] = field
    return fields


def trigger_param_fields(trigger_key: str) -> dict[str, forms.Field]:
    """The trigger's parameters as form fields (``tp_<name>``); empty when a parameter has no field here."""
    trigger = CARE_TRIGGERS.get(trigger_key)
    return schema_fields(trigger.params_schema if trigger is not None else None, PARAM_PREFIX) or {}


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def step_kind(step: dict[str, Any]) -> str:
    if "wait_days" in step:
        return STEP_WAIT
    if step.get("if_no_order"):
        return STEP_IF_NO_ORDER
    return str(step.get("action") or "")


class StepRow:
    """One step row of the editor: its key ``n``, its kind select and the fields of that kind."""

    def __init__(self, form: forms.BaseForm, n: str, names: list[str], json_name: str | None) -> None:
        self.n, self.form, self.names, self.json_name = n, form, names, json_name

    @property
    def kind(self) -> Any:
        return self.form[f"s{self.n}_kind"]

    @property
    def fields(self) -> list[Any]:
        return [self.form[name] for name in self.names]


def step_fields(
    n: str, kind: str, initial: dict[str, Any] | None = None, cache: dict[str, Any] | None = None
) -> tuple[dict[str, forms.Field], str | None]:
    """The fields of step row ``n`` of ``kind`` (``s<n>_kind`` first), and the name of its JSON field if any."""
    initial = initial or {}
    choices = [(a.key, str(a.label)) for a in care_actions()]
    choices += [(STEP_WAIT, _("Wait N days")), (STEP_IF_NO_ORDER, _("Stop if they ordered since the journey began"))]
    select = forms.ChoiceField(label=_("Step"), choices=choices, initial=kind)
    select.widget.attrs.update(
        {
            "hx-get": f"{reverse('care:step_row')}?n={n}",
            "hx-target": f"#step-row-{n}",
            "hx-swap": "outerHTML",
            "class": "step-kind",
        }
    )
    fields: dict[str, forms.Field] = {f"s{n}_kind": select}
    if kind == STEP_WAIT:
        wait = forms.IntegerField(label=_("Days to wait"), min_value=1, max_value=365)
        wait.initial = initial.get("wait_days", 1)
        fields[f"s{n}_wait_days"] = wait
        return fields, None
    if kind == STEP_IF_NO_ORDER:
        return fields, None
    action = CARE_ACTIONS.get(kind)
    prefix = f"s{n}_p_"
    generated = schema_fields(action.params_schema if action is not None else None, prefix, cache)
    params = initial.get("params") or {}
    if generated is None:
        text = JSONText(label=_("Parameters (JSON)"), empty={})
        text.initial = params
        fields[f"s{n}_params"] = text
        return fields, f"s{n}_params"
    for name, field in generated.items():
        if isinstance(params, dict) and name[len(prefix) :] in params:
            field.initial = params[name[len(prefix) :]]
        fields[name] = field
    return fields, None


def step_row_form(n: str, kind: str) -> StepRow:
    """A lone step row (the htmx swap when a row is added or its kind changes)."""
    form = forms.Form()
    fields, json_name = step_fields(n, kind)
    form.fields.update(fields)
    return StepRow(form, n, [name for name in fields if not name.endswith("_kind")], json_name)


def new_row_key() -> str:
    return secrets.token_hex(4)


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
        self.step_rows: list[StepRow] | None = None
        self.step_field_names: set[str] = set()
        if not self.is_bound or STEPS_EDITOR in self.data:
            self._add_step_rows()

    def _add_step_rows(self) -> None:
        self.step_rows = []
        rows: list[tuple[str, dict[str, Any], str]]
        if self.is_bound:
            keys = [str(k) for k in self.data.getlist("step_row")] if hasattr(self.data, "getlist") else []
            rows = [(k, {}, str(self.data.get(f"s{k}_kind") or "")) for k in keys if k.isalnum()]
        else:
            stored = self.initial.get("steps") or []
            steps = [s for s in stored if isinstance(s, dict)] if isinstance(stored, list) else []
            rows = [(str(i), step, step_kind(step)) for i, step in enumerate(steps)]
        cache: dict[str, Any] = {}
        for n, initial, kind in rows:
            fields, json_name = step_fields(n, kind, initial, cache)
            self.fields.update(fields)
            self.step_rows.append(StepRow(self, n, [f for f in fields if not f.endswith("_kind")], json_name))
            self.step_field_names.update(fields)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.param_names:
            params: dict[str, Any] = {}
            for name in self.param_names:
                value = cleaned.pop(name, None)
                if value not in (None, ""):
                    params[name[len(PARAM_PREFIX) :]] = str(value) if isinstance(value, Decimal) else value
            cleaned["trigger_params"] = params
        if self.step_rows is not None:
            cleaned["steps"] = [self._step(row, cleaned) for row in self.step_rows]
        return cleaned

    def _step(self, row: StepRow, cleaned: dict[str, Any]) -> dict[str, Any]:
        kind = cleaned.pop(f"s{row.n}_kind", None) or ""
        values = {name: cleaned.pop(name, None) for name in row.names}
        if kind == STEP_WAIT:
            return {"wait_days": values.get(f"s{row.n}_wait_days")}
        if kind == STEP_IF_NO_ORDER:
            return {"if_no_order": True}
        if row.json_name is not None:
            return {"action": kind, "params": values.get(row.json_name) or {}}
        prefix = f"s{row.n}_p_"
        params = {name[len(prefix) :]: _plain(v) for name, v in values.items() if v not in (None, "")}
        return {"action": kind, "params": params}

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
