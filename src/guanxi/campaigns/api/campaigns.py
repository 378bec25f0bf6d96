"""Campaigns API: drafts (create, read, change, delete while a draft) and the approval states as actions.

``POST /api/campaigns/campaigns/{id}/submit|approve|reject|pause|resume|cancel|test-send/``. A state change
the campaign's state does not allow answers 409 naming ``status``; a change to the state it is already in
(approving an approved campaign, pausing a paused one) answers 200 with the campaign and changes nothing.
A campaign of another store answers 404, as one that does not exist; roles that do not see campaigns
(store staff, service agents) get 403.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from guanxi.accounts.permissions import can, signed_in
from guanxi.campaigns import services
from guanxi.campaigns.campaign_selectors import campaigns_visible_to
from guanxi.campaigns.models import Campaign, CampaignVariant
from guanxi.core.api import fields
from guanxi.core.api.errors import Conflict
from guanxi.messaging.models import Purpose


class CanSeeCampaigns(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return can(request.user, "campaigns.view")


class VariantSerializer(serializers.ModelSerializer):
    label = serializers.ChoiceField(choices=list(services.LABELS))  # type: ignore[assignment]  # a field named "label"
    template_code = serializers.CharField(max_length=50, allow_blank=True, required=False, default="")
    split_percent = fields.IntegerField(min_value=1, max_value=100)

    class Meta:
        model = CampaignVariant
        fields = ["label", "template_code", "split_percent"]


class CampaignSerializer(serializers.ModelSerializer):
    """A campaign as stored (read)."""

    variants = VariantSerializer(many=True, read_only=True)
    segment_name = serializers.CharField(source="segment.name", read_only=True)

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "goal", "segment", "segment_name", "channel", "purpose", "coupon_template", "schedule",
            "starts_at", "ends_on", "weekday", "day_of_month", "send_time", "time_zone", "window_start",
            "window_end", "throttle_per_minute", "holdout_percent", "use_global_holdout", "attribution_days",
            "store", "status", "next_run_at", "created_by", "submitted_by", "approved_by", "approved_at",
            "created_at", "updated_at", "variants",
        ]  # fmt: skip
        read_only_fields = fields


class CampaignWriteSerializer(serializers.Serializer):
    """What a draft takes; every field is bounded like its column. On create ``name``, ``segment`` and
    ``variants`` are required; a PATCH changes only what it names (``variants`` replaces them all)."""

    name = serializers.CharField(max_length=120)
    goal = serializers.CharField(max_length=services.MAX_GOAL, allow_blank=True, required=False)
    segment = fields.IdField()
    channel = serializers.ChoiceField(choices=Campaign.Channel.choices, required=False)
    purpose = serializers.ChoiceField(choices=Purpose.choices, required=False)
    coupon_template = fields.IdField(allow_null=True, required=False)
    schedule = serializers.ChoiceField(choices=Campaign.Schedule.choices, required=False)
    starts_at = serializers.DateTimeField(allow_null=True, required=False)
    ends_on = serializers.DateField(allow_null=True, required=False)
    weekday = fields.IntegerField(min_value=0, max_value=6, allow_null=True, required=False)
    day_of_month = fields.IntegerField(min_value=1, max_value=31, allow_null=True, required=False)
    send_time = serializers.TimeField(allow_null=True, required=False)
    time_zone = serializers.CharField(max_length=64, required=False)
    window_start = serializers.TimeField(allow_null=True, required=False)
    window_end = serializers.TimeField(allow_null=True, required=False)
    throttle_per_minute = fields.IntegerField(
        min_value=1, max_value=services.MAX_THROTTLE, allow_null=True, required=False
    )
    holdout_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=50, required=False
    )
    use_global_holdout = serializers.BooleanField(required=False)
    attribution_days = fields.IntegerField(min_value=1, max_value=90, required=False)
    store = fields.IdField(allow_null=True, required=False)
    variants = VariantSerializer(many=True, required=True)

    def validate_variants(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not value:
            raise serializers.ValidationError(_("Give at least one variant."))
        if len(value) > len(services.LABELS):
            raise serializers.ValidationError(_("At most four variants (A to D)."))
        return value


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=services.MAX_REASON)


class TestSendSerializer(serializers.Serializer):
    phones = serializers.ListField(
        child=serializers.CharField(max_length=32), max_length=services.MAX_TEST_PHONES, required=False, default=list
    )
    addresses = serializers.ListField(
        child=serializers.CharField(max_length=254),
        max_length=services.MAX_TEST_PHONES,
        required=False,
        default=list,
        help_text="Staff addresses on the campaign's channel: e-mail addresses, WeChat OpenIDs (or phones for SMS). "
        "Empty: the caller's own phone or e-mail.",
    )


class TestSendResultSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    batch_ref = serializers.CharField()
    messages = serializers.IntegerField()
    to = serializers.ListField(child=serializers.CharField())


_CONFLICT = OpenApiResponse(description="The campaign's state does not allow this (e.g. approving a draft).")


def _call(function: Any, **kwargs: Any) -> Campaign:
    try:
        result: Campaign = function(**kwargs)
    except services.CampaignStateConflict as exc:
        raise Conflict(detail=exc.message_dict) from None
    return result


@extend_schema_view(
    create=extend_schema(request=CampaignWriteSerializer, responses={201: CampaignSerializer}),
    partial_update=extend_schema(request=CampaignWriteSerializer, responses={200: CampaignSerializer}),
    update=extend_schema(request=CampaignWriteSerializer, responses={200: CampaignSerializer}),
    destroy=extend_schema(responses={204: None, 409: _CONFLICT}),
)
class CampaignViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = CampaignSerializer
    permission_classes = [CanSeeCampaigns]
    filterset_fields = ["status", "channel"]

    def get_queryset(self) -> Any:
        return (
            campaigns_visible_to(self.request.user)
            .select_related("segment")
            .prefetch_related("variants")
            .order_by("-id")
        )

    def _input(self, *, partial: bool) -> dict[str, Any]:
        serializer = CampaignWriteSerializer(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "variants" in data:
            data["variants"] = [dict(v) for v in data["variants"]]
        return data

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = _call(services.campaign_save, actor=signed_in(request.user), data=self._input(partial=False))
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = self.get_object()
        data = self._input(partial=kwargs.get("partial", False))
        campaign = _call(services.campaign_save, actor=signed_in(request.user), campaign=campaign, data=data)
        return Response(CampaignSerializer(campaign).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _call(services.campaign_delete, actor=signed_in(request.user), campaign=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _transition(self, function: Any, **kwargs: Any) -> Response:
        campaign = _call(function, actor=signed_in(self.request.user), campaign=self.get_object(), **kwargs)
        campaign = self.get_queryset().get(pk=campaign.pk)
        return Response(CampaignSerializer(campaign).data)

    @extend_schema(request=None, responses={200: CampaignSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(services.campaign_submit)

    @extend_schema(request=None, responses={200: CampaignSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(services.campaign_approve)

    @extend_schema(request=ReasonSerializer, responses={200: CampaignSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._transition(services.campaign_reject, reason=serializer.validated_data["reason"])

    @extend_schema(request=None, responses={200: CampaignSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(services.campaign_pause)

    @extend_schema(request=None, responses={200: CampaignSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(services.campaign_resume)

    @extend_schema(request=None, responses={200: CampaignSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(services.campaign_cancel)

    @extend_schema(request=TestSendSerializer, responses={202: TestSendResultSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"], url_path="test-send")
    def test_send(self, request: Request, pk: str | None = None) -> Response:
        serializer = TestSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = self.get_object()
        try:
            data = serializer.validated_data
            result = services.campaign_test_send_to(
                actor=signed_in(request.user), campaign=campaign, addresses=data["addresses"] or data["phones"]
            )
        except services.CampaignStateConflict as exc:
            raise Conflict(detail=exc.message_dict) from None
        return Response(result, status=status.HTTP_202_ACCEPTED)
