"""The care rule form: the trigger from the registry, its parameters, conditions and steps as JSON (the
rule editor's structured widgets are not built yet), priority, hold-out and store."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.care import care_triggers


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
