"""Forms of the campaign pages: the campaign, its variants (a formset of up to four rows), reject, test send.

The forms only read the browser's values into types; every rule of a campaign is checked by
``services.campaign_save``, whose field-named errors are put back under the fields here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.campaigns import services
from guanxi.campaigns.campaign_selectors import segments_usable_by
from guanxi.campaigns.models import Campaign
from guanxi.core.forms import Form
from guanxi.loyalty.models import CouponTemplate
from guanxi.messaging.models import MessageTemplate, Purpose

WEEKDAYS = [
    ("0", _("Monday")),
    ("1", _("Tuesday")),
    ("2", _("Wednesday")),
    ("3", _("Thursday")),
    ("4", _("Friday")),
    ("5", _("Saturday")),
    ("6", _("Sunday")),
]


class CampaignForm(Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    goal = forms.CharField(
        label=_("Goal"), max_length=services.MAX_GOAL, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    segment: forms.ModelChoiceField = forms.ModelChoiceField(label=_("Segment"), queryset=None)
    channel = forms.ChoiceField(label=_("Channel"), choices=Campaign.Channel.choices)
    purpose = forms.ChoiceField(
        label=_("Purpose"),
        choices=Purpose.choices,
        initial=Purpose.MARKETING,
        help_text=_("SMS and e-mail campaigns are marketing; WeChat service notices are not."),
    )
    coupon_template = forms.ModelChoiceField(
        label=_("Coupon"),
        queryset=CouponTemplate.objects.filter(active=True).order_by("name"),
        required=False,
        help_text=_("Each recipient gets their own coupon, issued at send time: {coupon_code} in the message."),
    )
    schedule = forms.ChoiceField(label=_("Schedule"), choices=Campaign.Schedule.choices)
    starts_at = forms.DateTimeField(
        label=_("First send"), required=False, widget=forms.DateTimeInput, help_text=_("Once at a set time: when.")
    )
    weekday = forms.TypedChoiceField(
        label=_("Weekday"), choices=[("", "—"), *WEEKDAYS], coerce=int, empty_value=None, required=False
    )
    day_of_month = forms.IntegerField(
        label=_("Day of month"),
        min_value=1,
        max_value=31,
        required=False,
        help_text=_("29 to 31 fall on the last day of shorter months."),
    )
    send_time = forms.TimeField(label=_("Send time"), required=False, widget=forms.TimeInput)
    ends_on = forms.DateField(label=_("Last date"), required=False, widget=forms.DateInput)
    window_start = forms.TimeField(label=_("Send window from"), required=False, widget=forms.TimeInput)
    window_end = forms.TimeField(label=_("Send window until"), required=False, widget=forms.TimeInput)
    throttle_per_minute = forms.IntegerField(
        label=_("At most per minute"), min_value=1, max_value=services.MAX_THROTTLE, required=False
    )
    holdout_percent = forms.DecimalField(
        label=_("Hold-out (percent)"),
        min_value=0,
        max_value=50,
        max_digits=5,
        decimal_places=2,
        initial=10,
        help_text=_("A control group that gets nothing, to measure the uplift against."),
    )
    use_global_holdout = forms.BooleanField(label=_("Respect the global hold-out"), required=False, initial=True)
    attribution_days = forms.IntegerField(label=_("Attribution window (days)"), min_value=1, max_value=90, initial=14)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        segment_field = self.fields["segment"]
        assert isinstance(segment_field, forms.ModelChoiceField)
        segment_field.queryset = segments_usable_by(user).order_by("name")

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["segment"] = data["segment"].pk if data.get("segment") else None
        data["coupon_template"] = data["coupon_template"].pk if data.get("coupon_template") else None
        return data


def template_choices(channel: str | None = None) -> list[tuple[str, str]]:
    """Active message templates by code (one entry per code, whatever its languages)."""
    qs = MessageTemplate.objects.filter(is_active=True)
    if channel:
        qs = qs.filter(channel=channel)
    seen: dict[str, str] = {}
    for code, name, channel_code in qs.order_by("code", "language").values_list("code", "name", "channel"):
        seen.setdefault(code, f"{name} ({code}, {channel_code})")
    return [("", "—"), *seen.items()]


class VariantForm(Form):
    variant_label = ""  # A to D, by the row's position
    template_code = forms.ChoiceField(label=_("Message template"), choices=(), required=False)
    split_percent = forms.IntegerField(label=_("Share (percent)"), min_value=1, max_value=100, required=False)

    def __init__(self, *args: Any, templates: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["template_code"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = templates


VariantFormSet = forms.formset_factory(
    VariantForm, extra=0, max_num=len(services.LABELS), absolute_max=len(services.LABELS), validate_max=True
)


def variant_formset(data: Any, *, initial: list[dict[str, Any]]) -> Any:
    """Always four rows (A to D); rows left empty are not variants."""
    rows = initial + [{}] * (len(services.LABELS) - len(initial))
    formset = VariantFormSet(data, initial=rows, prefix="variants", form_kwargs={"templates": template_choices()})
    for label, form in zip(services.LABELS, formset.forms, strict=False):
        form.variant_label = label
    return formset


def variants_from(formset: Any) -> list[dict[str, Any]]:
    """The filled rows as the service takes them, labelled A, B, … in order; with each row's form index."""
    rows = []
    for index, form in enumerate(formset.forms):
        data = form.cleaned_data if form.is_bound else {}
        if not data.get("template_code") and data.get("split_percent") in (None, ""):
            continue
        rows.append(
            {
                "form_index": index,
                "template_code": data.get("template_code") or "",
                "split_percent": data.get("split_percent"),
            }
        )
    for position, row in enumerate(rows):
        row["label"] = services.LABELS[position]
    return rows


class RejectForm(Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=services.MAX_REASON, widget=forms.Textarea(attrs={"rows": 3})
    )


class TestSendForm(Form):
    phones = forms.CharField(
        label=_("Staff phones"),
        max_length=200,
        required=False,
        help_text=_("Up to five, separated by commas; empty sends to your own phone."),
    )

    addresses = forms.CharField(
        label=_("Staff addresses"),
        max_length=1000,
        required=False,
        help_text=_(
            "E-mail addresses or WeChat OpenIDs, as the campaign's channel takes; up to five, separated by commas. "
            "Empty sends an e-mail to your own address."
        ),
    )

    def phone_list(self) -> list[str]:
        raw = self.cleaned_data.get("phones") or ""
        return [p.strip() for p in raw.replace("，", ",").replace(";", ",").split(",") if p.strip()]

    def address_list(self) -> list[str]:
        """Whichever of the two fields was filled (the page shows the one the campaign's channel takes)."""
        raw = self.cleaned_data.get("addresses") or self.cleaned_data.get("phones") or ""
        return [p.strip() for p in raw.replace("，", ",").replace(";", ",").split(",") if p.strip()]


class GlobalHoldoutForm(Form):
    enabled = forms.BooleanField(label=_("On"), required=False)
    percent = forms.DecimalField(
        label=_("Global hold-out (percent)"),
        min_value=0,
        max_value=services.GLOBAL_HOLDOUT_MAX,
        max_digits=5,
        decimal_places=2,
        help_text=_("A share of all customers that no campaign reaches, to measure what campaigns add overall."),
    )
    reshuffle = forms.BooleanField(
        label=_("Draw a new group"),
        required=False,
        help_text=_(
            "Other customers land in the hold-out from now on; the results of past campaigns stay as they were."
        ),
    )

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"percent": data["percent"], "enabled": bool(data["enabled"]), "reshuffle": bool(data["reshuffle"])}
