"""Segment pages: the list, the builder (prefilled from links), its preview, saving, the customer list link."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from guanxi.campaigns.models import Segment
from guanxi.campaigns.segments import segment_create
from guanxi.campaigns.tests.conftest import RICH_HZ

pytestmark = pytest.mark.django_db


def _builder_data(response):
    html = response.content.decode()
    start = html.index(">", html.index('id="segment-builder-data"')) + 1
    return json.loads(html[start : html.index("</script>", start)])


def test_the_list_runs_the_same_queries_for_two_segments_or_twelve(
    zz_fields, client, marketer_a, people, django_assert_max_num_queries
):
    from guanxi.campaigns.models import Campaign

    first = segment_create(actor=marketer_a, data={"name": "分群0", "rules": RICH_HZ})
    segment_create(actor=marketer_a, data={"name": "分群1", "rules": RICH_HZ})
    Campaign.objects.create(name="活动", segment=first)
    client.force_login(marketer_a)
    url = reverse("campaigns:segment_list")
    client.get(url)
    with django_assert_max_num_queries(30) as two:
        response = client.get(url)
    assert response.status_code == 200
    for i in range(2, 12):
        segment_create(actor=marketer_a, data={"name": f"分群{i}", "rules": RICH_HZ})
    with django_assert_max_num_queries(len(two.captured_queries)):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert "分群11" in html
    assert "Used by campaigns" in html


def test_the_nav_opens_campaigns_and_segments_for_marketers_not_for_store_staff(client, marketer_a, staff_a):
    client.force_login(marketer_a)
    html = client.get(reverse("workspace:home"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f'href="{reverse("campaigns:campaign_list")}"' in html
    assert "营销活动" in html
    listing = client.get(reverse("campaigns:campaign_list"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f'href="{reverse("campaigns:segment_list")}"' in listing
    client.force_login(staff_a)
    assert f'href="{reverse("campaigns:campaign_list")}"' not in client.get(reverse("workspace:home")).content.decode()
    assert client.get(reverse("campaigns:segment_list")).status_code == 403


def test_an_analytics_link_opens_the_builder_with_its_conditions(zz_fields, client, marketer_a):
    client.force_login(marketer_a)
    response = client.get(
        reverse("campaigns:segment_new") + "?seg.analytics.rfm=important_retain&seg.zz.region=杭州&q=x"
    )
    assert response.status_code == 200
    data = _builder_data(response)
    assert data["tree"] == {
        "all": [
            {"field": "analytics.rfm", "op": "eq", "value": "important_retain"},
            {"field": "zz.region", "op": "eq", "value": "杭州"},
        ]
    }
    groups = {g["key"]: [f["key"] for f in g["fields"]] for g in data["fields"]["groups"]}
    assert "analytics.rfm" in {key for keys in groups.values() for key in keys}
    assert "zz.region" in groups["profile"]
    assert "campaigns.segment" in groups["segment"]


def test_the_preview_runs_a_constant_number_of_queries(
    zz_fields, client, marketer_a, store_a, people, django_assert_max_num_queries
):
    from guanxi.customers.tests.factories import make_customer

    client.force_login(marketer_a)
    tree = {
        "all": [
            {"field": "zz.region", "op": "eq", "value": "杭州"},
            {"field": "zz.spent", "op": "lt", "value": "1000000"},
            {"not": {"field": "analytics.rfm", "op": "eq", "value": "general_retain"}},
        ]
    }
    url = reverse("campaigns:segment_preview")

    def preview():
        return client.post(url, json.dumps({"rules": tree}), content_type="application/json")

    preview()
    with django_assert_max_num_queries(10) as few:
        assert preview().json()["count"] == 2
    for i in range(25):
        make_customer(store=store_a, name=f"杭州客{i}", region="杭州")
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = preview().json()
    assert body["count"] == 27
    assert len(body["rows"]) == 20
    assert all("*" in row["phone"] for row in body["rows"])  # masked for a marketer
    # the two queries of the count and the sample
    customer_queries = [
        q for q in few.captured_queries if "customers_customer" in q["sql"] or "contactpoint" in q["sql"]
    ]
    assert len(customer_queries) <= 2


def test_the_preview_names_the_failing_condition(zz_fields, client, marketer_a):
    client.force_login(marketer_a)
    tree = {"all": [{"field": "zz.region", "value": "杭州"}, {"field": "zz.spent", "op": "gte", "value": "很多"}]}
    response = client.post(
        reverse("campaigns:segment_preview"), json.dumps({"rules": tree}), content_type="application/json"
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["rules.all.1.value"]


def test_saving_from_the_builder_and_the_errors_it_shows(zz_fields, client, marketer_a, people):
    client.force_login(marketer_a)
    url = reverse("campaigns:segment_new")
    bad = {"all": [{"field": "zz.region", "value": "广州"}]}
    response = client.post(url, {"name": "杭州", "kind": "dynamic", "rules": json.dumps(bad)})
    assert response.status_code == 400
    assert list(_builder_data(response)["errors"]) == ["rules.all.0.value"]
    assert not Segment.objects.exists()
    response = client.post(url, {"name": "杭州", "kind": "snapshot", "rules": json.dumps(RICH_HZ)})
    segment = Segment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:segment_edit", args=[segment.pk])
    assert segment.kind == "snapshot"
    assert segment.member_count == 1
    assert segment.rules == RICH_HZ
    edit = client.get(response["Location"])
    assert _builder_data(edit)["tree"] == RICH_HZ
    assert client.get(reverse("campaigns:segment_export", args=[segment.pk])).status_code == 200


def test_another_stores_segment_page_is_a_404(zz_fields, client, marketer_a, marketer_b):
    theirs = segment_create(actor=marketer_b, data={"name": "乙", "rules": RICH_HZ})
    client.force_login(marketer_a)
    for name in ("segment_edit", "segment_export"):
        assert client.get(reverse(f"campaigns:{name}", args=[theirs.pk])).status_code == 404
    for name in ("segment_freeze", "segment_archive", "segment_delete"):
        assert client.post(reverse(f"campaigns:{name}", args=[theirs.pk])).status_code == 404
    assert Segment.objects.filter(pk=theirs.pk, archived=False).exists()


def test_the_customer_list_offers_save_as_segment_while_segment_filters_are_active(client, marketer_a, staff_a):
    client.force_login(marketer_a)
    url = reverse("customers:customers")
    html = client.get(url + "?seg.analytics.rfm=important_retain", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Save as segment" in html
    assert f'href="{reverse("campaigns:segment_new")}?seg.analytics.rfm=important_retain"' in html
    assert "Save as segment" not in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    client.force_login(staff_a)  # a clerk may not build segments
    assert "Save as segment" not in client.get(url + "?seg.analytics.rfm=important_retain").content.decode()
