from rest_framework import serializers

from guanxi.analytics.models import CustomerScore, ModelFit
from guanxi.core.api.serializers import ModelSerializer


class CustomerScoreSerializer(ModelSerializer):
    customer_id = serializers.IntegerField(read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    segment_label = serializers.CharField(source="get_segment_display", read_only=True)

    class Meta:
        model = CustomerScore
        fields = [
            "customer_id",
            "customer_name",
            "recency_days",
            "frequency",
            "monetary",
            "r_score",
            "f_score",
            "m_score",
            "segment",
            "segment_label",
            "first_purchase",
            "last_purchase",
            "repeat_purchases",
            "avg_repeat_spend",
            "p_alive",
            "expected_purchases_90d",
            "clv_12m",
            "value_at_risk",
            "typical_interval_days",
            "is_overdue",
            "top_categories",
            "computed_at",
        ]
        read_only_fields = fields


class SegmentSummarySerializer(serializers.Serializer):
    segment = serializers.CharField()
    # A field named like a Field attribute: DRF's metaclass moves it to _declared_fields; the stubs cannot know.
    label = serializers.CharField()  # type: ignore[assignment]
    explanation = serializers.CharField()
    customers = serializers.IntegerField()
    customer_share = serializers.FloatField()
    revenue = serializers.DecimalField(max_digits=16, decimal_places=2)
    revenue_share = serializers.FloatField()
    clv = serializers.DecimalField(max_digits=16, decimal_places=2)
    value_at_risk = serializers.DecimalField(max_digits=16, decimal_places=2)
    avg_recency_days = serializers.FloatField(allow_null=True)
    avg_frequency = serializers.FloatField(allow_null=True)
    avg_p_alive = serializers.FloatField(allow_null=True)


class CohortSerializer(serializers.Serializer):
    month = serializers.DateField()
    customers = serializers.IntegerField()
    retention = serializers.ListField(child=serializers.FloatField(allow_null=True))


class ClvBucketSerializer(serializers.Serializer):
    low = serializers.IntegerField()
    high = serializers.IntegerField(allow_null=True)
    customers = serializers.IntegerField()


class ModelFitSerializer(ModelSerializer):
    class Meta:
        model = ModelFit
        fields = [
            "model",
            "params",
            "log_likelihood",
            "n_customers",
            "converged",
            "duration_seconds",
            "as_of",
            "time_unit_days",
            "fitted_at",
        ]
        read_only_fields = fields
