"""Forms of the workspace pages that are not the customer's own rules (those live in customers.forms)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.customers.models import ImportJob

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


class NoteForm(forms.Form):
    body = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


class BulkTagForm(forms.Form):
    tag = forms.CharField(label=_("Tag"), max_length=50)


class ImportUploadForm(forms.Form):
    file = forms.FileField(label=_("File (CSV or XLSX)"))
    target = forms.ChoiceField(label=_("What the file holds"), choices=ImportJob.Target.choices)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".csv", ".xlsx", ".txt")):
            raise forms.ValidationError(_("Upload a CSV or XLSX file."))
        return upload
