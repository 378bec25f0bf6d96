"""The segment API: CRUD, counts of saved and unsaved trees, members, CSV export, and what another store sees."""

from __future__ import annotations

import csv
import io

import pytest

from guanxi.campaigns.models import Segment
from guanxi.campaigns.segments import segment_create
from guanxi.campaigns.tests.conftest import RICH_HZ
from guanxi.conftest import api_client_for

pytestmark = pytest.mark.django_db
BASE = "/api/campaigns/segments/"


@pytest.fixture
def api_marketer(marketer_a):
    return api_client_for(marketer_a)


def test_a_marketer_creates_reads_changes_and_deletes_a_segment(zz_fields, api_marketer, store_a, people):
    created = api_marketer.post(BASE, {"name": "杭州高消费", "rules": RICH_HZ}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["rules"] == RICH_HZ
    assert body["kind"] == "dynamic"
    assert body["store"] == store_a.pk
    pk = body["id"]
    assert [s["id"] for s in api_marketer.get(BASE).json()["results"]] == [pk]
    assert api_marketer.get(f"{BASE}{pk}/").json()["name"] == "杭州高消费"
    changed = api_marketer.patch(f"{BASE}{pk}/", {"name": "杭州"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["name"] == "杭州"
    assert changed.json()["rules"] == RICH_HZ  # untouched by a partial change
    frozen = api_marketer.post(f"{BASE}{pk}/freeze/")
    assert frozen.status_code == 200
    assert frozen.json()["kind"] == "snapshot"
    assert frozen.json()["member_count"] == 1
    assert api_marketer.delete(f"{BASE}{pk}/").status_code == 204
    assert not Segment.objects.filter(pk=pk).exists()


def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(zz_fields, api_marketer):
    bad = api_marketer.post(
        BASE, {"name": "x", "rules": {"all": [{"field": "zz.spent", "op": "gte", "value": "lots"}]}}, format="json"
    )
    assert bad.status_code == 400
    assert list(bad.json()) == ["rules.all.0.value"]
    assert api_marketer.post(BASE, {"name": "x", "rules": [1, 2]}, format="json").json().keys() == {"rules"}
    huge = api_marketer.post(BASE, {"name": "x", "rules": RICH_HZ, "store": 10**15}, format="json")
    assert huge.status_code == 400
    assert "store" in huge.json()
    other = api_marketer.post(BASE, {"name": "x", "rules": RICH_HZ, "store": 999999}, format="json")
    assert other.status_code == 400
    assert "store" in other.json()
    cycle_free_but_unknown = api_marketer.post(
        BASE, {"name": "x", "rules": {"field": "campaigns.segment", "op": "in", "value": [2**40]}}, format="json"
    )
    assert cycle_free_but_unknown.status_code == 400
    assert "rules.value" in cycle_free_but_unknown.json()
    assert not Segment.objects.exists()


def test_another_stores_segment_answers_404_everywhere(zz_fields, api_marketer, marketer_b, people):
    theirs = segment_create(actor=marketer_b, data={"name": "乙店", "rules": RICH_HZ})
    for method, suffix in [
        ("get", ""),
        ("get", "count/"),
        ("get", "members/"),
        ("get", "export/"),
        ("post", "freeze/"),
        ("patch", ""),
        ("delete", ""),
    ]:
        response = getattr(api_marketer, method)(f"{BASE}{theirs.pk}/{suffix}", {"name": "x"}, format="json")
        assert response.status_code == 404, (method, suffix, response.status_code)
    theirs.refresh_from_db()
    assert theirs.name == "乙店"
    assert theirs.member_count is None
    assert theirs.kind == "dynamic"
    assert api_marketer.get(BASE).json()["results"] == []


def test_counts_and_members_are_narrowed_to_what_the_caller_sees(
    zz_fields, admin_user, marketer_a, api_marketer, store_a, people
):
    shared = segment_create(actor=admin_user, data={"name": "总部", "rules": RICH_HZ, "store": store_a.pk})
    api_admin = api_client_for(admin_user)
    assert api_admin.get(f"{BASE}{shared.pk}/count/").json() == {"count": 2}
    assert api_marketer.get(f"{BASE}{shared.pk}/count/").json() == {"count": 1}
    members = api_marketer.get(f"{BASE}{shared.pk}/members/").json()
    assert [m["id"] for m in members["results"]] == [people["a_hz_rich"].pk]
    phone = members["results"][0]["phone"]
    assert "*" in phone  # a marketer sees contacts masked, as in the customer API
    assert "*" not in api_admin.get(f"{BASE}{shared.pk}/members/").json()["results"][0]["phone"]


def test_members_come_in_cursor_pages(
    zz_fields, api_marketer, marketer_a, store_a, people, django_assert_max_num_queries
):
    from guanxi.customers.tests.factories import make_customer

    for i in range(5):
        make_customer(store=store_a, name=f"杭州{i}", region="杭州")
    segment = segment_create(actor=marketer_a, data={"name": "杭州", "rules": {"field": "zz.region", "value": "杭州"}})
    seen = []
    url = f"{BASE}{segment.pk}/members/?page_size=3"
    while url:
        with django_assert_max_num_queries(8):
            page = api_marketer.get(url).json()
        seen += [m["id"] for m in page["results"]]
        url = page["next"]
    assert len(seen) == 7 == len(set(seen))
    assert seen == sorted(seen, reverse=True)


def test_an_unsaved_tree_is_counted_with_a_sample(zz_fields, api_marketer, people):
    response = api_marketer.post(f"{BASE}count/", {"rules": {"field": "zz.region", "value": "杭州"}}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert {r["name"] for r in body["rows"]} == {"客户a_hz_rich", "客户a_hz_poor"}
    assert all(r["store"] == "A 店" for r in body["rows"])
    refused = api_marketer.post(
        f"{BASE}count/", {"rules": {"not": {"field": "zz.region", "value": "广州"}}}, format="json"
    )
    assert refused.status_code == 400
    assert list(refused.json()) == ["rules.not.value"]


def test_the_export_is_a_csv_of_the_customers_the_caller_sees(zz_fields, admin_user, api_marketer, store_a, people):
    segment = segment_create(
        actor=admin_user, data={"name": "杭州", "rules": {"field": "zz.region", "value": "杭州"}, "store": store_a.pk}
    )
    response = api_marketer.get(f"{BASE}{segment.pk}/export/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert sorted(int(r[0]) for r in rows[1:]) == sorted([people["a_hz_rich"].pk, people["a_hz_poor"].pk])


def test_store_staff_may_not_use_segments_and_analysts_only_read(zz_fields, api_a, analyst_a, marketer_a, people):
    assert api_a.get(BASE).status_code == 403
    segment = segment_create(actor=marketer_a, data={"name": "甲", "rules": RICH_HZ})
    analyst = api_client_for(analyst_a)
    assert analyst.get(f"{BASE}{segment.pk}/count/").json() == {"count": 1}
    assert analyst.post(BASE, {"name": "x", "rules": RICH_HZ}, format="json").status_code == 403
    assert analyst.delete(f"{BASE}{segment.pk}/").status_code == 403


def test_the_segment_api_is_in_the_openapi_schema(api_admin):
    schema = api_admin.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    for path in [
        BASE,
        f"{BASE}count/",
        f"{BASE}{{id}}/",
        f"{BASE}{{id}}/count/",
        f"{BASE}{{id}}/members/",
        f"{BASE}{{id}}/export/",
    ]:
        assert path in paths, path
    members = paths[f"{BASE}{{id}}/members/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "Paginated" in members["$ref"]
