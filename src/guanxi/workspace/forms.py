"""Forms of the workspace pages that are not the customer's own rules (those live in customers.forms)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.core.forms import DateInput, Form
from guanxi.customers.models import CustomAttribute, ImportantDate, ImportJob

PROFILE_EDIT_FIELDS = [
    "name",
    "gender",
    "birthday",
    "region",
    "occupation",
    "income_band",
    "education",
    "family_size",
    "organisation_name",
    "is_key_account",
]


class NoteForm(Form):
    body = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


class BulkTagForm(Form):
    tag = forms.CharField(label=_("Tag"), max_length=50)


class ImportUploadForm(Form):
    file = forms.FileField(label=_("File (CSV or XLSX)"))
    target = forms.ChoiceField(label=_("What the file holds"), choices=ImportJob.Target.choices)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".csv", ".xlsx", ".txt")):
            raise forms.ValidationError(_("Upload a CSV or XLSX file."))
        return upload


class ImportantDateForm(Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=ImportantDate.Kind.choices)
    date = forms.CharField(label=_("Date"), widget=DateInput())
    label = forms.CharField(label=_("Label"), required=False, max_length=64)


def attribute_field(definition: CustomAttribute) -> forms.Field:
    """A form field for one admin-defined attribute; the rules are customers.forms.clean_custom_attributes."""
    common = {"label": definition.label, "required": False}
    if definition.type == CustomAttribute.Type.CHOICE:
        return forms.ChoiceField(choices=[("", "—")] + [(c, c) for c in definition.choices], **common)
    if definition.type == CustomAttribute.Type.BOOLEAN:
        return forms.ChoiceField(choices=[("", "—"), ("yes", _("Yes")), ("no", _("No"))], **common)
    if definition.type == CustomAttribute.Type.DATE:
        return forms.CharField(widget=DateInput(), **common)
    return forms.CharField(**common)


def attribute_initial(definition: CustomAttribute, value) -> str:
    if value in (None, ""):
        return ""
    if definition.type == CustomAttribute.Type.BOOLEAN:
        return "yes" if value is True else "no"
    return str(value)
