"""Analytics API: thin views over ``analytics.selectors``; every read is scoped by ``visible_to``."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from guanxi.accounts.permissions import OperationPermission
from guanxi.analytics import selectors
from guanxi.analytics.api import serializers as s
from guanxi.analytics.models import CustomerScore, Segment
from guanxi.core.api.filters import IntegerFilter
from guanxi.core.api.pagination import KeysetPagination

SMALLINT_MAX = 32767


class ScorePagination(KeysetPagination):
    ordering: str | list[str] | tuple[str, ...] = "-customer_id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class AtRiskPagination(ScorePagination):
    ordering = ("-value_at_risk", "-customer_id")


class CustomerScoreFilter(filters.FilterSet):
    segment = filters.ChoiceFilter(choices=Segment.choices)
    min_p_alive = filters.NumberFilter(field_name="p_alive", lookup_expr="gte")
    max_p_alive = filters.NumberFilter(field_name="p_alive", lookup_expr="lte")
    min_clv = filters.NumberFilter(field_name="clv_12m", lookup_expr="gte")
    category = IntegerFilter(method="filter_category")
    # Bounded like their columns (positive smallint): a score of 58267708961 is a 400 naming it, not a 500.
    r_score = IntegerFilter(min_value=0, max_value=SMALLINT_MAX)
    f_score = IntegerFilter(min_value=0, max_value=SMALLINT_MAX)
    m_score = IntegerFilter(min_value=0, max_value=SMALLINT_MAX)

    class Meta:
        model = CustomerScore
        fields = ["segment", "is_overdue", "r_score", "f_score", "m_score"]

    def filter_category(self, queryset, name, value):
        from guanxi.analytics.models import CategoryAffinity

        return queryset.filter(customer_id__in=CategoryAffinity.objects.filter(category_id=value).values("customer_id"))


class CustomerScoreViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Stored scores of the customers you can see; ``/{customer_id}/`` for one customer."""

    serializer_class = s.CustomerScoreSerializer
    pagination_class = ScorePagination
    filterset_class = CustomerScoreFilter
    lookup_field = "customer_id"

    def get_queryset(self):
        return selectors.scores_visible(user=self.request.user)


class AtRiskViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """High value, at risk: largest expected value at risk first."""

    serializer_class = s.CustomerScoreSerializer
    pagination_class = AtRiskPagination

    def get_queryset(self):
        raw = self.request.query_params.get("max_p_alive")
        limit = None
        if raw not in (None, ""):
            try:
                limit = float(raw)
                if not 0.0 <= limit <= 1.0:
                    raise ValueError
            except ValueError:
                raise ValidationError({"max_p_alive": [_("Give a probability between 0 and 1.")]}) from None
        return selectors.at_risk(user=self.request.user, max_p_alive=limit)

    @extend_schema(
        parameters=[
            OpenApiParameter("max_p_alive", float, description="only customers at most this likely to be active")
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


class SegmentSummaryView(APIView):
    @extend_schema(responses=s.SegmentSummarySerializer(many=True))
    def get(self, request):
        return Response(s.SegmentSummarySerializer(selectors.segment_summary(user=request.user), many=True).data)


class ClvDistributionView(APIView):
    @extend_schema(responses=s.ClvBucketSerializer(many=True))
    def get(self, request):
        return Response(s.ClvBucketSerializer(selectors.clv_distribution(user=request.user), many=True).data)


class CohortView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("months", int, description="number of monthly cohorts (1-36, default 12)")],
        responses=s.CohortSerializer(many=True),
    )
    def get(self, request):
        raw = request.query_params.get("months", "12")
        if not raw.isdigit() or not 1 <= int(raw) <= 36:
            raise ValidationError({"months": [_("Give a whole number of months from 1 to 36.")]})
        rows = selectors.cohort_retention(user=request.user, months=int(raw))
        return Response(s.CohortSerializer(rows, many=True).data)


class ModelFitView(APIView):
    @extend_schema(responses=s.ModelFitSerializer(many=True))
    def get(self, request):
        return Response(s.ModelFitSerializer(selectors.latest_fits(), many=True).data)


class CanRefresh(OperationPermission):
    operation = "analytics.refresh"


class RefreshView(APIView):
    permission_classes = [CanRefresh]

    @extend_schema(request=None, responses={202: None})
    def post(self, request):
        from guanxi.analytics.tasks import scores_refresh_task

        scores_refresh_task.delay_on_commit(actor_id=request.user.pk)
        return Response({"detail": _("The refresh has been queued.")}, status=status.HTTP_202_ACCEPTED)
