"""The results page of a campaign and its CSV export. Thin: ``campaigns.results`` does the reading."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from guanxi.campaigns import results as r
from guanxi.campaigns.campaign_selectors import campaigns_visible_to
from guanxi.campaigns.models import Campaign

#: ECharts as the workspace ships it (npm run vendor); without it the page shows the table only.
CHART_SCRIPT = "vendor/echarts/echarts.min.js"


def _results(request, pk: int) -> r.CampaignResults:
    campaign = get_object_or_404(campaigns_visible_to(request.user), pk=pk)
    try:
        return r.campaign_results(campaign, user=request.user)
    except Campaign.DoesNotExist as exc:  # lost visibility in between: answers like a missing campaign
        raise Http404 from exc


def _readings(result: r.RunResult) -> list[dict]:
    control = result.control
    return [
        {
            "group": g,
            "conversion": r.conversion_reading(g, control),
            "revenue": r.revenue_reading(g, control),
        }
        for g in result.variants
    ]


@login_required
def campaign_results(request, pk: int):
    results = _results(request, pk)
    if request.GET.get("format") == "csv":
        return campaign_results_csv(request, pk, results=results)
    return render(
        request,
        "campaigns/campaign_results.html",
        {
            "campaign": results.campaign,
            "results": results,
            "total_readings": _readings(results.total),
            "runs": [{"result": run, "readings": _readings(run)} for run in results.runs],
            "chart": r.chart_data(results),
            "chart_script": CHART_SCRIPT,
        },
    )


@login_required
def campaign_results_csv(request, pk: int, *, results: r.CampaignResults | None = None):
    results = results or _results(request, pk)
    response = HttpResponse(r.csv_text(results), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{r.csv_filename(results.campaign)}"'
    return response
