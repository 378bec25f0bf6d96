"""Periodic loyalty jobs (scheduled in ``apps.LoyaltyConfig.ready``)."""

from __future__ import annotations

from celery import shared_task

from guanxi.loyalty import services


@shared_task
def points_expire_task() -> dict:
    return services.points_expire_run()


@shared_task
def tier_review_task() -> dict:
    return services.tier_review()


@shared_task
def coupons_expire_task() -> int:
    return services.coupon_expire_run()


@shared_task
def birthday_task() -> dict:
    return services.birthday_run()
