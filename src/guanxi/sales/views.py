"""Sales' part of the staff pages: the purchases panel on the customer 360 page (registered in ``apps.py``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from guanxi.customers.models import Customer
from guanxi.sales.selectors import customer_orders


def customer_orders_panel_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """The last ten orders with their store and lines: two queries whatever the count."""
    return {"orders": customer_orders(customer=customer, limit=10)}
