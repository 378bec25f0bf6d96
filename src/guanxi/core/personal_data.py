"""A customer's personal data, wherever an app keeps a copy: exporters (for a copy) and erasers (for deletion).

Each app that stores personal data about a customer (contacts, rendered messages, replies, addresses)
registers, in its ``AppConfig.ready()``:

- an **exporter** ``(customer) -> data``: what the app holds about the customer, as JSON-ready values
  (str, int, bool, None, lists and dicts of them; dates as ISO strings), for a data-subject access request
  or the customer's own download. It reads only: a constant number of queries, nothing written, and it
  shows the values in full (whoever asks for the export has the right to them; masking is not its job).
- an **eraser** ``(customer) -> {what: count}``: deletes or blanks the app's copies of the customer's
  personal data and says how many rows it touched. ``customers.services.customer_erase`` calls every eraser
  inside its transaction, after the customer row is locked and its own fields blanked; an eraser runs a
  constant number of queries (set-based ``UPDATE``/``DELETE``), is idempotent (a second run finds nothing and
  returns zero counts) and keeps what the law or the books require (orders, ledgers) but no personal data.

Lookups list the entries in ``(order, key)`` order; the export is a dict keyed by the exporter's key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from guanxi.core.registry import Registry


@dataclass(frozen=True)
class PersonalDataExporter:
    key: str
    label: Any
    export: Callable[[Any], Any]
    order: int = 100


@dataclass(frozen=True)
class PersonalDataEraser:
    key: str
    label: Any
    erase: Callable[[Any], dict[str, int]]
    order: int = 100


EXPORTERS: Registry[PersonalDataExporter] = Registry("personal-data exporters")
ERASERS: Registry[PersonalDataEraser] = Registry("personal-data erasers")


def register_exporter(exporter: PersonalDataExporter) -> None:
    EXPORTERS.register(exporter)


def register_eraser(eraser: PersonalDataEraser) -> None:
    ERASERS.register(eraser)


def exporters() -> list[PersonalDataExporter]:
    return EXPORTERS.entries()


def erasers() -> list[PersonalDataEraser]:
    return ERASERS.entries()


def personal_data_export(customer: Any) -> dict[str, Any]:
    """Every registered app's copy of the customer's personal data, keyed by exporter."""
    return {e.key: e.export(customer) for e in exporters()}


def personal_data_erase(customer: Any) -> dict[str, int]:
    """Run every eraser; the counts of all of them, merged (keys are the erasers' own "what")."""
    counts: dict[str, int] = {}
    for eraser in erasers():
        counts.update(eraser.erase(customer))
    return counts
