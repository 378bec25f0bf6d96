"""The counter (收银): find the member, build the basket, show the checkout's quote, commit once, print the receipt.

The basket lives in the page's form (product codes and quantities), so every quote is one stateless POST that
htmx swaps in; the commit is a plain POST carrying the idempotency key minted when the page was rendered, so
a double click or a reload answers with the receipt of the first commit and charges nothing twice.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.accounts.actors import signed_in
from guanxi.accounts.permissions import is_store_scoped
from guanxi.accounts.stores import current_store_id, switchable_stores
from guanxi.core.templatetags.money import format_money
from guanxi.customers.models import Customer
from guanxi.customers.selectors import customer_search
from guanxi.loyalty import services
from guanxi.loyalty.models import Checkout, Coupon, Membership, OrderAward, PointsEntry, WalletEntry
from guanxi.sales.models import OrderLine, PaymentMethod, Product

#: The payment methods a clerk takes for what is left after points, coupon and stored value.
COUNTER_METHODS = [
    PaymentMethod.CASH,
    PaymentMethod.WECHAT_PAY,
    PaymentMethod.ALIPAY,
    PaymentMethod.CARD,
    PaymentMethod.OTHER,
]
#: The names the checkout's errors carry, as the clerk reads them.
FIELD_LABELS = {
    "customer_id": gettext_lazy("Member"),
    "lines": gettext_lazy("Basket"),
    "coupon_code": gettext_lazy("Coupon"),
    "points": gettext_lazy("Points"),
    "wallet_amount": gettext_lazy("Stored value"),
    "payment_method": gettext_lazy("Payment method"),
    "store": gettext_lazy("Store"),
    "key": gettext_lazy("Sale"),
    "external_ref": gettext_lazy("Order number"),
    "amount": gettext_lazy("Amount"),
}
MAX_LINES = 50


def _member(request: HttpRequest, customer_id: Any) -> Membership | None:
    """The member being served, only among the customers the clerk sees (two tables joined, one query)."""
    if not str(customer_id or "").isdigit():
        return None
    return (
        Membership.objects.select_related("customer", "tier", "points", "wallet")
        .filter(customer_id=int(customer_id), customer__in=Customer.objects.visible_to(request.user).values("pk"))
        .first()
    )


def _stores(request: HttpRequest, member: Membership | None) -> tuple[list[Any], int | None]:
    """The stores the clerk may sell in, and the one preselected: the switcher's, the member's, else the first."""
    stores = switchable_stores(request.user)
    ids = [s.pk for s in stores]
    for candidate in (current_store_id(request), member.store_id if member else None):
        if candidate in ids:
            return stores, candidate
    return stores, (ids[0] if ids else None)


def _basket(post: Any) -> list[tuple[str, int]]:
    """(code, quantity) pairs from the form: lines in order, ``add`` puts one more, quantity 0 or ``remove`` drops."""
    lines: dict[str, int] = {}
    for sku, qty in zip(post.getlist("sku"), post.getlist("qty"), strict=False):
        text = str(qty).strip()
        if sku and text.isdigit():
            lines[sku] = lines.get(sku, 0) + min(int(text), 99999)
    if post.get("add"):
        lines[post["add"]] = lines.get(post["add"], 0) + 1
    lines.pop(post.get("remove") or "", None)
    return [(sku, qty) for sku, qty in lines.items() if qty > 0][:MAX_LINES]


def _form_state(request: HttpRequest, member: Membership) -> dict[str, Any]:
    """What the counter form says, with the products of its lines (one query) and the checkout's input."""
    post = request.POST
    pairs = _basket(post)
    products = {
        p.sku: p
        for p in Product.objects.filter(sku__in=[s for s, _ in pairs], is_active=True).select_related("category")
    }
    lines: list[dict[str, Any]] = [
        {"product": products[sku], "quantity": qty, "amount": products[sku].price * qty}
        for sku, qty in pairs
        if sku in products
    ]
    coupon = (post.get("coupon_code") or "").strip().upper() or (post.get("coupon_pick") or "").strip().upper()
    method = post.get("payment_method") or PaymentMethod.CASH
    if method not in COUNTER_METHODS:
        method = PaymentMethod.CASH
    stores, default_store = _stores(request, member)
    store = str(post.get("store") or default_store or "")
    # order_clean looks a store up by its code first: hand the checkout the code of the clerk's store chosen
    # (one query fewer in each order_clean); anything else goes on as posted and is judged there.
    store_code = next((s.code for s in stores if str(s.pk) == store), None)
    data: dict[str, Any] = {
        "customer_id": member.customer_id,
        "lines": [{"sku": ln["product"].sku, "quantity": ln["quantity"]} for ln in lines],
        "coupon_code": coupon,
        # "use all points": the most this member may use on this basket, as the checkout computes it
        "points": "max" if post.get("points_all") else (post.get("points") or "").strip(),
        "wallet_amount": (post.get("wallet_amount") or "").strip(),
        "payment_method": method,
        "store": store_code or (store if store else None),
        "source": "counter",
    }
    return {
        "lines": lines,
        "data": data,
        "stores": stores,
        "store": int(store) if store.isdigit() else None,
        "basket_products": products,
        "basket_stores": {s.code: s for s in stores},
        "coupon_code": (post.get("coupon_code") or "").strip(),
        "coupon_pick": (post.get("coupon_pick") or "").strip().upper(),
        "key": (post.get("key") or "").strip()[:80] or _new_key(),
    }


