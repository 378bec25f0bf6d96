"""Loyalty's section of the new-customer page: enrol as member in the same step (``core.customer_create``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.accounts.models import User
from guanxi.core.forms import Form
from guanxi.loyalty.models import Tier
from guanxi.loyalty.services import member_enrol


class EnrolSectionForm(Form):
    enrol = forms.BooleanField(label=gettext_lazy("Enrol as member"), required=False)
    invite_code = forms.CharField(
        label=gettext_lazy("Invite code of the member who referred them"), required=False, max_length=16
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The tier a new member starts in (the lowest threshold), as member_enrol gives it; one query.
        self.tier = Tier.objects.order_by("threshold", "order").first()
        if self.tier is not None:
            self.fields["enrol"].help_text = _("A new member starts in tier %(tier)s.") % {"tier": self.tier.name}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("invite_code") and not data.get("enrol"):
            self.add_error("invite_code", _("An invite code counts only for a new member: tick “Enrol as member”."))
        return data


def enrol_section_save(customer: Any, cleaned_data: dict[str, Any], actor: User | None) -> None:
    """Runs inside the customer's create: a refused invite code undoes the customer too."""
    if not cleaned_data.get("enrol"):
        return
    try:
        member_enrol(actor=actor, customer=customer, invite_code=cleaned_data.get("invite_code") or "", channel="web")
    except ValidationError as exc:
        if hasattr(exc, "error_dict") and set(exc.message_dict) - {"invite_code"}:
            raise ValidationError({"enrol": exc.messages}) from exc
        raise
