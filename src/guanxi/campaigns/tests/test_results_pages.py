"""The results page, its CSV export and the results API: figures shown, invisible campaigns answer 404."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from guanxi.campaigns.tests.builders import (
    RUN_START,
    add_recipients,
    make_campaign,
    make_customers,
    make_orders,
    make_run,
)
from guanxi.conftest import api_client_for

pytestmark = pytest.mark.django_db
EN = {"accept-language": "en"}


@pytest.fixture
def sent(store_a):
    """Store A's campaign: 40 in variant A (8 bought ¥100), 40 in the control (2 bought ¥100)."""
    campaign = make_campaign(store=store_a, name="会员日短信")
    run = make_run(campaign)
    variant_customers, control_customers = make_customers(40, store=store_a), make_customers(40, store=store_a)
    add_recipients(run, variant_customers, variant=campaign.variants.get())
    add_recipients(run, control_customers, variant=None)
    at = RUN_START + dt.timedelta(days=2)
    make_orders([(c, at, Decimal("100.00")) for c in variant_customers[:8] + control_customers[:2]])
    return campaign


def test_page_shows_table_reading_and_chart(client, marketer_a, sent):
    client.force_login(marketer_a)
    response = client.get(reverse("campaigns:campaign_results", args=[sent.pk]), headers=EN)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Variant A converted 20.0% vs 5.0% in the control: +15.0 points (95% CI" in html
    assert 'id="campaign-results-data"' in html
    assert "campaigns/results_chart.js" in html
    assert "Newcombe" in html
    assert "Welch" in html
    assert "¥800.00" in html  # variant revenue
    assert "<script>" not in html.replace('<script id="campaign-results-data" type="application/json">', "")


def test_page_in_chinese(client, marketer_a, sent):
    client.force_login(marketer_a)
    response = client.get(reverse("campaigns:campaign_results", args=[sent.pk]), headers={"accept-language": "zh-hans"})
    assert response.status_code == 200
    assert "对照组" in response.content.decode()


def test_csv_export(client, marketer_a, sent):
    client.force_login(marketer_a)
    for url in (
        reverse("campaigns:campaign_results_csv", args=[sent.pk]),
        reverse("campaigns:campaign_results", args=[sent.pk]) + "?format=csv",
    ):
        response = client.get(url, headers=EN)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        header, body = rows[0], rows[1:]
        assert header[:3] == ["Run", "Group", "Recipients"]
        total_a = body[0]
        assert total_a[1] == "Variant A"
        assert total_a[2] == "40"
        assert total_a[11] == "8"
        assert float(total_a[13]) == pytest.approx(15.0)
        assert body[1][1] == "Control"
        assert body[1][13] == ""


def test_other_store_gets_404(client, staff_b, sent):
    client.force_login(staff_b)
    assert client.get(reverse("campaigns:campaign_results", args=[sent.pk])).status_code == 404
    assert client.get(reverse("campaigns:campaign_results_csv", args=[sent.pk])).status_code == 404
    api = api_client_for(staff_b)
    assert api.get(f"/api/campaigns/campaigns/{sent.pk}/results/").status_code == 404
    assert api.get(f"/api/campaigns/campaigns/{sent.pk}/results/export/").status_code == 404
    assert api.get("/api/campaigns/campaigns/999999/results/").status_code == 404


def test_anonymous_is_sent_to_sign_in(client, sent):
    response = client.get(reverse("campaigns:campaign_results", args=[sent.pk]))
    assert response.status_code == 302


def test_api_results(marketer_a, sent, django_assert_max_num_queries):
    api = api_client_for(marketer_a)
    with django_assert_max_num_queries(8):
        response = api.get(f"/api/campaigns/campaigns/{sent.pk}/results/")
    assert response.status_code == 200
    data = response.json()
    assert data["campaign"] == sent.pk
    assert data["attribution_days"] == 14
    a, control = data["total"]["groups"]
    assert (a["key"], a["recipients"], a["converters"], a["revenue"]) == ("A", 40, 8, "800.00")
    assert control["is_control"]
    assert control["conversion"] is None
    assert a["conversion"]["diff"] == pytest.approx(0.15)
    assert a["conversion"]["low"] < a["conversion"]["diff"] < a["conversion"]["high"]
    assert a["revenue_uplift"]["diff"] == "15.00"
    assert a["incremental_revenue"] == "600.00"
    assert len(data["runs"]) == 1
    export = api.get(f"/api/campaigns/campaigns/{sent.pk}/results/export/", HTTP_ACCEPT="text/csv")
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/csv")


def test_api_in_schema(admin_user):
    api = api_client_for(admin_user)
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"] if response["Content-Type"].endswith("json") else None
    text = response.content.decode()
    assert "/api/campaigns/campaigns/{id}/results/" in text or "/api/campaigns/campaigns/{pk}/results/" in text
    assert "CampaignResults" in text
    del paths
