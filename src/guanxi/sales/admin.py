from django.contrib import admin

from guanxi.sales.models import Product, ProductCategory


@admin.register(ProductCategory)
class ProductCategoryAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "parent", "warranty_months", "service_interval_days")
    search_fields = ("code", "name")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "category", "price", "warranty_months", "service_interval_days", "is_active")
    list_filter = ("category", "is_active")
    search_fields = ("sku", "name")
    list_select_related = ("category",)
