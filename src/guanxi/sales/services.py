"""Order ingest and refunds. Replaying an order or a refund with the same reference changes nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from guanxi.accounts.actors import Actor, actor_id, signed_in
from guanxi.accounts.models import Store
from guanxi.accounts.permissions import is_store_scoped, may_use_store
from guanxi.core.audit import audit_record
from guanxi.core.events import event_record
from guanxi.core.idempotency import idempotency_claim
from guanxi.core.money import fits_column, max_amount, parse_money_field
from guanxi.customers.models import Customer, CustomerQuerySet
from guanxi.customers.services import ContactInput, customer_create, timeline_record
from guanxi.sales.models import Order, OrderLine, PaymentMethod, Product, ProductCategory, Refund, RefundLine

CENT = Decimal("0.01")
MAX_MONEY = Decimal("999999999999.99")


@dataclass
class IngestResult:
    order: Order
    created: bool


def _parse_time(value: Any, field: str, errors: dict[str, list[str]]) -> dt.datetime | None:
    parsed: dt.datetime | None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        parsed = parse_datetime(str(value or "").strip()) if value else None
        if parsed is None:
            try:
                parsed = dt.datetime.combine(dt.date.fromisoformat(str(value).strip()), dt.time(12))
            except (TypeError, ValueError):
                errors[field] = [_("Enter a date and time such as 2026-05-01T14:30:00+08:00.")]
                return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    if parsed > timezone.now() + dt.timedelta(days=1):
        errors[field] = [_("An order cannot be in the future.")]
        return None
    return parsed


def _store_named(store_key: Any, stores: dict[str, Store] | None, errors: dict[str, list[str]]) -> Store | None:
    """The store an order names (by code, or by id), None when it names none; a bad name goes into ``errors``."""
    if store_key in (None, ""):
        return None
    store = (stores or {}).get(str(store_key))
    if store is None:
        store = Store.objects.filter(code=str(store_key)).first() or (
            Store.objects.filter(pk=store_key).first() if str(store_key).isdigit() else None
        )
    if store is None:
        errors["store"] = [_("There is no store “%(store)s”.") % {"store": store_key}]
    return store


def order_store(actor: Actor, data: dict[str, Any], *, stores: dict[str, Store] | None = None) -> Store | None:
    """The store an order is recorded in, which is also the namespace of its order number.

    Each store's till numbers its own sales, so an order number is unique per (source, store): store A's
    number says nothing about store B's. Store-bound staff record in one of their own stores: the one the
    order names, else their only store; staff of several stores name it. Staff who see every store and the
    system (webhooks) may leave it empty, which is one more namespace. Raises a ValidationError on ``store``.
    """
    errors: dict[str, list[str]] = {}
    store = _store_named(data.get("store"), stores, errors)
    if errors:
        raise ValidationError(errors)
    user = signed_in(actor)
    if store is None:
        if user is None or not is_store_scoped(user):
            return None
        own: list[Store] = list(user.stores.order_by("pk")[:2])  # one query: the store, if it is their only one
        if len(own) != 1:
            raise ValidationError({"store": [_("Name the store of this sale, one of your own stores.")]})
        return own[0]
    if not may_use_store(user, store.pk):
        raise ValidationError({"store": [_("Choose one of your own stores.")]})
    return store


def order_by_number(*, source: str, store: Store | None, external_ref: str) -> Order | None:
    """The order recorded under this number in this store (the number's namespace), if any."""
    return Order.objects.filter(source=source, store=store, external_ref=external_ref).first()


def _order_scope(store: Store | None) -> str:
    """The idempotency scope of an order number: one per store, as the numbers are (``order`` without one)."""
    return "order" if store is None else f"order@{store.pk}"


def order_clean(
    data: dict[str, Any], *, products: dict[str, Product] | None = None, stores: dict[str, Store] | None = None
) -> dict[str, Any]:
    """Validate an incoming order; raises one ValidationError naming every bad field."""
    errors: dict[str, list[str]] = {}
    ref = str(data.get("external_ref") or "").strip()
    if not ref:
        errors["external_ref"] = [_("Every order needs its order number.")]
    elif len(ref) > 64:
        errors["external_ref"] = [_("An order number has at most 64 characters.")]
    source = str(data.get("source") or "api").strip()[:32]
    ordered_at = _parse_time(data.get("ordered_at") or timezone.now(), "ordered_at", errors)
    method = data.get("payment_method") or PaymentMethod.OTHER
    if method not in PaymentMethod.values:
        errors["payment_method"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(PaymentMethod.values)}]
    store = _store_named(data.get("store"), stores, errors)
    raw_lines = data.get("lines") or []
    if not isinstance(raw_lines, list) or not raw_lines:
        errors["lines"] = [_("An order needs at least one line.")]
        raw_lines = []
    lines = []
    skus = {str(line.get("sku")) for line in raw_lines if isinstance(line, dict) and line.get("sku")}
    known = dict(products or {})
    missing = skus - set(known)
    if missing:
        known.update({p.sku: p for p in Product.objects.filter(sku__in=missing).select_related("category")})
    total = Decimal("0.00")
    for i, line in enumerate(raw_lines):
        if not isinstance(line, dict):
            errors[f"lines[{i}]"] = [_("Each line is an object with sku, quantity and unit_price.")]
            continue
        product = known.get(str(line.get("sku"))) if line.get("sku") else None
        name = str(line.get("name") or (product.name if product else "")).strip()[:200]
        if not name:
            errors[f"lines[{i}].name"] = [_("Name the item or give a known SKU.")]
        try:
            quantity = int(line.get("quantity", 1))
            if quantity < 1 or quantity > 100000 or str(line.get("quantity", 1)).strip() != str(quantity):
                raise ValueError
        except (TypeError, ValueError):
            errors[f"lines[{i}].quantity"] = [_("The quantity is a whole number from 1.")]
            quantity = 0
        raw_price = line.get("unit_price")
        if raw_price in (None, "") and product is not None:
            raw_price = product.price
        unit_price = (
            parse_money_field(raw_price, f"lines[{i}].unit_price", errors=errors)
            if raw_price not in (None, "")
            else None
        )
        if raw_price in (None, ""):
            errors[f"lines[{i}].unit_price"] = [_("Give the unit price.")]
        if unit_price is not None and quantity:
            amount = (unit_price * quantity).quantize(CENT)
            if not fits_column(amount) or not fits_column(total + amount):
                errors[f"lines[{i}].quantity"] = [
                    _("The order comes to more than ¥%(max)s; split it.") % {"max": max_amount()}
                ]
                continue
            total += amount
            lines.append(
                {
                    "product": product,
                    "sku": str(line.get("sku") or "")[:64],
                    "name": name,
                    "category": product.category if product else None,
                    "quantity": quantity,
                    "unit_price": unit_price,
                    "amount": amount,
                }
            )
    discount = parse_money_field(data.get("discount_amount") or "0", "discount_amount", errors=errors)
    paid = None
    if discount is not None and not errors:
        if discount > total:
            errors["discount_amount"] = [_("The discount is larger than the order.")]
        raw_paid = data.get("paid_amount")
        paid = (
            parse_money_field(raw_paid, "paid_amount", errors=errors)
            if raw_paid not in (None, "")
            else total - discount
        )
        if paid is not None and paid > total - discount:
            errors["paid_amount"] = [_("More was paid than the order costs after discount.")]
    if errors:
        raise ValidationError(errors)
    return {
        "external_ref": ref,
        "source": source,
        "ordered_at": ordered_at,
        "payment_method": method,
        "store": store,
        "lines": lines,
        "total_amount": total,
        "discount_amount": discount,
        "paid_amount": paid,
    }


