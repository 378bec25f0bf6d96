"""Messaging's section of the new-customer page: the consents asked at the counter (``core.customer_create``).

The clerk reads each consent text to the customer and ticks what they agree to; each tick appends a row to
the consent ledger (``consent_record``) with the text that was shown as its evidence. An unticked box records
nothing: not asked is not the same as refused, and without a grant no marketing is sent anyway.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.accounts.models import User
from guanxi.core.forms import Form
from guanxi.customers.models import ContactPoint
from guanxi.messaging.models import CONTACT_KIND, Channel, Purpose
from guanxi.messaging.services import consent_record

#: (form field, channel, purpose, what the box says, the text read to the customer).
COUNTER_CONSENTS = [
    (
        "sms_marketing",
        Channel.SMS,
        Purpose.MARKETING,
        gettext_lazy("Offers and news by SMS"),
        gettext_lazy(
            "I agree to receive member offers, new arrivals and event news from this shop by SMS. "
            "I can stop them at any time by replying T."
        ),
    ),
    (
        "email_marketing",
        Channel.EMAIL,
        Purpose.MARKETING,
        gettext_lazy("Offers and news by e-mail"),
        gettext_lazy(
            "I agree to receive member offers, new arrivals and event news from this shop by e-mail. "
            "Every e-mail has a link to stop them."
        ),
    ),
]


class ConsentSectionForm(Form):
    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, _channel, _purpose, label, text in COUNTER_CONSENTS:
            self.fields[name] = forms.BooleanField(label=label, required=False, help_text=text)


def consent_section_save(customer: Any, cleaned_data: dict[str, Any], actor: User | None) -> None:
    """Record each ticked consent; a channel the customer has no address for is refused (nothing is written)."""
    ticked = [c for c in COUNTER_CONSENTS if cleaned_data.get(c[0])]
    if not ticked:
        return
    kinds = set(ContactPoint.objects.filter(customer=customer).values_list("kind", flat=True))
    errors = {
        name: [_("Enter the customer's %(kind)s above to ask for this consent.") % {"kind": _kind_label(channel)}]
        for name, channel, _purpose, _label, _text in ticked
        if CONTACT_KIND[channel] not in kinds
    }
    if errors:
        raise ValidationError(errors)
    for _name, channel, purpose, _label, text in ticked:
        consent_record(
            actor=actor,
            customer=customer,
            channel=channel,
            purpose=purpose,
            granted=True,
            source="in store",
            evidence=str(text)[:255],
        )


def _kind_label(channel: str) -> str:
    return str(ContactPoint.Kind(CONTACT_KIND[Channel(channel)]).label).lower()
