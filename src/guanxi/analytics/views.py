"""Analytics pages of the staff workspace and the customer 360 panel. Thin: selectors do the reading."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts.permissions import can, require
from guanxi.analytics import selectors
from guanxi.analytics.models import SEGMENT_EXPLANATIONS, Segment
from guanxi.analytics.segments import CLV_BAND, RFM

#: Chart libraries the workspace may ship under static/vendor/, in order of preference.
CHART_LIBRARIES = (
    ("echarts", ("vendor/echarts/echarts.min.js", "vendor/echarts/dist/echarts.min.js", "vendor/echarts.min.js")),
    ("chartjs", ("vendor/chart.js/chart.umd.js", "vendor/chartjs/chart.umd.js", "vendor/chart.umd.js")),
)


@cache
def chart_library() -> tuple[str, str] | None:
    """(kind, static path) of the first chart library found, or None: pages then show tables only."""
    for kind, paths in CHART_LIBRARIES:
        for path in paths:
            if finders.find(path):
                return kind, path
    return None


def _chart_context() -> dict:
    lib = chart_library()
    return {"chart_kind": lib[0] if lib else "", "chart_script": lib[1] if lib else ""}


@login_required
def dashboard(request):
    segments = selectors.segment_summary(user=request.user)
    clv = selectors.clv_distribution(user=request.user)
    customers_url = reverse("customers:customers")
    chart = {
        "segments": [
            {
                "key": s["segment"],
                "label": str(s["label"]),
                "customers": s["customers"],
                "revenue": float(s["revenue"]),
                "url": f"{customers_url}?{urlencode({'seg.' + RFM: s['segment']})}",
            }
            for s in segments
        ],
        "clv": [
            {
                "label": f"{b['low']}+" if b["high"] is None else f"{b['low']}–{b['high']}",
                "customers": b["customers"],
                "url": f"{customers_url}?{urlencode({'seg.' + CLV_BAND: b['key']})}",
            }
            for b in clv
        ],
        "labels": {"customers": _("Customers"), "revenue": _("Revenue"), "clv": _("Lifetime value (12 months)")},
    }
    return render(
        request,
        "analytics/dashboard.html",
        {
            "segments": segments,
            "clv_buckets": clv,
            "chart": chart,
            "fits": selectors.latest_fits(),
            "refresh": selectors.latest_refresh(),
            "can_refresh": can(request.user, "analytics.refresh"),
            **_chart_context(),
        },
    )


@login_required
def at_risk(request):
    page = Paginator(selectors.at_risk(user=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "analytics/at_risk.html", {"page": page, "scores": page.object_list})


@login_required
def cohorts(request):
    rows = selectors.cohort_retention(user=request.user, months=12)
    chart = {
        "cohorts": [
            {"label": r["month"].strftime("%Y-%m"), "customers": r["customers"], "retention": r["retention"]}
            for r in rows
        ],
        "labels": {"month": _("Months after first purchase"), "retention": _("Retention")},
    }
    return render(
        request,
        "analytics/cohorts.html",
        {"rows": rows, "offsets": list(range(1, 12)), "chart": chart, **_chart_context()},
    )


@login_required
@require_POST
def refresh(request):
    require(request.user, "analytics.refresh")
    from guanxi.analytics.tasks import scores_refresh_task

    scores_refresh_task.delay_on_commit(actor_id=request.user.pk)
    messages.info(request, _("The scores are being recomputed; this page shows the new figures when it is done."))
    return redirect("analytics:dashboard")


def refresh_time() -> str:
    """The local time of the nightly scores refresh ("03:30"), as the beat schedule states it."""
    entry = getattr(settings, "CELERY_BEAT_SCHEDULE", {}).get("analytics-refresh-scores", {})
    schedule = entry.get("schedule")
    try:
        return f"{min(schedule.hour):02d}:{min(schedule.minute):02d}"
    except (AttributeError, TypeError, ValueError):
        return "03:30"


def score_panel_context(request, customer) -> dict:
    """The customer 360 panel: two queries (the score row, then the names of the top categories, or, without a
    score, whether the customer is one the user sees at all)."""
    score = selectors.score_for_customer(user=request.user, customer_id=customer.pk)
    if score is None:
        if not selectors.customer_visible(user=request.user, customer_id=customer.pk):
            return {"score": None}
        # say why there is none: never "no purchase" for a customer who has bought (the refresh has not run yet)
        return {"score": None, "has_orders": bool(customer.order_count), "refresh_at": refresh_time()}
    segment = Segment(score.segment)
    return {
        "score": score,
        "segment_label": segment.label,
        "segment_explanation": SEGMENT_EXPLANATIONS[segment],
        "categories": selectors.category_names(list(score.top_categories or [])),
        "p_alive_percent": None if score.p_alive is None else round(score.p_alive * 100),
    }
