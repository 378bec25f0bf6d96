"""Form bases every app's forms build on: browser-native inputs that round-trip in every language.

An HTML ``<input type=date>`` only understands ``YYYY-MM-DD``, ``type=time`` ``HH:MM[:SS]``,
``type=datetime-local`` ``YYYY-MM-DDTHH:MM[:SS]`` and ``type=number`` a plain ``.`` decimal without
grouping. Django's own widgets fill the value with the *active language's* input format (zh-Hans:
``1985/02/15``), which a browser's date input treats as blank: saving the form unchanged erased the
date. These widgets always write the machine format, whatever the language, and ``Form`` / ``ModelForm``
put them on every date, time and number field, so no form has to remember to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class DateInput(forms.DateInput):
    """``<input type=date>`` with its value in ISO ``YYYY-MM-DD``, never the localized format."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None, format: str | None = None) -> None:  # noqa: A002
        super().__init__(attrs, format="%Y-%m-%d")


class TimeInput(forms.TimeInput):
    """``<input type=time>``: ``HH:MM``, or ``HH:MM:SS`` (with ``step=1``) when the time has seconds."""

    input_type = "time"

    def __init__(self, attrs: dict[str, Any] | None = None, format: str | None = None) -> None:  # noqa: A002
        super().__init__({"step": "1", **(attrs or {})}, format="%H:%M:%S")

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, dt.time):
            return value.strftime("%H:%M" if not value.second else "%H:%M:%S")
        return super().format_value(value)


class DateTimeInput(forms.DateTimeInput):
    """``<input type=datetime-local>``: ``YYYY-MM-DDTHH:MM:SS`` in the current time zone (``step=1`` keeps seconds)."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None, format: str | None = None) -> None:  # noqa: A002
        super().__init__({"step": "1", **(attrs or {})}, format="%Y-%m-%dT%H:%M:%S")


class NumberInput(forms.NumberInput):
    """``<input type=number>`` whose value is never localized (``1234.50``, not ``1,234.50`` or ``1234,50``)."""

    def format_value(self, value: Any) -> str | None:
        if value == "" or value is None:
            return None
        return str(value)


class Textarea(forms.Textarea):
    """A text area whose posted line breaks are stored as ``\\n``: browsers submit every one as ``\\r\\n``."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        value = super().value_from_datadict(data, files, name)
        return value.replace("\r\n", "\n") if isinstance(value, str) else value


def use_native_inputs(fields: dict[str, forms.Field]) -> None:
    """Give every date, time, date-time and number field of a form its machine-format input (in place).

    Text areas get line breaks normalised, so a text saved unchanged stays byte for byte the same.

    Hidden fields and widgets a form chose on purpose (a select, a text box) are left alone; a plain
    Django date/time/number widget, typed ``date`` or not, is replaced by the round-tripping one.
    """
    for field in fields.values():
        widget = field.widget
        if widget.is_hidden:
            continue
        replacement: type[forms.Widget] | None = None
        if isinstance(field, forms.DateTimeField) and type(widget) is forms.DateTimeInput:
            replacement = DateTimeInput
        elif type(widget) is forms.DateInput:
            replacement = DateInput
        elif isinstance(field, forms.TimeField) and type(widget) is forms.TimeInput:
            replacement = TimeInput
        elif type(widget) is forms.NumberInput:
            replacement = NumberInput
        elif type(widget) is forms.Textarea:
            replacement = Textarea
        if replacement is not None:
            attrs = {k: v for k, v in widget.attrs.items() if k != "type"}
            field.widget = replacement(attrs=attrs)
            field.widget.is_required = widget.is_required
        if isinstance(field.widget, NumberInput | DateInput | TimeInput | DateTimeInput):
            field.localize = False
            field.widget.is_localized = False


class Form(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        use_native_inputs(self.fields)


# Generic only in the stubs (django-stubs-ext is not a runtime dependency): each form names its model in Meta.
class ModelForm(forms.ModelForm):  # type: ignore[type-arg]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        use_native_inputs(self.fields)


#: Error keys that belong to no one field: shown as the message alone.
NON_FIELD_KEYS = frozenset({"__all__", "non_field_errors"})


def labelled(label: Any, message: Any) -> str:
    """One error as users read it, "金额：必须大于零。", with the punctuation of the active language."""
    return _("%(field)s: %(message)s") % {"field": label, "message": message}


def error_lines(errors: ValidationError | Mapping[str, Iterable[Any]], labels: Mapping[str, Any]) -> list[str]:
    """Every message of ``errors`` named by the field's translated label, never by its code.

    ``labels`` maps field codes to labels (``form_labels(form)``, ``model_labels(Model)``); a field
    without a label, and errors of no one field, read as the message alone.
    """
    if isinstance(errors, ValidationError):
        if not hasattr(errors, "error_dict"):
            return [str(m) for m in errors.messages]
        errors = errors.message_dict
    lines = []
    for field, messages in errors.items():
        label = None if field in NON_FIELD_KEYS else labels.get(field)
        for message in messages:
            lines.append(labelled(label, message) if label else str(message))
    return lines


def form_labels(form: forms.BaseForm) -> dict[str, Any]:
    """The form's fields' labels by name (a field without a label reads as its pretty name)."""
    return {name: form[name].label for name in form.fields}


def model_labels(model: Any) -> dict[str, Any]:
    """A model's fields' verbose names by name, for errors raised by its services."""
    return {f.name: f.verbose_name for f in model._meta.get_fields() if hasattr(f, "verbose_name")}


def form_error_lines(form: forms.BaseForm) -> list[str]:
    """A bound form's errors as labelled lines, for a flash message when the form is not on the page."""
    return error_lines(form.errors, form_labels(form))
