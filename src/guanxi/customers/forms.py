"""Validation of customer data, shared by services, the API and the staff pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.forms import DateInput, Form, ModelForm
from guanxi.customers.models import ContactPoint, CustomAttribute, Customer, ImportantDate, ImportJob

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def validate_resident_id(value: str) -> str:
    """An 18-character PRC resident ID with a valid birth date and ISO 7064 check character."""
    text = value.strip().upper()
    if len(text) != 18 or not text[:17].isdigit() or not (text[17].isdigit() or text[17] == "X"):
        raise ValidationError(_("An ID number has 18 characters: 17 digits and a digit or X."), code="invalid")
    if _ID_CHECK[sum(int(c) * w for c, w in zip(text[:17], _ID_WEIGHTS, strict=True)) % 11] != text[17]:
        raise ValidationError(_("This ID number's check character is wrong; please check it."), code="checksum")
    try:
        dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise ValidationError(_("This ID number holds an impossible birth date."), code="invalid") from None
    return text


class CustomerForm(ModelForm):
    class Meta:
        model = Customer
        fields = [
            "kind",
            "name",
            "gender",
            "birthday",
            "birthday_is_lunar",
            "occupation",
            "income_band",
            "education",
            "family_size",
            "region",
            "organisation_name",
            "id_number",
            "interests",
            "preferences",
            "is_key_account",
            "owner",
            "source",
            "home_store",
        ]
        widgets = {"birthday": DateInput()}
        error_messages = {
            "birthday": {"invalid": gettext_lazy("Enter a real date, e.g. 1990-05-17.")},
            "name": {"required": gettext_lazy("Enter the customer's name.")},
        }

    def clean_name(self) -> str:
        name = " ".join((self.cleaned_data.get("name") or "").split())
        if not name:
            raise ValidationError(_("Enter the customer's name."), code="required")
        return name

    def clean_birthday(self) -> dt.date | None:
        birthday = self.cleaned_data.get("birthday")
        if birthday is None:
            return None
        today = timezone.localdate()
        if birthday > today:
            raise ValidationError(_("A birthday cannot be in the future."), code="future")
        if birthday.year < 1900:
            raise ValidationError(_("A birthday before 1900 is not believable."), code="too_old")
        return birthday

    def clean_id_number(self) -> str:
        value = (self.cleaned_data.get("id_number") or "").strip()
        return validate_resident_id(value) if value else ""

    def clean_interests(self) -> list[str]:
        value = self.cleaned_data.get("interests") or []
        if isinstance(value, str):
            value = list(value.replace("，", ",").split(","))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError(_("Interests are a list of words."), code="invalid")
        return sorted({v.strip() for v in value if v.strip()})

    def clean_preferences(self) -> dict:
        value = self.cleaned_data.get("preferences") or {}
        if not isinstance(value, dict):
            raise ValidationError(_("Preferences are a set of named values."), code="invalid")
        return value


class CustomerImportForm(CustomerForm):
    class Meta(CustomerForm.Meta):
        fields = [f for f in CustomerForm.Meta.fields if f not in ("owner", "home_store")]


def _model_field(name: str) -> models.Field[Any, Any]:
    field = Customer._meta.get_field(name)
    if not isinstance(field, models.Field):  # a reverse relation is never a form field
        raise TypeError(f"Customer.{name} is not a model field")
    return field


class CustomerRowValidator:
    """The customer form's rules applied to many rows without building a form per row.

    Building a ModelForm deep-copies its fields, which costs more than validating a row; here the
    fields are copied once and each row runs the same field cleaning, the form's ``clean_<field>``
    methods and the model fields' validators, so imports refuse exactly what the API and pages refuse.
    Stores are resolved by code once per import, so no row needs a query.
    """

    def __init__(self) -> None:
        self.form = CustomerImportForm()
        self.model_fields = {name: _model_field(name) for name in self.form.fields}

    def clean(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        cleaned: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        self.form.cleaned_data = cleaned
        for name, field in self.form.fields.items():
            try:
                value = field.clean(data.get(name))
                cleaned[name] = value
                hook = getattr(self.form, f"clean_{name}", None)
                if hook is not None:
                    value = cleaned[name] = hook()
                if value not in field.empty_values:
                    self.model_fields[name].run_validators(value)
            except ValidationError as exc:
                errors[name] = exc.messages
                cleaned.pop(name, None)
        return cleaned, errors


def clean_custom_attributes(values: dict[str, Any] | None, *, definitions=None, partial: bool = False) -> dict:
    """Check admin-defined attributes; errors are keyed ``custom_attributes.<key>``."""
    values = values or {}
    if not isinstance(values, dict):
        raise ValidationError({"custom_attributes": [_("Custom attributes are a set of named values.")]})
    definitions = {d.key: d for d in (definitions if definitions is not None else CustomAttribute.objects.all())}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for key in values:
        if key not in definitions:
            errors[f"custom_attributes.{key}"] = [_("There is no custom attribute “%(key)s”.") % {"key": key}]
    for key, definition in definitions.items():
        raw = values.get(key)
        if raw in (None, ""):
            if definition.required and not partial:
                errors[f"custom_attributes.{key}"] = [_("%(label)s is required.") % {"label": definition.label}]
            continue
        try:
            cleaned[key] = _clean_attribute(definition, raw)
        except ValidationError as exc:
            errors[f"custom_attributes.{key}"] = [f"{definition.label}: {m}" for m in exc.messages]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_attribute(definition: CustomAttribute, raw: Any) -> Any:
    kind = definition.type
    if kind == CustomAttribute.Type.TEXT:
        text = str(raw).strip()
        if len(text) > definition.max_length:
            raise ValidationError(_("at most %(n)d characters.") % {"n": definition.max_length})
        return text
    if kind in (CustomAttribute.Type.INTEGER, CustomAttribute.Type.DECIMAL):
        try:
            number = Decimal(str(raw).strip())
        except (InvalidOperation, ValueError):
            raise ValidationError(_("enter a number.")) from None
        if not number.is_finite():
            raise ValidationError(_("enter a number."))
        if kind == CustomAttribute.Type.INTEGER:
            if number != number.to_integral_value() or isinstance(raw, float) and not float(raw).is_integer():
                raise ValidationError(_("enter a whole number."))
        if definition.min_value is not None and number < definition.min_value:
            raise ValidationError(_("must be at least %(v)s.") % {"v": definition.min_value.normalize()})
        if definition.max_value is not None and number > definition.max_value:
            raise ValidationError(_("must be at most %(v)s.") % {"v": definition.max_value.normalize()})
        return int(number) if kind == CustomAttribute.Type.INTEGER else str(number)
    if kind == CustomAttribute.Type.DATE:
        if isinstance(raw, dt.date):
            return raw.isoformat()
        try:
            return dt.date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError:
            raise ValidationError(_("enter a date as YYYY-MM-DD.")) from None
    if kind == CustomAttribute.Type.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "y", "是", "t"):
            return True
        if text in ("0", "false", "no", "n", "否", "f"):
            return False
        raise ValidationError(_("answer yes or no."))
    if kind == CustomAttribute.Type.CHOICE:
        text = str(raw).strip()
        if text not in definition.choices:
            raise ValidationError(_("choose one of: %(choices)s.") % {"choices": ", ".join(definition.choices)})
        return text
    raise ValidationError(_("unknown attribute type."))


# --- the staff pages' own forms (the rules above stay the one source) ------------------------------------------

PROFILE_EDIT_FIELDS = [
    "name",
    "gender",
    "birthday",
    "birthday_is_lunar",
    "region",
    "occupation",
    "income_band",
    "education",
    "family_size",
    "organisation_name",
    "is_key_account",
]


class NoteForm(Form):
    body = forms.CharField(label=gettext_lazy("Note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


class BulkTagForm(Form):
    tag = forms.CharField(label=gettext_lazy("Tag"), max_length=50)


class ImportUploadForm(Form):
    file = forms.FileField(label=gettext_lazy("File (CSV or XLSX)"))
    target = forms.ChoiceField(label=gettext_lazy("What the file holds"), choices=ImportJob.Target.choices)
    store = forms.TypedChoiceField(
        label=gettext_lazy("Store"),
        coerce=int,
        empty_value=None,
        required=False,
        help_text=gettext_lazy("Customers whose row names no store join this one."),
    )

    def __init__(self, *args: Any, stores: Sequence[Any] = (), **kwargs: Any) -> None:
        """``stores``: those the user may put customers in; left out of a post, the view picks the user's own."""
        super().__init__(*args, **kwargs)
        choices = [(s.pk, s.name) for s in stores]
        self.fields["store"].choices = choices or [("", "—")]  # type: ignore[attr-defined]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".csv", ".xlsx", ".txt")):
            raise forms.ValidationError(gettext_lazy("Upload a CSV or XLSX file."))
        return upload


