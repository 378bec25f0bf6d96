"""Care API under /api/care/: rules (CRUD, activate, deactivate, preview), a customer's occurrences, care
tasks (list, complete with an outcome), plans, and the registry's triggers and actions.

Bad input answers 400 naming the field (``trigger_params.days``, ``conditions.all.0.value``,
``steps.1.wait_days``), translated. A rule or task the user may not see answers 404, as one that does not
exist; roles that do not see care get 403.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from guanxi.accounts.permissions import can, signed_in
from guanxi.care import selectors, services
from guanxi.care.models import CareExclusion, CareOccurrence, CarePlan, CareRule, CareTask
from guanxi.core.api import fields
from guanxi.core.care import care_actions, care_triggers
from guanxi.customers.models import Customer


class CanSeeCare(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return can(request.user, "care.view")


class CanManageCare(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return can(request.user, "care.manage")


class CanWorkTasks(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return can(request.user, "care.tasks") or can(request.user, "care.view")


class CareRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = CareRule
        fields = [
            "id", "name", "description", "owner", "store", "plan", "active", "priority", "trigger_key",
            "trigger_params", "trigger_event", "conditions", "steps", "holdout_percent", "time_zone",
            "created_by", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class CareRuleWriteSerializer(serializers.Serializer):
    """What a rule takes; the trigger's parameters, the conditions and the steps are checked by the service
    against the registries (``GET /api/care/registry/``)."""

    name = serializers.CharField(max_length=120)
    description = serializers.CharField(allow_blank=True, required=False)
    owner = fields.IdField(allow_null=True, required=False)
    store = fields.IdField(allow_null=True, required=False)
    plan = fields.IdField(allow_null=True, required=False)
    priority = fields.IntegerField(min_value=-1000, max_value=1000, required=False)
    trigger_key = serializers.CharField(max_length=60)
    trigger_params = serializers.JSONField(required=False)
    conditions = serializers.JSONField(required=False)
    steps = serializers.JSONField(required=False)
    holdout_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=50, required=False
    )
    time_zone = serializers.CharField(max_length=64, required=False)


class CarePreviewSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    gestures = serializers.IntegerField()
    customers = serializers.IntegerField()
    held_out = serializers.IntegerField()
    excluded = serializers.IntegerField()
    capped = serializers.IntegerField()
    sample = serializers.ListField(child=serializers.DictField())
    per_day = serializers.DictField(child=serializers.IntegerField())


class CareReportSerializer(serializers.Serializer):
    """Gestures and hold-out, responders (an order within ``attribution_days``), uplift of the response rate
    (percentage points, 95% Newcombe interval) and revenue per customer (Welch), incremental revenue, cost."""

    treated = serializers.IntegerField()
    control = serializers.IntegerField()
    treated_responders = serializers.IntegerField()
    control_responders = serializers.IntegerField()
    response_uplift = serializers.FloatField(allow_null=True)
    response_low = serializers.FloatField(allow_null=True)
    response_high = serializers.FloatField(allow_null=True)
    revenue_uplift = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    incremental_revenue = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    cost = serializers.DecimalField(max_digits=14, decimal_places=2)


class CareOccurrenceSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)

    class Meta:
        model = CareOccurrence
        fields = [
            "id",
            "rule",
            "rule_name",
            "customer",
            "occasion",
            "occurred_on",
            "status",
            "reason",
            "result",
            "created_at",
        ]
        read_only_fields = fields


class CareTaskSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)

    class Meta:
        model = CareTask
        fields = [
            "id", "customer", "customer_name", "rule", "title", "script", "assignee", "store", "due_on", "status",
            "outcome", "note", "completed_by", "completed_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class CareCompleteSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=CareTask.Outcome.choices)
    note = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")


class CarePlanSerializer(serializers.ModelSerializer):
    spent_this_year = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True, required=False)

    class Meta:
        model = CarePlan
        fields = ["id", "name", "tier", "budget_per_customer", "budget_total", "active", "spent_this_year"]
        read_only_fields = ["id", "spent_this_year"]


class CarePlanWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    tier = fields.IdField(allow_null=True, required=False)
    budget_per_customer = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, allow_null=True, required=False
    )
    budget_total = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, allow_null=True, required=False
    )
    active = serializers.BooleanField(required=False)


@extend_schema_view(
    create=extend_schema(request=CareRuleWriteSerializer, responses={201: CareRuleSerializer}),
    partial_update=extend_schema(request=CareRuleWriteSerializer, responses={200: CareRuleSerializer}),
    update=extend_schema(request=CareRuleWriteSerializer, responses={200: CareRuleSerializer}),
)
class RuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = CareRuleSerializer
    permission_classes = [CanSeeCare]
    filterset_fields = ["active", "trigger_key", "store"]

    def get_queryset(self) -> Any:
        return selectors.rules_visible_to(self.request.user).order_by("-priority", "id")

    def _input(self, *, partial: bool) -> dict[str, Any]:
        serializer = CareRuleWriteSerializer(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rule = services.rule_save(actor=signed_in(request.user), data=self._input(partial=False))
        return Response(CareRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rule = self.get_object()
        data = self._input(partial=kwargs.get("partial", False))
        rule = services.rule_save(actor=signed_in(request.user), rule=rule, data=data)
        return Response(CareRuleSerializer(rule).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.rule_delete(actor=signed_in(request.user), rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: CareRuleSerializer})
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        rule = services.rule_set_active(actor=signed_in(request.user), rule=self.get_object(), active=True)
        return Response(CareRuleSerializer(rule).data)

    @extend_schema(request=None, responses={200: CareRuleSerializer})
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, pk: str | None = None) -> Response:
        rule = services.rule_set_active(actor=signed_in(request.user), rule=self.get_object(), active=False)
        return Response(CareRuleSerializer(rule).data)

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="How many days ahead (1–90, default 30).")],
        responses={200: CarePreviewSerializer},
    )
    @action(detail=True, methods=["get"])
    def preview(self, request: Request, pk: str | None = None) -> Response:
        try:
            days = max(1, min(90, int(request.query_params.get("days", 30))))
        except ValueError:
            days = 30
        result = services.rule_preview(self.get_object(), user=request.user, days=days)
        return Response(CarePreviewSerializer(result).data)

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="Attribution window in days (1–90, default 14).")],
        responses={200: CareReportSerializer},
    )
    @action(detail=True, methods=["get"])
    def report(self, request: Request, pk: str | None = None) -> Response:
        from guanxi.care.results import rule_report

        try:
            days = max(1, min(90, int(request.query_params.get("days", 14))))
        except ValueError:
            days = 14
        r = rule_report(self.get_object(), attribution_days=days)
        data = {
            "treated": r.treated,
            "control": r.control,
            "treated_responders": r.treated_responders,
            "control_responders": r.control_responders,
            "response_uplift": r.response.diff,
            "response_low": r.response.low,
            "response_high": r.response.high,
            "revenue_uplift": r.revenue_per_customer.diff,
            "incremental_revenue": r.incremental_revenue,
            "cost": r.cost,
        }
        return Response(CareReportSerializer(data).data)


class CustomerOccurrencesView(APIView):
    """The care trace of one customer: every occurrence, newest first, with its status and reason."""

    permission_classes = [CanSeeCare]

    @extend_schema(responses={200: CareOccurrenceSerializer(many=True)})
    def get(self, request: Request, customer_id: int) -> Response:
        try:
            rows = selectors.customer_occurrences(request.user, customer_id, limit=200)
        except Customer.DoesNotExist:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        return Response(CareOccurrenceSerializer(rows, many=True).data)


class CareExclusionSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=CareExclusion.Reason.choices)
    note = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")


class CustomerExclusionView(APIView):
    """Exclude a customer from all care (PUT, with the reason) or let care reach them again (DELETE)."""

    permission_classes = [CanManageCare]

    def _customer(self, request: Request, customer_id: int) -> Customer:
        return Customer.objects.visible_to(request.user).get(pk=customer_id)

    @extend_schema(request=CareExclusionSerializer, responses={200: CareExclusionSerializer})
    def put(self, request: Request, customer_id: int) -> Response:
        serializer = CareExclusionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            customer = self._customer(request, customer_id)
        except Customer.DoesNotExist:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        row = services.exclusion_set(actor=signed_in(request.user), customer=customer, **serializer.validated_data)
        return Response({"reason": row.reason, "note": row.note})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, customer_id: int) -> Response:
        try:
            customer = self._customer(request, customer_id)
        except Customer.DoesNotExist:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        services.exclusion_clear(actor=signed_in(request.user), customer=customer)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = CareTaskSerializer
    permission_classes = [CanWorkTasks]
    filterset_fields = ["status", "assignee", "store"]

    def get_queryset(self) -> Any:
        qs = selectors.tasks_visible_to(self.request.user).select_related("customer").order_by("due_on", "id")
        if self.request.query_params.get("mine") in ("1", "true"):
            qs = qs.filter(assignee_id=self.request.user.pk)
        return qs

    @extend_schema(request=CareCompleteSerializer, responses={200: CareTaskSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        serializer = CareCompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = services.task_complete(
            actor=signed_in(request.user), task=self.get_object(), **serializer.validated_data
        )
        return Response(CareTaskSerializer(task).data)


@extend_schema_view(
    create=extend_schema(request=CarePlanWriteSerializer, responses={201: CarePlanSerializer}),
    partial_update=extend_schema(request=CarePlanWriteSerializer, responses={200: CarePlanSerializer}),
    update=extend_schema(request=CarePlanWriteSerializer, responses={200: CarePlanSerializer}),
)
class PlanViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    serializer_class = CarePlanSerializer
    permission_classes = [CanSeeCare]

    def get_queryset(self) -> Any:
        return selectors.plans_with_spend(self.request.user)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = CarePlanWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan = services.plan_save(actor=signed_in(request.user), data=dict(serializer.validated_data))
        return Response(CarePlanSerializer(self.get_queryset().get(pk=plan.pk)).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = CarePlanWriteSerializer(data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        plan = services.plan_save(
            actor=signed_in(request.user), plan=self.get_object(), data=dict(serializer.validated_data)
        )
        return Response(CarePlanSerializer(self.get_queryset().get(pk=plan.pk)).data)


class CareRegistryEntrySerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named "label"
    event = serializers.CharField(required=False)
    params_schema = serializers.DictField()


class CareRegistrySerializer(serializers.Serializer):
    triggers = CareRegistryEntrySerializer(many=True)
    actions = CareRegistryEntrySerializer(many=True)


class RegistryView(APIView):
    """The triggers and actions a rule can be built from, with their parameters as JSON Schema."""

    permission_classes = [CanSeeCare]

    @extend_schema(responses={200: CareRegistrySerializer})
    def get(self, request: Request) -> Response:
        return Response(
            {
                "triggers": [
                    {"key": t.key, "label": str(t.label), "event": t.event, "params_schema": t.params_schema}
                    for t in care_triggers()
                ],
                "actions": [
                    {"key": a.key, "label": str(a.label), "params_schema": a.params_schema} for a in care_actions()
                ],
            }
        )
