"""Name search: a substring match on every database, with one- and two-character queries served by an index."""

import pytest
from django.db import connection
from django.urls import reverse

from guanxi.customers.models import Customer
from guanxi.customers.selectors import customer_search
from guanxi.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db

NAMES = ["王伟", "王伟东", "李王伟", "张伟", "王小明", "Li Wei", "Julie", "Olive", "50%折扣"]


@pytest.fixture
def named(store_a):
    return {name: make_customer(store=store_a, name=name, phone=None) for name in NAMES}


def _found(user, query: str) -> set[str]:
    return set(customer_search(user=user, query=query).values_list("name", flat=True))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("王伟", {"王伟", "王伟东", "李王伟"}),  # a two-character full name, also inside longer names
        ("伟", {"王伟", "王伟东", "李王伟", "张伟"}),
        ("伟东", {"王伟东"}),  # the end of a name
        ("li", {"Li Wei", "Julie", "Olive"}),  # case-insensitive
        ("LI", {"Li Wei", "Julie", "Olive"}),
        ("%", {"50%折扣"}),  # a literal character, not a wildcard
        ("_", set()),
        ("王小明", {"王小明"}),  # three characters and more: the trigram path, unchanged
        ("赵", set()),
    ],
)
def test_short_name_search_matches_the_characters_anywhere_in_the_name(admin_user, named, query, expected):
    assert _found(admin_user, query) == expected


def test_short_name_search_keeps_the_store_scope(staff_a, staff_b, store_b, named):
    make_customer(store=store_b, name="王伟", phone=None)
    assert len(customer_search(user=staff_a, query="王伟")) == 3
    assert list(customer_search(user=staff_b, query="王伟").values_list("name", flat=True)) == ["王伟"]


def test_api_and_workspace_list_search_two_characters(api_admin, client, admin_user, named):
    rows = api_admin.get("/api/customers/", {"q": "王伟"}).json()["results"]
    assert {row["name"] for row in rows} == {"王伟", "王伟东", "李王伟"}
    client.force_login(admin_user)
    page = client.get(reverse("customers:customers"), {"q": "王伟"}).context["page"]
    assert {c.name for c in page.rows} == {"王伟", "王伟东", "李王伟"}


@pytest.mark.postgres
def test_short_grams_are_every_character_and_neighbouring_pair():
    with connection.cursor() as cursor:
        cursor.execute("SELECT guanxi_short_grams('王秀英'), guanxi_short_grams('A'), guanxi_short_grams('')")
        assert cursor.fetchone() == (["王", "秀", "英", "王秀", "秀英"], ["A"], [])


@pytest.mark.postgres
@pytest.mark.parametrize("query", ["王伟", "伟"])
def test_short_name_search_uses_the_short_gram_index(admin_user, store_a, named, query):
    # Enough other names that reading the table is no longer the cheapest plan, as in a real shop.
    Customer.objects.bulk_create(Customer(name=f"客户{i:04d}", home_store=store_a) for i in range(3000))
    sql, params = customer_search(user=admin_user, query=query).order_by("-id")[:51].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
        # new rows wait in the GIN index's pending list until (auto)vacuum moves them in, as it has in a shop
        cursor.execute("SELECT gin_clean_pending_list('cust_name_grams'::regclass)")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan on cust_name_grams" in plan, plan


@pytest.mark.postgres
def test_the_statistics_migration_lets_the_planner_use_the_short_gram_index(admin_user, store_a, named):
    # An install upgraded with customers on file: the index is new and PostgreSQL has no statistics on its
    # expression until the table is analysed, which autovacuum may not do for a long time.
    import importlib

    from django.db.migrations.state import ProjectState

    Customer.objects.bulk_create(Customer(name=f"客户{i:04d}", home_store=store_a) for i in range(3000))
    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list('cust_name_grams'::regclass)")
    step = importlib.import_module("guanxi.customers.migrations.0004_customer_name_statistics")
    with connection.schema_editor() as editor:
        step.analyze_customers(ProjectState().apps, editor)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'cust_name_grams'")
        assert cursor.fetchone()[0] == 1
        sql, params = customer_search(user=admin_user, query="王伟").order_by("-id")[:51].query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan on cust_name_grams" in plan, plan


@pytest.mark.postgres
def test_partial_indexes_serve_the_owner_and_merge_lookups(staff_a, store_b):
    # Owner, merged-into and ID-number indexes hold only the rows that fill the column (an import of a
    # million customers adds nothing to them), and still answer the queries that filter on them.
    Customer.objects.bulk_create(Customer(name=f"客户{i:04d}", home_store=store_b) for i in range(3000))
    owned = list(Customer.objects.order_by("id")[:3])
    Customer.objects.filter(pk__in=[c.pk for c in owned]).update(owner=staff_a)
    Customer.objects.filter(pk=owned[1].pk).update(merged_into=owned[0])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'customers_customer' AND indexdef LIKE '%%WHERE%%'"
        )
        assert {row[0] for row in cursor.fetchall()} == {
            "cust_owner",
            "cust_merged_into",
            "cust_id_number",
            "cust_birthday_lunar_md",
        }
        plans = {}
        for name, queryset in (
            ("owner", Customer.objects.filter(owner=staff_a)),
            ("merged", Customer.objects.filter(merged_into=owned[0])),
            ("id_number", Customer.objects.filter(id_number_index="0" * 32)),
        ):
            sql, params = queryset.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plans[name] = "\n".join(row[0] for row in cursor.fetchall())
    assert "cust_owner" in plans["owner"], plans["owner"]
    assert "cust_merged_into" in plans["merged"], plans["merged"]
    assert "cust_id_number" in plans["id_number"], plans["id_number"]
    assert {c.pk for c in Customer.objects.visible_to(staff_a)} == {owned[0].pk, owned[2].pk}
