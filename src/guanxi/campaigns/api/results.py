"""API of campaign results: the figures of every run and of all runs, and the same table as CSV."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from guanxi.campaigns import results as r
from guanxi.campaigns.campaign_selectors import campaigns_visible_to
from guanxi.campaigns.models import Campaign


def _money() -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)


class ProportionDiffSerializer(serializers.Serializer):
    """Conversion of the variant minus the control's, as fractions (0.012 = 1.2 points)."""

    variant_rate = serializers.FloatField(allow_null=True)
    control_rate = serializers.FloatField(allow_null=True)
    diff = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True, help_text="95% confidence interval, lower bound")
    high = serializers.FloatField(allow_null=True, help_text="95% confidence interval, upper bound")
    p_value = serializers.FloatField(allow_null=True)
    relative = serializers.FloatField(allow_null=True, help_text="diff / control rate")
    significant = serializers.BooleanField(help_text="false: the interval contains 0 (no significant difference)")
    method = serializers.CharField()


class MeanDiffSerializer(serializers.Serializer):
    """Revenue per recipient of the variant minus the control's (¥), with Welch's interval."""

    variant_mean = _money()
    control_mean = _money()
    diff = _money()
    low = _money()
    high = _money()
    p_value = serializers.FloatField(allow_null=True)
    df = serializers.FloatField(allow_null=True, help_text="Welch–Satterthwaite degrees of freedom")
    relative = serializers.FloatField(allow_null=True)
    significant = serializers.BooleanField()
    method = serializers.CharField()


class GroupSerializer(serializers.Serializer):
    key = serializers.CharField(help_text='the variant\'s label, or "control"')
    name = serializers.CharField(source="label", help_text="the group as the page names it")
    is_control = serializers.BooleanField()
    recipients = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    suppressed = serializers.IntegerField()
    opted_out = serializers.IntegerField()
    coupons_issued = serializers.IntegerField()
    coupons_redeemed = serializers.IntegerField()
    coupon_cost = _money()
    converters = serializers.IntegerField()
    orders = serializers.IntegerField()
    revenue = _money()
    conversion_rate = serializers.FloatField(allow_null=True)
    revenue_per_recipient = _money()
    conversion = ProportionDiffSerializer(allow_null=True, help_text="uplift over the control (variants only)")
    revenue_uplift = MeanDiffSerializer(allow_null=True)
    incremental_revenue = _money()


class RunSerializer(serializers.Serializer):
    run_id = serializers.IntegerField(allow_null=True, help_text="null for the total over all runs")
    occurrence = serializers.DateTimeField(allow_null=True)
    window_start = serializers.DateTimeField(allow_null=True)
    window_end = serializers.DateTimeField(allow_null=True)
    recipients = serializers.IntegerField()
    groups = GroupSerializer(many=True)


class CampaignResultsSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(source="campaign.pk")
    name = serializers.CharField(source="campaign.name")
    attribution_days = serializers.IntegerField()
    proportion_method = serializers.CharField()
    mean_method = serializers.CharField()
    total = RunSerializer()
    runs = RunSerializer(many=True, help_text="newest first")


def _results(request, pk: int) -> r.CampaignResults:
    campaign = get_object_or_404(campaigns_visible_to(request.user), pk=pk)
    try:
        return r.campaign_results(campaign, user=request.user)
    except Campaign.DoesNotExist as exc:
        raise Http404 from exc


class CampaignResultsView(APIView):
    """Results of a campaign the user may see (404 otherwise): per run and over all runs, each variant and the
    control with delivery, opt-outs, coupons, conversion and revenue, and uplift over the control with 95%
    confidence intervals (conversion: Newcombe's hybrid score interval; revenue per recipient: Welch's t)."""

    @extend_schema(responses=CampaignResultsSerializer, operation_id="campaigns_results_retrieve")
    def get(self, request, pk: int):
        return Response(CampaignResultsSerializer(_results(request, pk)).data)


class CampaignResultsExportView(APIView):
    """The results table as CSV (UTF-8 with a byte-order mark): the total first, then each run."""

    def perform_content_negotiation(self, request, force=False):
        # the answer is a file whatever the Accept header asks for; errors (404) stay JSON
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY}, operation_id="campaigns_results_export")
    def get(self, request, pk: int):
        results = _results(request, pk)
        response = HttpResponse(r.csv_text(results), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{r.csv_filename(results.campaign)}"'
        return response