def _customers_for(actor: Actor) -> CustomerQuerySet:
    """The customers an order may go to: those the actor sees (``visible_to``); every one for the system."""
    user = signed_in(actor)
    if user is not None:
        return Customer.objects.visible_to(user)
    return Customer.objects.filter(merged_into__isnull=True)


def _resolve_customer(data: dict[str, Any], *, actor: Actor, store: Store | None) -> Customer:
    """Find or create the buyer, only among the customers the actor may see; writes only for a new buyer."""
    customer_id = data.get("customer_id")
    if customer_id not in (None, ""):
        visible = _customers_for(actor)
        customer = visible.filter(pk=customer_id).first() if str(customer_id).isdigit() else None
        if customer is None:
            merged = (
                Customer.objects.filter(pk=customer_id).exclude(merged_into=None).values("merged_into_id").first()
                if str(customer_id).isdigit()
                else None
            )
            survivor = visible.filter(pk=merged["merged_into_id"]).first() if merged else None
            if survivor is not None:
                return survivor
            raise ValidationError({"customer_id": [_("There is no customer #%(id)s.") % {"id": customer_id}]})
        return customer
    person = data.get("customer")
    if not isinstance(person, dict) or not (person.get("phone") or person.get("email")):
        raise ValidationError({"customer": [_("Give customer_id, or a customer with a phone or e-mail.")]})
    contacts = [ContactInput(kind=k, value=person[k]) for k in ("phone", "email") if person.get(k)]
    profile = {
        "name": person.get("name") or person.get("phone") or person.get("email"),
        "home_store": store.pk if store else None,
        "source": str(data.get("source") or "order")[:32],
    }
    try:
        return customer_create(actor=actor, data=profile, contacts=contacts, channel="order").customer
    except ValidationError as exc:
        raise ValidationError(
            {("store" if k == "home_store" else f"customer.{k}"): v for k, v in exc.message_dict.items()}
        ) from None