def _new_key() -> str:
    return uuid.uuid4().hex


def _errors(exc: ValidationError) -> list[str]:
    """The checkout's errors in the clerk's words: the field's label, never its code."""
    out: list[str] = []
    for field, msgs in exc.message_dict.items():
        base = field.split("[")[0].split(".")[0]
        label = FIELD_LABELS.get(base, FIELD_LABELS["lines"] if base.startswith("lines") else "")
        out.extend(f"{label}: {m}" if label else m for m in msgs)
    return out


def _member_coupons(member: Membership) -> list[Coupon]:
    """The member's coupons that can be picked now (one query)."""
    now = timezone.now()
    return list(
        Coupon.objects.filter(customer_id=member.customer_id, status=Coupon.Status.ISSUED)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), Q(valid_from__isnull=True) | Q(valid_from__lte=now))
        .select_related("template")
        .order_by("expires_at", "pk")[:30]
    )


def _quote_context(request: HttpRequest, member: Membership) -> dict[str, Any]:
    state = _form_state(request, member)
    quote, errors = None, []
    if state["lines"]:
        try:
            quote = services.checkout_price(
                actor=signed_in(request.user),
                data=state["data"],
                locked=member,
                products=state["basket_products"],
                stores=state["basket_stores"],
            )
        except ValidationError as exc:
            errors = _errors(exc)
    return {
        **state,
        "member": member,
        "quote": quote,
        "errors": errors,
        "coupons": _member_coupons(member),
        "methods": [(m.value, m.label) for m in COUNTER_METHODS],
        "method": state["data"]["payment_method"],
        "points_input": _points_input(request, state["data"]["points"], quote),
        "wallet_input": state["data"]["wallet_amount"],
    }


def _points_input(request: HttpRequest, points: str, quote: Any) -> str:
    """What the points field shows: the clerk's number, or after "use all points" the points the quote used."""
    if points != "max":
        return points
    if quote is not None:
        return str(quote.points)
    return (request.POST.get("points") or "").strip()  # the quote failed for another reason: keep what was typed


@login_required
def counter(request: HttpRequest) -> HttpResponse:
    """The counter page: the member search, and once a member is chosen, their basket with its quote."""
    member = _member(request, request.GET.get("customer"))
    context: dict[str, Any] = {"q": request.GET.get("q", ""), "member": member}
    if request.GET.get("customer") and member is None:
        context["not_found"] = True
    if context["q"] and member is None:
        context["results"] = _member_results(request, context["q"])
    if member is not None:
        stores, store = _stores(request, member)
        context.update(
            key=_new_key(),
            lines=[],
            coupons=_member_coupons(member),
            methods=[(m.value, m.label) for m in COUNTER_METHODS],
            method=PaymentMethod.CASH,
            stores=stores,
            store=store,
        )
    return render(request, "loyalty/counter.html", context)


def _member_results(request: HttpRequest, q: str) -> list[Customer]:
    """Customers matching a phone, its last four digits, a number or a name, with their membership (two queries)."""
    return list(
        customer_search(user=request.user, query=q, with_store_and_owner=False).select_related("membership")[:10]
    )


