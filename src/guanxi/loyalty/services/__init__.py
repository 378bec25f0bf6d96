"""Writes of loyalty, one module per part of the program; every public name is importable from here.

- ``membership``: enrolment, status, tiers and their review, birthday gifts;
- ``points``: the points ledger (credit, debit, adjust, redeem, expire);
- ``earning``: points and growth from paid orders, referral rewards, the e-bill, reversal on refund;
- ``wallet``: stored value (top-up, spend, refund of principal);
- ``coupons``: templates, issue, check, redemption, expiry;
- ``checkout``: pricing, committing and refunding a member's order with everything it applied;
- ``merge``: what a customer merge moves.

Every balance change happens under the row lock of the account it changes, taken through
``guanxi.loyalty.lock_objects`` (which states the lock order); the arithmetic and its rounding rules are in
``guanxi.loyalty.calculations``.
"""

from guanxi.loyalty.calculations import (
    CENT,
    coupon_discount,
    points_for_amount,
    top_up_bonus,
    wallet_split,
)
from guanxi.loyalty.lock_objects import lock_coupon, lock_membership, lock_points_account, lock_wallet
from guanxi.loyalty.services.checkout import Quote, checkout_commit, checkout_price, checkout_refund
from guanxi.loyalty.services.common import CODE_ALPHABET, POINTS_MAX, program, to_points
from guanxi.loyalty.services.coupons import (
    COUPON_FIELDS,
    CouponIssuePlan,
    coupon_check,
    coupon_expire_run,
    coupon_issue,
    coupon_issue_plan,
    coupon_redeem,
    coupon_template_clean,
    coupon_template_create,
    coupons_issue_bulk,
)
from guanxi.loyalty.services.earning import points_earn_for_order, points_reverse_for_refund
from guanxi.loyalty.services.membership import (
    birthday_run,
    member_close,
    member_enrol,
    member_set_status,
    member_suspend,
    review_window_growth,
    tier_recompute,
    tier_review,
)
from guanxi.loyalty.services.merge import merge_loyalty
from guanxi.loyalty.services.points import points_adjust, points_expire_run, points_redeem
from guanxi.loyalty.services.wallet import wallet_refund, wallet_spend, wallet_top_up

__all__ = [
    "CENT",
    "CODE_ALPHABET",
    "COUPON_FIELDS",
    "POINTS_MAX",
    "Quote",
    "birthday_run",
    "checkout_commit",
    "checkout_price",
    "checkout_refund",
    "coupon_check",
    "coupon_discount",
    "coupon_expire_run",
    "coupon_issue",
    "coupon_issue_plan",
    "coupons_issue_bulk",
    "CouponIssuePlan",
    "coupon_redeem",
    "coupon_template_clean",
    "coupon_template_create",
    "lock_coupon",
    "lock_membership",
    "lock_points_account",
    "lock_wallet",
    "member_close",
    "member_enrol",
    "member_set_status",
    "member_suspend",
    "merge_loyalty",
    "points_adjust",
    "points_earn_for_order",
    "points_expire_run",
    "points_for_amount",
    "points_redeem",
    "points_reverse_for_refund",
    "program",
    "review_window_growth",
    "tier_recompute",
    "tier_review",
    "to_points",
    "top_up_bonus",
    "wallet_refund",
    "wallet_spend",
    "wallet_split",
    "wallet_top_up",
]
