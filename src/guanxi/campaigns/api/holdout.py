"""API of the global hold-out: ``GET`` and ``PUT /api/campaigns/global-holdout/``.

Everyone who sees campaigns reads it (with how many of *their* customers it leaves out); managers and admins
(``campaigns.approve``) change it. The percentage is a decimal string ("5.00", 0 to 20): a JSON number is
refused, as for money. ``reshuffle: true`` draws a new group; nothing else does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from guanxi.accounts.permissions import can, signed_in
from guanxi.campaigns import campaign_selectors as selectors
from guanxi.campaigns import services
from guanxi.campaigns.models import GlobalHoldout


class GlobalHoldoutPermission(permissions.BasePermission):
    """Read: ``campaigns.view``; change: ``campaigns.approve`` (managers and admins)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return can(request.user, "campaigns.view")
        return can(request.user, "campaigns.approve")


class PercentField(serializers.DecimalField):
    """A percentage as a decimal string ("5.00"); a JSON number is refused (binary floats are not exact)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", Decimal("0"))
        kwargs.setdefault("max_value", services.GLOBAL_HOLDOUT_MAX)
        super().__init__(max_digits=5, decimal_places=2, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, float | bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class GlobalHoldoutSerializer(serializers.ModelSerializer):
    percent = PercentField()
    active = serializers.BooleanField(read_only=True, help_text="on, and a percentage above 0: it leaves people out")
    members = serializers.SerializerMethodField(help_text="how many of the caller's customers are in it now")
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="null until it is first set")

    class Meta:
        model = GlobalHoldout
        fields = ["percent", "enabled", "active", "members", "updated_at"]

    def get_members(self, holdout: GlobalHoldout) -> int:
        return selectors.global_holdout_members(self.context["request"].user, holdout)


class GlobalHoldoutWriteSerializer(serializers.Serializer):
    percent = PercentField()
    enabled = serializers.BooleanField()
    reshuffle = serializers.BooleanField(
        required=False, default=False, help_text="true: draw a new group (other customers are held out from now on)"
    )


class GlobalHoldoutView(APIView):
    permission_classes = [permissions.IsAuthenticated, GlobalHoldoutPermission]

    @extend_schema(responses={200: GlobalHoldoutSerializer})
    def get(self, request: Request) -> Response:
        holdout = services.global_holdout_current()
        return Response(GlobalHoldoutSerializer(holdout, context={"request": request}).data)

    @extend_schema(request=GlobalHoldoutWriteSerializer, responses={200: GlobalHoldoutSerializer})
    def put(self, request: Request) -> Response:
        serializer = GlobalHoldoutWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        holdout = services.global_holdout_update(actor=signed_in(request.user), data=dict(serializer.validated_data))
        return Response(GlobalHoldoutSerializer(holdout, context={"request": request}).data)
