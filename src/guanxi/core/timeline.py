"""Timeline kinds: how each kind of entry on a customer's timeline reads, in the viewer's language.

Entries store a kind and data, not a sentence, so a page in English shows English and a page in Chinese
shows Chinese. The app that writes a kind registers it in its ``AppConfig.ready()``:

    register_timeline_kind(TimelineKind(key="loyalty.tier", template=_("Tier changed from %(from)s to %(to)s")))

``template`` is a (lazy) string with ``%(name)s`` placeholders filled from the entry's data; ``prepare(data)``,
if given, returns the data with display values added (field labels, amounts). A kind nobody registered, or
data that does not fit the template, reads as the entry's stored summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from guanxi.core.registry import Registry


@dataclass(frozen=True)
class TimelineKind:
    key: str
    template: Any  # str or lazy str: anything whose str() is a %-format string
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    order: int = 100


TIMELINE_KINDS: Registry[TimelineKind] = Registry("timeline kinds")


def register_timeline_kind(kind: TimelineKind) -> None:
    TIMELINE_KINDS.register(kind)


def timeline_text(kind: str, data: dict[str, Any], fallback: str) -> str:
    """The entry's sentence in the active language, or ``fallback`` (its stored summary)."""
    entry = TIMELINE_KINDS.get(kind)
    if entry is None:
        return fallback
    try:
        return str(entry.template) % (entry.prepare(data) if entry.prepare else data)
    except (KeyError, TypeError, ValueError):
        return fallback