class ImportantDateForm(Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=ImportantDate.Kind.choices)
    date = forms.CharField(label=gettext_lazy("Date"), widget=DateInput())
    label = forms.CharField(label=gettext_lazy("Label"), required=False, max_length=64)


def attribute_field(definition: CustomAttribute) -> forms.Field:
    """A form field for one admin-defined attribute; the rules are customers.forms.clean_custom_attributes."""
    label, required = definition.label, False
    if definition.type == CustomAttribute.Type.CHOICE:
        return forms.ChoiceField(
            choices=[("", "—")] + [(c, c) for c in definition.choices], label=label, required=required
        )
    if definition.type == CustomAttribute.Type.BOOLEAN:
        return forms.ChoiceField(
            choices=[("", "—"), ("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))],
            label=label,
            required=required,
        )
    if definition.type == CustomAttribute.Type.DATE:
        return forms.CharField(widget=DateInput(), label=label, required=required)
    return forms.CharField(label=label, required=required)


def attribute_initial(definition: CustomAttribute, value) -> str:
    if value in (None, ""):
        return ""
    if definition.type == CustomAttribute.Type.BOOLEAN:
        return "yes" if value is True else "no"
    return str(value)


# --- the new-customer page and contact editing on the 360 page ---------------------------------------------------


class NewCustomerForm(Form):
    """The counter's own fields; the profile rules stay in ``CustomerForm`` (the service applies them)."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    mobile = forms.CharField(
        label=gettext_lazy("Mobile"),
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    email = forms.CharField(label=gettext_lazy("E-mail"), max_length=254, required=False)
    birthday = forms.DateField(label=gettext_lazy("Birthday"), required=False, widget=DateInput())
    gender = forms.ChoiceField(label=gettext_lazy("Gender"), choices=Customer.Gender.choices, required=False)
    home_store = forms.TypedChoiceField(label=gettext_lazy("Store"), coerce=int, empty_value=None)
    tags = forms.CharField(
        label=gettext_lazy("Tags"),
        required=False,
        max_length=500,
        help_text=gettext_lazy("Separate tags with commas."),
    )

    def __init__(self, *args: Any, stores: Sequence[Any], store_required: bool, **kwargs: Any) -> None:
        """``stores``: those the user may put customers in. Store-bound staff get no blank choice (left out of a
        post, the view picks their own store); the service refuses any other store whatever is posted."""
        super().__init__(*args, **kwargs)
        choices = [(s.pk, s.name) for s in stores]
        field = self.fields["home_store"]
        field.choices = choices if store_required and choices else [("", "—"), *choices]  # type: ignore[attr-defined]
        field.required = False
        self.fields["birthday"].error_messages["invalid"] = gettext_lazy("Enter a real date, e.g. 1990-05-17.")
        self.fields["name"].error_messages["required"] = gettext_lazy("Enter the customer's name.")
        self.fields["mobile"].error_messages["required"] = gettext_lazy("Enter the customer's mobile number.")

    def clean_birthday(self) -> dt.date | None:
        return CustomerForm.clean_birthday(self)  # type: ignore[arg-type]  # the one rule, on this form's data

    def clean_mobile(self) -> str:
        from guanxi.customers.contacts import normalize_phone

        return normalize_phone(self.cleaned_data.get("mobile") or "")

    def clean_email(self) -> str:
        from guanxi.customers.contacts import normalize_email

        value = (self.cleaned_data.get("email") or "").strip()
        return normalize_email(value) if value else ""

    def clean_tags(self) -> list[str]:
        text = (self.cleaned_data.get("tags") or "").replace("，", ",").replace("、", ",")
        names = [t.strip() for t in text.split(",") if t.strip()]
        if any(len(n) > 50 for n in names):
            raise ValidationError(_("A tag name has at most 50 characters."), code="max_length")
        return list(dict.fromkeys(names))


class ContactAddForm(Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=ContactPoint.Kind.choices)
    value = forms.CharField(label=gettext_lazy("Value"), max_length=500)
    label = forms.CharField(label=gettext_lazy("Label"), required=False, max_length=32)


class ContactChangeForm(Form):
    value = forms.CharField(label=gettext_lazy("Value"), max_length=500)
    label = forms.CharField(label=gettext_lazy("Label"), required=False, max_length=32)