def _replay_allowed(existing: Order, actor: Actor) -> None:
    """A replayed order number is answered with the order only if the actor may see it.

    Numbers are per store and store-bound staff record only in their own stores, so this refusal concerns a
    number of the actor's own store whose buyer they may not see (recorded by head office for a customer of
    another store); it says only that the number is taken, nothing of the order.
    """
    if not _customers_for(actor).filter(pk=existing.customer_id).exists():
        raise ValidationError(
            {"external_ref": [_("This order number is already in use; give the order number of a new sale.")]}
        )


@transaction.atomic
def order_ingest(
    *,
    actor: Actor,
    data: dict[str, Any],
    channel: str = "api",
    products: dict[str, Product] | None = None,
    stores: dict[str, Store] | None = None,
) -> IngestResult:
    """Record a paid order once. The (source, store, external_ref) triple is its idempotency key.

    Sending the same order again returns the recorded one; the same number with other content is refused
    (:class:`~guanxi.core.idempotency.IdempotencyConflict`). ``products`` and ``stores`` (by code): what the
    caller already read, handed to ``order_clean``.
    """
    return order_ingest_within(actor=actor, data=data, channel=channel, products=products, stores=stores)


def order_ingest_within(
    *,
    actor: Actor,
    data: dict[str, Any],
    channel: str = "api",
    products: dict[str, Product] | None = None,
    stores: dict[str, Store] | None = None,
) -> IngestResult:
    """``order_ingest`` for a caller already inside a transaction that rolls back as a whole on any error (the
    checkout's atomic block): no savepoint of its own around it; the order's insert keeps its own, since a
    concurrent order with the same number is answered as a replay."""
    source = str(data.get("source") or "api").strip()[:32]
    ref = str(data.get("external_ref") or "").strip()
    try:
        store = order_store(actor, data, stores=stores)
    except ValidationError as exc:  # report the store with every other bad field
        errors = exc.message_dict
        try:
            order_clean(data, products=products, stores=stores)
        except ValidationError as more:
            errors = {**more.message_dict, **errors}
        raise ValidationError(errors) from None
    # The number is looked up in the order's store only: another store's numbers are not seen, so they are
    # neither refused nor answered (#13 item 11).
    existing = order_by_number(source=source, store=store, external_ref=ref) if ref else None
    if existing is not None:
        _replay_allowed(existing, actor)  # first: an order one may not see says "in use", nothing of its content
    if ref and len(ref) <= 64:
        idempotency_claim(scope=_order_scope(store), key=f"{source}:{ref}", params=dict(data), field="external_ref")
    if existing is not None:
        return IngestResult(order=existing, created=False)
    named = {str(data.get("store")): store} if store is not None else {}
    cleaned = order_clean(data, products=products, stores={**(stores or {}), **named})
    cleaned["store"] = store
    try:
        with transaction.atomic():
            customer = _resolve_customer(data, actor=actor, store=cleaned["store"])
            if not fits_column(customer.total_spent + cleaned["paid_amount"]):
                # The customer's running total is a money column too.
                raise ValidationError(
                    {"paid_amount": [_("The customer's total would exceed ¥%(max)s.") % {"max": max_amount()}]}
                )
            order = _order_write(actor=actor, customer=customer, cleaned=cleaned, channel=channel)
    except IntegrityError:
        existing = order_by_number(source=cleaned["source"], store=store, external_ref=cleaned["external_ref"])
        if existing is None:
            raise
        _replay_allowed(existing, actor)
        return IngestResult(order=existing, created=False)
    return IngestResult(order=order, created=True)


