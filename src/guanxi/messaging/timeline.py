"""How messaging's timeline entries read, in the viewer's language.

Entries store codes, not sentences; the channel and purpose are part of the kind
(``message.sent.sms``, ``consent.withdrawn.sms.marketing``) so that they too are shown translated.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from guanxi.core.timeline import TimelineKind
from guanxi.messaging.models import CONSENT_PURPOSES, Channel, consent_source_label


def _consent(data: dict[str, Any]) -> dict[str, Any]:
    """The consent's source in words ("门店", "API"), never its code."""
    return {**data, "source": consent_source_label(str(data.get("source", "")))}


def _message(data: dict[str, Any]) -> dict[str, Any]:
    """The template by the name staff gave it (stored with the entry: nothing is queried); old entries, which
    stored only its code, show the code."""
    return {**data, "template": data.get("template_name") or data.get("template", "")}


class _Phrase:
    """A translated sentence with the channel/purpose already filled in and %(data)s left for the entry."""

    def __init__(self, template, **labels) -> None:
        self.template = template
        self.labels = labels

    def __str__(self) -> str:
        return str(self.template) % {name: str(label) for name, label in self.labels.items()}


def kinds() -> list[TimelineKind]:
    """Messaging's timeline kinds, one per channel (and purpose); ``MessagingConfig.ready()`` registers them."""
    out = []
    for channel in Channel:
        out.append(
            TimelineKind(
                f"message.sent.{channel.value}",
                _Phrase(_("Message sent by %(channel)s (%%(template)s) to %%(to)s"), channel=channel.label),
                prepare=_message,
            )
        )
        out.append(
            TimelineKind(
                f"message.failed.{channel.value}",
                _Phrase(
                    _("Message by %(channel)s (%%(template)s) to %%(to)s failed: %%(error)s"), channel=channel.label
                ),
                prepare=_message,
            )
        )
        for purpose in CONSENT_PURPOSES:
            out.append(
                TimelineKind(
                    f"consent.granted.{channel.value}.{purpose.value}",
                    _Phrase(
                        _("Consent to %(purpose)s messages by %(channel)s given (%%(source)s)"),
                        channel=channel.label,
                        purpose=purpose.label,
                    ),
                    prepare=_consent,
                )
            )
            out.append(
                TimelineKind(
                    f"consent.withdrawn.{channel.value}.{purpose.value}",
                    _Phrase(
                        _("Consent to %(purpose)s messages by %(channel)s withdrawn (%%(source)s)"),
                        channel=channel.label,
                        purpose=purpose.label,
                    ),
                    prepare=_consent,
                )
            )
    out.append(TimelineKind("message.reply", _("SMS reply from %(from)s: “%(text)s”")))
    return out