@login_required
def counter_members(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    return render(
        request, "loyalty/_counter_members.html", {"q": q, "results": _member_results(request, q) if q else []}
    )


@login_required
def counter_products(request: HttpRequest) -> HttpResponse:
    """Active products by code or name, at most twenty (one query)."""
    q = request.GET.get("pq", "").strip()
    products: list[Product] = []
    if q:
        products = list(
            Product.objects.filter(is_active=True)
            .filter(Q(name__icontains=q) | Q(sku__istartswith=q))  # a short list: no index needed
            .order_by("sku")[:20]
        )
    return render(request, "loyalty/_counter_products.html", {"pq": q, "products": products})


@login_required
@require_POST
def counter_quote(request: HttpRequest) -> HttpResponse:
    """The basket and its quote, re-rendered on every change (htmx swaps it into the page)."""
    member = _member(request, request.POST.get("customer"))
    if member is None:
        raise Http404
    return render(request, "loyalty/_counter_basket.html", _quote_context(request, member))


@login_required
@require_POST
def counter_commit(request: HttpRequest) -> HttpResponse:
    """Commit once per key; the same key again (a double click, a reload) shows the first receipt."""
    member = _member(request, request.POST.get("customer"))
    if member is None:
        raise Http404
    state = _form_state(request, member)  # the commit prices the sale itself: no quote before it
    data = {**state["data"], "key": state["key"], "external_ref": _order_number(state["key"])}
    errors: list[str] = []
    if not state["lines"]:
        errors = [_("Add at least one product to the basket.")]
    elif state["store"] not in [s.pk for s in state["stores"]] and (state["stores"] or is_store_scoped(request.user)):
        errors = [_("Choose one of your own stores.")]
    else:
        try:
            checkout, _created = services.checkout_commit(
                actor=signed_in(request.user),
                data=data,
                member=member,
                products=state["basket_products"],
                stores=state["basket_stores"],
            )
            return redirect("loyalty:counter_receipt", checkout.order_id)
        except ValidationError as exc:
            errors = _errors(exc)
    context = _quote_context(request, member)
    context["errors"] = errors + [e for e in context["errors"] if e not in errors]
    return render(request, "loyalty/counter.html", {**context, "q": ""}, status=400)


def _order_number(key: str) -> str:
    """The sale's order number, readable at the till and fixed by its key (so a replay names the same order)."""
    return f"C-{key[:12].upper()}"


def _checkout_for(request: HttpRequest, order_id: int) -> Checkout:
    return get_object_or_404(
        Checkout.objects.select_related(
            "order__store",
            "membership__customer",
            "membership__tier",
            "membership__points",
            "membership__wallet",
            "coupon__template",
        ),
        order_id=order_id,
        membership__customer__in=Customer.objects.visible_to(request.user).values("pk"),
    )


@login_required
def counter_receipt(request: HttpRequest, order_id: int) -> HttpResponse:
    """The receipt of a counter sale, and the refund of some or all of its lines."""
    checkout = _checkout_for(request, order_id)
    order = checkout.order
    lines = list(OrderLine.objects.filter(order=order).order_by("pk"))
    for line in lines:
        line.left = line.quantity - line.refunded_quantity  # type: ignore[attr-defined]
    key = f"checkout:{checkout.key}"
    points_after = (
        PointsEntry.objects.filter(order=order, kind__in=[PointsEntry.Kind.EARN, PointsEntry.Kind.REDEEM])
        .order_by("-pk")
        .values_list("balance_after", flat=True)
        .first()
    )
    wallet_after = (
        WalletEntry.objects.filter(order=order, kind=WalletEntry.Kind.SPEND, reference=key)
        .values_list("principal_after", "bonus_after")
        .first()
    )
    earned = OrderAward.objects.filter(order=order).values_list("points", flat=True).first() or 0
    return render(
        request,
        "loyalty/counter_receipt.html",
        {
            "checkout": checkout,
            "order": order,
            "member": checkout.membership,
            "lines": lines,
            "refunds": list(order.refunds.order_by("pk")),
            "points_earned": earned,
            "points_after": points_after,
            "wallet_used": checkout.wallet_principal + checkout.wallet_bonus,
            "wallet_after": sum(wallet_after, Decimal("0.00")) if wallet_after else None,
            "refundable": any(ln.left for ln in lines),  # type: ignore[attr-defined]
            "refund_reference": f"R-{uuid.uuid4().hex[:12].upper()}",
        },
    )


@login_required
@require_POST
def counter_refund(request: HttpRequest, order_id: int) -> HttpResponse:
    """Refund the lines ticked (or the whole order): everything the sale applied comes back in proportion."""
    checkout = _checkout_for(request, order_id)
    reference = (request.POST.get("reference") or "").strip()[:64]
    lines = None
    if not request.POST.get("whole"):
        lines = []
        for line in OrderLine.objects.filter(order_id=checkout.order_id).order_by("pk"):
            text = (request.POST.get(f"line-{line.pk}") or "").strip()
            if text.isdigit() and int(text) > 0:
                lines.append({"order_line": line.pk, "quantity": int(text)})
        if not lines:
            flash.error(request, _("Choose the items to refund, or refund the whole order."))
            return redirect("loyalty:counter_receipt", order_id)
    try:
        result = services.checkout_refund(
            actor=signed_in(request.user), checkout=checkout, reference=reference, lines=lines
        )
        flash.success(
            request,
            _("Refunded %(amount)s.") % {"amount": format_money(result["amount"])}
            if result["created"]
            else _("This refund was already recorded."),
        )
    except ValidationError as exc:
        for message in _errors(exc):
            flash.error(request, message)
    return redirect("loyalty:counter_receipt", order_id)