def _order_write(*, actor: Actor, customer: Customer, cleaned: dict[str, Any], channel: str) -> Order:
    order = Order.objects.create(
        source=cleaned["source"],
        external_ref=cleaned["external_ref"],
        customer=customer,
        store=cleaned["store"],
        ordered_at=cleaned["ordered_at"],
        total_amount=cleaned["total_amount"],
        discount_amount=cleaned["discount_amount"],
        paid_amount=cleaned["paid_amount"],
        payment_method=cleaned["payment_method"],
    )
    OrderLine.objects.bulk_create([OrderLine(order=order, **line) for line in cleaned["lines"]])
    customer_stats_add_order(customer_id=customer.pk, ordered_at=order.ordered_at, paid=order.paid_amount)
    payload = {
        "order_id": order.pk,
        "external_ref": order.external_ref,
        "source": order.source,
        "store_id": order.store_id,
        "paid_amount": str(order.paid_amount),
        "total_amount": str(order.total_amount),
        "ordered_at": order.ordered_at.isoformat(),
        "lines": [
            {
                "sku": ln["sku"],
                "category_id": ln["category"].pk if ln["category"] else None,
                "quantity": ln["quantity"],
                "amount": str(ln["amount"]),
            }
            for ln in cleaned["lines"]
        ],
    }
    event = event_record(
        name="order.paid",
        customer_id=customer.pk,
        aggregate="order",
        aggregate_id=order.pk,
        actor_id=actor_id(actor),
        payload=payload,
    )
    timeline_record(
        customer_id=customer.pk,
        kind="order.paid",
        occurred_at=order.ordered_at,
        summary=f"order {order.external_ref} ¥{order.paid_amount}",
        data={
            "ref": order.external_ref,
            "amount": str(order.paid_amount),
            "store": order.store.name if order.store else "—",
            "lines": len(cleaned["lines"]),
        },
        actor=actor,
        event_id=event.pk,
        ref_type="order",
        ref_id=order.pk,
    )
    audit_record(
        actor=actor, action="create", object_type="order", object_id=order.pk, customer_id=customer.pk, channel=channel
    )
    return order


def customer_stats_add_order(*, customer_id: int, ordered_at: dt.datetime, paid: Decimal) -> None:
    """Keep the purchase figures on the customer row current in one UPDATE (no read-modify-write)."""
    Customer.objects.filter(pk=customer_id).update(
        order_count=F("order_count") + 1,
        total_spent=F("total_spent") + paid,
        last_order_at=Greatest(Coalesce(F("last_order_at"), Value(ordered_at)), Value(ordered_at)),
        first_order_at=Least(Coalesce(F("first_order_at"), Value(ordered_at)), Value(ordered_at)),
    )


