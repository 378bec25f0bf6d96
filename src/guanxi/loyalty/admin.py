"""Read-only admin views of the ledgers: balances change only through the services."""

from django.contrib import admin

from guanxi.loyalty.models import (
    Checkout,
    Coupon,
    CouponTemplate,
    Membership,
    PointsEntry,
    Tier,
    TopUpRule,
    WalletEntry,
)


@admin.register(Tier, TopUpRule, CouponTemplate)
class ConfigAdmin(admin.ModelAdmin):
    pass


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["member_no", "customer", "tier", "status", "growth", "joined_at"]
    list_select_related = ["customer", "tier"]
    search_fields = ["member_no", "invite_code"]


@admin.register(PointsEntry)
class PointsEntryAdmin(ReadOnlyAdmin):
    list_display = ["account", "kind", "points", "balance_after", "reference", "created_at"]


@admin.register(WalletEntry)
class WalletEntryAdmin(ReadOnlyAdmin):
    list_display = ["wallet", "kind", "principal", "bonus", "reference", "created_at"]


@admin.register(Coupon)
class CouponAdmin(ReadOnlyAdmin):
    list_display = ["code", "template", "customer", "status", "expires_at"]
    list_select_related = ["template", "customer"]


@admin.register(Checkout)
class CheckoutAdmin(ReadOnlyAdmin):
    list_display = ["key", "order", "total", "points_used", "wallet_principal", "wallet_bonus", "refunded"]
