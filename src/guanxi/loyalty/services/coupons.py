"""Coupons: templates, set-based issue within the budget and per-customer limits, the check and the
one-time redemption, expiry."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.audit import audit_record
from guanxi.core.db import is_postgres
from guanxi.core.db.copy import bulk_insert_values, reserve_ids
from guanxi.core.db.lookups import filter_in
from guanxi.core.events import event_record
from guanxi.core.models import AuditLog
from guanxi.core.money import parse_money_field
from guanxi.customers.models import Customer
from guanxi.customers.services import timeline_record
from guanxi.loyalty.calculations import (
    coupon_discount,
    coupon_window,
)
from guanxi.loyalty.lock_objects import (
    lock_coupon,
    lock_coupon_template,
)
from guanxi.loyalty.models import (
    ZERO,
    Coupon,
    CouponTemplate,
)
from guanxi.loyalty.services.common import (
    CODE_ALPHABET,
    MONEY_DIGITS,
    _actor_id,
    _code,
)

if TYPE_CHECKING:
    from guanxi.accounts.models import User
    from guanxi.sales.models import Order


COUPON_FIELDS = [
    "name",
    "kind",
    "amount",
    "threshold",
    "percent_off",
    "cap",
    "gift",
    "valid_from",
    "valid_until",
    "valid_days",
    "per_customer_limit",
    "budget",
    "issue_rule",
    "active",
]


def coupon_template_clean(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    kind = data.get("kind")
    if kind not in CouponTemplate.Kind.values:
        errors["kind"] = [_("Choose fixed, threshold, percent or gift.")]
    if not str(data.get("name") or "").strip():
        errors["name"] = [_("Give the coupon a name.")]
    amount = Decimal(str(data.get("amount") or 0))
    if kind in ("fixed", "threshold") and amount <= 0:
        errors["amount"] = [_("Give the amount off.")]
    if kind == "threshold" and Decimal(str(data.get("threshold") or 0)) < amount:
        errors["threshold"] = [_("The minimum spend must be at least the amount off.")]
    if kind == "percent" and not (0 < Decimal(str(data.get("percent_off") or 0)) < 100):
        errors["percent_off"] = [_("The percent off is between 0 and 100.")]
    if kind == "gift" and not str(data.get("gift") or "").strip():
        errors["gift"] = [_("Name the gift.")]
    if data.get("valid_from") and data.get("valid_until") and data["valid_until"] <= data["valid_from"]:
        errors["valid_until"] = [_("The end of the window is after its start.")]
    if errors:
        raise ValidationError(errors)
    return {k: data[k] for k in COUPON_FIELDS if k in data}


@transaction.atomic
def coupon_template_create(*, actor: User | None, data: dict[str, Any]) -> CouponTemplate:
    template = CouponTemplate.objects.create(**coupon_template_clean(data))
    audit_record(actor=actor, action="create", object_type="coupon_template", object_id=template.pk)
    return template


@transaction.atomic
def coupon_issue(
    *,
    actor: User | None,
    template: CouponTemplate,
    customer_ids: list[int],
    reference: str = "",
    skip_ineligible: bool = False,
) -> list[Coupon]:
    """Issue one coupon to each customer, set-based; per-customer limit and budget are enforced.

    With ``skip_ineligible`` customers at their limit are skipped; otherwise the whole issue is refused.
    A non-empty ``reference`` makes the issue idempotent per (template, customer).
    """
    template = lock_coupon_template(template.pk)
    if not template.active:
        raise ValidationError({"template": [_("This coupon template is not active.")]})
    ids = sorted({int(i) for i in customer_ids})
    customers = Customer.objects.filter(pk__in=ids, merged_into__isnull=True)
    if actor is not None:
        customers = Customer.objects.visible_to(actor).filter(pk__in=ids)
    found = set(customers.values_list("pk", flat=True))
    if not skip_ineligible and found != set(ids):
        raise ValidationError(
            {
                "customer_ids": [
                    _("Unknown customers: %(ids)s") % {"ids": ", ".join(str(i) for i in sorted(set(ids) - found)[:20])}
                ]
            }
        )
    held = dict(
        Coupon.objects.filter(template=template, customer_id__in=found)
        .exclude(status=Coupon.Status.VOID)
        .values("customer_id")
        .annotate(n=Count("pk"))
        .values_list("customer_id", "n")
    )
    already = set()
    if reference:
        already = set(
            Coupon.objects.filter(template=template, customer_id__in=found, reference=reference).values_list(
                "customer_id", flat=True
            )
        )
    over = {c for c in found if held.get(c, 0) >= template.per_customer_limit} - already
    if over and not skip_ineligible:
        raise ValidationError(
            {"customer_ids": [_("%(n)d customers already hold the most coupons allowed.") % {"n": len(over)}]}
        )
    targets = sorted(found - over - already)
    if template.budget is not None and template.issued_count + len(targets) > template.budget:
        raise ValidationError(
            {
                "customer_ids": [
                    _("Only %(n)d coupons of this kind are left in the budget.")
                    % {"n": max(0, template.budget - template.issued_count)}
                ]
            }
        )
    now = timezone.now()
    start, until = coupon_window(template, now)
    coupons = [
        Coupon(
            code=_code(12),
            template=template,
            customer_id=c,
            issued_at=now,
            valid_from=start,
            expires_at=until,
            reference=reference,
        )
        for c in targets
    ]
    Coupon.objects.bulk_create(coupons, batch_size=1000)
    CouponTemplate.objects.filter(pk=template.pk).update(issued_count=F("issued_count") + len(coupons))
    if coupons:
        event_record(
            name="loyalty.coupons_issued",
            aggregate="coupon_template",
            aggregate_id=template.pk,
            actor_id=_actor_id(actor),
            payload={"count": len(coupons), "reference": reference},
        )
        from guanxi.core.audit import audit_record_many

        audit_record_many(
            actor=actor,
            action="coupon_issue",
            object_type="coupon",
            customer_ids=[c.customer_id for c in coupons],
            changes={"template": template.pk},
        )
    return coupons


@dataclass
class CouponIssuePlan:
    """Who of a set of customers would get a coupon of a template now (``coupon_issue_plan``)."""

    #: customer -> (coupon id, code) already issued under the same reference (an idempotent repeat)
    already: dict[int, tuple[int, str]]
    #: customers holding the most coupons of this template allowed
    over_limit: set[int]
    #: customers beyond what is left of the budget (the highest ids)
    over_budget: set[int]
    #: customers who get a new coupon, in id order
    targets: list[int]


def coupon_issue_plan(*, template: CouponTemplate, customer_ids: list[int], reference: str) -> CouponIssuePlan:
    """The per-customer limit and the budget applied to ``customer_ids`` (existing customers); writes nothing.

    The rules of ``coupon_issue`` in a few set-wise queries, for a campaign's pre-send report and for
    ``coupons_issue_bulk``: a customer holding ``per_customer_limit`` live coupons of the template gets none,
    and when the budget runs out the customers with the highest ids go without.
    """
    ids = sorted({int(i) for i in customer_ids})
    already: dict[int, tuple[int, str]] = {}
    if reference:
        already = {
            cid: (pk, code)
            for cid, pk, code in filter_in(
                Coupon.objects.filter(template=template, reference=reference), "customer", ids
            ).values_list("customer_id", "pk", "code")
        }
    held = dict(
        filter_in(Coupon.objects.filter(template=template), "customer", ids)
        .exclude(status=Coupon.Status.VOID)
        .values("customer_id")
        .annotate(n=Count("pk"))
        .values_list("customer_id", "n")
    )
    over_limit = {c for c in ids if c not in already and held.get(c, 0) >= template.per_customer_limit}
    targets = [c for c in ids if c not in already and c not in over_limit]
    over_budget: set[int] = set()
    if template.budget is not None:
        left = max(0, template.budget - template.issued_count)
        over_budget = set(targets[left:])
        targets = targets[:left]
    return CouponIssuePlan(already=already, over_limit=over_limit, over_budget=over_budget, targets=targets)


_CODE_BYTES = bytes.maketrans(
    bytes(range(256)), "".join(CODE_ALPHABET[i % len(CODE_ALPHABET)] for i in range(256)).encode()
)


def _codes(count: int, length: int = 12) -> list[str]:
    """``count`` random codes at once (each byte maps to one of the 32 letters: uniform, 60 bits a code)."""
    text = secrets.token_bytes(count * length).translate(_CODE_BYTES).decode()
    return [text[i : i + length] for i in range(0, len(text), length)]


@transaction.atomic
def coupons_issue_bulk(
    *, template: CouponTemplate, customer_ids: list[int], reference: str, now: dt.datetime | None = None
) -> tuple[dict[int, tuple[int, str]], CouponIssuePlan]:
    """Issue one coupon each to many customers at COPY speed (a campaign's 500,000 recipients).

    The rules of ``coupon_issue`` (active template, per-customer limit, budget) through
    ``coupon_issue_plan``; customers over the limit or the budget are left out, not refused. ``reference``
    (required) makes it idempotent: a repeat returns the coupons issued the first time and issues none.
    ``customer_ids`` are existing customers the caller has already chosen (no visibility check here).
    Returns customer -> (coupon id, code) for every customer who holds one under ``reference``, and the plan.
    Rows go in with ``COPY`` and ids reserved from the sequence on PostgreSQL; the audit rows (one per
    customer, as ``coupon_issue`` writes them) with ``COPY`` too; one ``loyalty.coupons_issued`` event.
    """
    if not reference:
        raise ValueError("coupons_issue_bulk needs a reference (its idempotency key)")
    template = lock_coupon_template(template.pk)
    if not template.active:
        raise ValidationError({"template": [_("This coupon template is not active.")]})
    plan = coupon_issue_plan(template=template, customer_ids=customer_ids, reference=reference)
    issued = dict(plan.already)
    targets = plan.targets
    if not targets:
        return issued, plan
    now = now or timezone.now()
    start, until = coupon_window(template, now)
    codes = _codes(len(targets))
    connection = connections[Coupon.objects.db]
    columns = [
        "code",
        "template",
        "customer",
        "status",
        "issued_at",
        "valid_from",
        "expires_at",
        "discount",
        "reference",
    ]
    rows = [
        [code, template.pk, cid, Coupon.Status.ISSUED, now, start, until, ZERO, reference]
        for cid, code in zip(targets, codes, strict=True)
    ]
    if is_postgres(connection):
        with connection.cursor() as cursor:
            ids = reserve_ids(cursor, Coupon, len(rows))
        bulk_insert_values(Coupon, ["id", *columns], [[pk, *row] for pk, row in zip(ids, rows, strict=True)])
        issued.update({cid: (pk, code) for cid, pk, code in zip(targets, ids, codes, strict=True)})
    else:
        bulk_insert_values(Coupon, columns, rows)
        issued.update(
            {
                cid: (pk, code)
                for cid, pk, code in filter_in(
                    Coupon.objects.filter(template=template, reference=reference), "customer", targets
                ).values_list("customer_id", "pk", "code")
            }
        )
    CouponTemplate.objects.filter(pk=template.pk).update(issued_count=F("issued_count") + len(targets))
    event_record(
        name="loyalty.coupons_issued",
        aggregate="coupon_template",
        aggregate_id=template.pk,
        payload={"count": len(targets), "reference": reference},
    )
    bulk_insert_values(
        AuditLog,
        ["at", "action", "object_type", "object_id", "customer_id", "channel", "changes"],
        [[now, "coupon_issue", "coupon", str(cid), cid, "", {"template": template.pk}] for cid in targets],
    )
    return issued, plan


def _coupon_held(coupon: Coupon | None, customer_id: int) -> Coupon:
    """The coupon, if there is one and the customer holds it; otherwise a ValidationError naming ``coupon_code``."""
    if coupon is None or coupon.customer_id != customer_id:
        raise ValidationError({"coupon_code": [_("This coupon does not belong to this customer.")]})
    return coupon


def coupon_check(
    coupon: Coupon | None, *, customer_id: int, amount: Decimal, now: dt.datetime | None = None
) -> Decimal:
    """The discount the coupon gives on ``amount``, or a ValidationError naming ``coupon_code``."""
    now = now or timezone.now()
    coupon = _coupon_held(coupon, customer_id)
    if coupon.status != Coupon.Status.ISSUED:
        raise ValidationError({"coupon_code": [_("This coupon is %(s)s.") % {"s": coupon.get_status_display()}]})
    if (coupon.valid_from and now < coupon.valid_from) or (coupon.expires_at and now > coupon.expires_at):
        raise ValidationError({"coupon_code": [_("This coupon is not valid today.")]})
    template = coupon.template
    if template.kind == CouponTemplate.Kind.THRESHOLD and amount < template.threshold:
        raise ValidationError(
            {"coupon_code": [_("This coupon needs a spend of at least ¥%(t)s.") % {"t": template.threshold}]}
        )
    return coupon_discount(template, amount)


@transaction.atomic
def coupon_redeem(
    *, actor: User | None, code: str, customer_id: int, amount: Any, order: Order | None = None
) -> Coupon:
    """Use a coupon once; concurrent redemptions of one code serialize on its row and only one succeeds."""
    return _coupon_redeem(actor=actor, code=code, customer_id=customer_id, amount=amount, order=order)


def _coupon_redeem(
    *, actor: User | None, code: str, customer_id: int, amount: Any, order: Order | None = None
) -> Coupon:
    """``coupon_redeem`` inside the caller's transaction (the checkout's: no savepoint of its own)."""
    amount = parse_money_field(amount, "amount", max_digits=MONEY_DIGITS)
    coupon = _coupon_held(lock_coupon(code or ""), customer_id)
    discount = coupon_check(coupon, customer_id=customer_id, amount=amount)
    coupon.status = Coupon.Status.REDEEMED
    coupon.redeemed_at = timezone.now()
    coupon.redeemed_order = order
    coupon.discount = discount
    coupon.save(update_fields=["status", "redeemed_at", "redeemed_order", "discount"])
    timeline_record(
        customer_id=customer_id,
        kind="loyalty.coupon",
        summary=f"coupon {coupon.code}",
        data={"name": coupon.template.name, "code": coupon.code, "discount": str(discount)},
        actor=actor,
        ref_type="coupon",
        ref_id=coupon.pk,
    )
    return coupon


def coupon_expire_run(*, now: dt.datetime | None = None) -> int:
    return Coupon.objects.filter(status=Coupon.Status.ISSUED, expires_at__lt=now or timezone.now()).update(
        status=Coupon.Status.EXPIRED
    )