@transaction.atomic
def refund_create(
    *,
    actor: Actor,
    order: Order,
    external_ref: str,
    amount: Any = None,
    lines: list[dict[str, Any]] | None = None,
    reason: str = "",
    refunded_at: Any = None,
    channel: str = "api",
    fingerprint_params: dict[str, Any] | None = None,
) -> tuple[Refund, bool]:
    """Refund part or all of an order once per reference; never more than was paid.

    The same reference with other content (amount, lines, reason; or ``fingerprint_params``, what the
    caller was asked) is refused as a reused idempotency key.
    """
    errors: dict[str, list[str]] = {}
    ref = (external_ref or "").strip()
    if not ref:
        raise ValidationError({"external_ref": [_("Every refund needs its refund number.")]})
    # The look-up runs under the order's lock: a parallel replay of this refund number waits for the
    # first one to commit, then finds its refund and answers with it (never a unique-key error).
    order = Order.objects.select_for_update().get(pk=order.pk)
    idempotency_claim(
        scope="refund",
        key=f"{order.pk}:{ref}",
        params=fingerprint_params
        if fingerprint_params is not None
        else {"amount": amount, "lines": lines or [], "reason": reason, "refunded_at": refunded_at},
        field="external_ref",
    )
    existing = Refund.objects.filter(order=order, external_ref=ref).first()
    if existing:
        return existing, False
    order_lines = {ln.pk: ln for ln in order.lines.select_for_update()}
    refund_lines, lines_amount = [], Decimal("0.00")
    for i, item in enumerate(lines or []):
        line = (
            order_lines.get(int(item.get("order_line", 0) or 0)) if str(item.get("order_line", "")).isdigit() else None
        )
        if line is None:
            errors[f"lines[{i}].order_line"] = [_("This line is not on the order.")]
            continue
        qty = item.get("quantity", 0)
        if not isinstance(qty, int) or qty < 1 or qty > line.quantity - line.refunded_quantity:
            errors[f"lines[{i}].quantity"] = [
                _("At most %(n)d of this item can still be refunded.") % {"n": line.quantity - line.refunded_quantity}
            ]
            continue
        refund_lines.append((line, qty))
        lines_amount += (line.amount * qty / line.quantity).quantize(CENT)
    value = (
        parse_money_field(amount, "amount", errors=errors, allow_zero=bool(refund_lines))
        if amount not in (None, "")
        else lines_amount
    )
    when = _parse_time(refunded_at or timezone.now(), "refunded_at", errors)
    if not errors:
        # ¥0 only when goods come back that cost nothing in money (paid by points or a coupon)
        if value is None or value < 0 or (value == 0 and not refund_lines):
            errors["amount"] = [_("Give the amount or the lines to refund.")]
        elif value > order.paid_amount - order.refunded_amount:
            errors["amount"] = [
                _("Only ¥%(left)s of this order can still be refunded.")
                % {"left": order.paid_amount - order.refunded_amount}
            ]
    if errors or value is None or when is None:  # value and when are set whenever errors is empty
        raise ValidationError(errors)
    refund = Refund.objects.create(order=order, external_ref=ref, amount=value, reason=reason[:255], refunded_at=when)
    for line, qty in refund_lines:
        RefundLine.objects.create(refund=refund, order_line=line, quantity=qty)
        OrderLine.objects.filter(pk=line.pk).update(refunded_quantity=F("refunded_quantity") + qty)
    order.refunded_amount += value
    returned = {line.pk: line.refunded_quantity + qty for line, qty in refund_lines}
    all_back = all(returned.get(ln.pk, ln.refunded_quantity) >= ln.quantity for ln in order_lines.values())
    # an order paid ¥0 is refunded when its goods are all back; otherwise when its money is
    order.status = (
        Order.Status.REFUNDED
        if order.refunded_amount == order.paid_amount and (order.paid_amount > 0 or all_back)
        else Order.Status.PARTIALLY_REFUNDED
    )
    order.save(update_fields=["refunded_amount", "status"])
    Customer.objects.filter(pk=order.customer_id).update(total_spent=F("total_spent") - value)
    event = event_record(
        name="order.refunded",
        customer_id=order.customer_id,
        aggregate="order",
        aggregate_id=order.pk,
        actor_id=actor_id(actor),
        payload={
            "order_id": order.pk,
            "refund_id": refund.pk,
            "amount": str(value),
            "external_ref": ref,
            "lines": [{"order_line": ln.pk, "sku": ln.sku, "quantity": q} for ln, q in refund_lines],
        },
    )
    timeline_record(
        customer_id=order.customer_id,
        kind="order.refunded",
        occurred_at=when,
        summary=f"refund {ref} ¥{value}",
        data={"ref": ref, "order_ref": order.external_ref, "amount": str(value)},
        actor=actor,
        event_id=event.pk,
        ref_type="refund",
        ref_id=refund.pk,
    )
    audit_record(
        actor=actor,
        action="create",
        object_type="refund",
        object_id=refund.pk,
        customer_id=order.customer_id,
        channel=channel,
    )
    return refund, True


def customer_order_stats_refresh(*, customer_ids: list[int]) -> None:
    """Recompute purchase figures from the orders themselves (after a merge), set-based."""
    from django.db.models import Count, DecimalField, Max, Min, OuterRef, Subquery, Sum

    orders = Order.objects.filter(customer_id=OuterRef("pk")).order_by().values("customer_id")
    Customer.objects.filter(pk__in=customer_ids).update(
        order_count=Coalesce(Subquery(orders.annotate(n=Count("id")).values("n")), 0),
        total_spent=Coalesce(
            Subquery(
                orders.annotate(s=Sum(F("paid_amount") - F("refunded_amount"))).values("s"),
                output_field=DecimalField(max_digits=14, decimal_places=2),
            ),
            Value(Decimal("0.00")),
        ),
        first_order_at=Subquery(orders.annotate(m=Min("ordered_at")).values("m")),
        last_order_at=Subquery(orders.annotate(m=Max("ordered_at")).values("m")),
    )


def merge_orders(survivor: Customer, merged: Customer) -> dict[str, int]:
    moved = Order.objects.filter(customer=merged).update(customer=survivor)
    customer_order_stats_refresh(customer_ids=[survivor.pk, merged.pk])
    return {"sales.Order": moved}


def category_for(code: str) -> ProductCategory | None:
    return ProductCategory.objects.filter(code=code).first()
