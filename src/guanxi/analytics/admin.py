from django.contrib import admin

from guanxi.analytics.models import CustomerScore, ModelFit, Refresh


@admin.register(CustomerScore)
class CustomerScoreAdmin(admin.ModelAdmin):
    list_display = ["customer", "segment", "r_score", "f_score", "m_score", "p_alive", "clv_12m", "value_at_risk"]
    list_filter = ["segment", "is_overdue"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    readonly_fields = [f.name for f in CustomerScore._meta.fields]


@admin.register(ModelFit)
class ModelFitAdmin(admin.ModelAdmin):
    list_display = ["model", "as_of", "log_likelihood", "n_customers", "converged", "duration_seconds", "fitted_at"]
    list_filter = ["model"]


@admin.register(Refresh)
class RefreshAdmin(admin.ModelAdmin):
    list_display = ["started_at", "as_of", "status", "customers", "finished_at"]
    list_filter = ["status"]
