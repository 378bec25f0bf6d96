from django.contrib import admin

from guanxi.customers.models import CustomAttribute, CustomerMerge, ImportJob, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "color")
    search_fields = ("name",)


@admin.register(CustomAttribute)
class CustomAttributeAdmin(admin.ModelAdmin):
    list_display = ("key", "label", "type", "required", "position")
    list_editable = ("position",)


@admin.register(CustomerMerge)
class CustomerMergeAdmin(admin.ModelAdmin):
    list_display = ("at", "survivor_id", "merged_id", "actor")
    readonly_fields = ("survivor", "merged", "actor", "at", "moved")


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "target",
        "original_name",
        "status",
        "processed_rows",
        "total_rows",
        "created_count",
        "rejected_count",
        "created_at",
    )
    readonly_fields = [f.name for f in ImportJob._meta.fields]
