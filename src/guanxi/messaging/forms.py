from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.core.forms import DateInput, Form, ModelForm
from guanxi.messaging.models import CONSENT_PURPOSE_CHOICES, Channel, Message, MessageTemplate


class TemplateForm(ModelForm):
    class Meta:
        model = MessageTemplate
        fields = [
            "code",
            "name",
            "purpose",
            "channel",
            "language",
            "subject",
            "body",
            "provider_template_code",
            "is_active",
        ]
        widgets = {"body": forms.Textarea(attrs={"rows": 5, "cols": 60})}


class MessageFilterForm(Form):
    status = forms.ChoiceField(label=_("status"), required=False, choices=[("", _("All"))] + Message.Status.choices)
    channel = forms.ChoiceField(label=_("channel"), required=False, choices=[("", _("All"))] + Channel.choices)
    template = forms.CharField(label=_("template"), required=False, max_length=64)
    date_from = forms.DateField(label=_("from"), required=False, widget=DateInput())
    date_to = forms.DateField(label=_("to"), required=False, widget=DateInput())
    customer = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
    before = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)


class ConsentForm(Form):
    channel = forms.ChoiceField(label=_("channel"), choices=Channel.choices)
    purpose = forms.ChoiceField(label=_("purpose"), choices=CONSENT_PURPOSE_CHOICES)
    granted = forms.TypedChoiceField(
        label=_("decision"),
        choices=[("1", _("Granted")), ("0", _("Withdrawn"))],
        coerce=lambda v: v == "1",
    )
    source = forms.ChoiceField(
        label=_("source"),
        choices=[
            ("in store", _("In store")),
            ("phone call", _("Phone call")),
            ("paper form", _("Paper form")),
            ("customer request", _("Customer request")),
        ],
    )
    evidence = forms.CharField(label=_("evidence"), required=False, max_length=255)
