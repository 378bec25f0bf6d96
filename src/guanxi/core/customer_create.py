"""Sections of the "new customer" page that apps above customers add: enrol as member, consents asked at the counter.

The page (``customers.views.customer_new``) shows the customer's own fields, then one form per section the
user may use, and creates the customer and runs every section's ``save`` in ONE transaction
(``customers.services.customer_create_with_sections``), so a section that refuses leaves nothing written:

    register_customer_create_section(CustomerCreateSection(
        key="loyalty.enrol", label=_("Membership"), form_class=EnrolSectionForm,
        template="loyalty/_create_section.html", save=enrol_section_save, order=20))

- ``form_class`` is a Django form the page builds as ``form_class(data, prefix=key, user=user)`` (the prefix
  keeps field names apart between sections; ``user`` is the member of staff filling it in).
- ``template`` renders the section inside the page's form; it gets ``form`` and ``section``.
- ``save(customer, cleaned_data, actor)`` runs after the customer is created, inside the create's transaction
  (never an ``atomic`` of its own that commits separately); it raises ``ValidationError`` keyed by the
  section form's field names to refuse, which rolls back the customer too. A constant number of queries.
- ``roles``: empty means everyone who may create customers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from guanxi.core.registry import Registry, allowed


@dataclass(frozen=True)
class CustomerCreateSection:
    key: str
    label: Any
    form_class: type[Any]
    template: str
    save: Callable[[Any, dict[str, Any], Any], Any]
    order: int = 100
    roles: frozenset[str] = field(default_factory=frozenset)


CUSTOMER_CREATE_SECTIONS: Registry[CustomerCreateSection] = Registry("customer-create sections")


def register_customer_create_section(section: CustomerCreateSection) -> None:
    CUSTOMER_CREATE_SECTIONS.register(section)


def customer_create_sections(user: Any) -> list[CustomerCreateSection]:
    """The sections ``user`` sees on the new-customer page, by (order, key)."""
    return [s for s in CUSTOMER_CREATE_SECTIONS.entries() if allowed(s.roles, user)]
