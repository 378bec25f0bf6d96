"""Duplicates that are real (issue #15, item 8): weak e-mail-only pairs go last with their reason, and a pair
dismissed as "not the same person" never comes back; only staff who see both customers may dismiss it."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation

from guanxi.core.models import AuditLog
from guanxi.customers.duplicates import duplicate_dismiss, duplicate_pair_ids, duplicate_pairs
from guanxi.customers.models import Customer, DismissedDuplicate
from guanxi.customers.tests.factories import make_customer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_page_cache")]


@pytest.fixture
def client_a(client, staff_a):
    client.force_login(staff_a)
    return client


def _pairs(user):
    return {(p.first.pk, p.second.pk): p for p in duplicate_pairs(user=user)}


def test_shared_email_with_different_name_and_birthday_is_ranked_last_with_its_reason(staff_a, store_a):
    mother = make_customer(store=store_a, name="刘芳", gender="female", birthday="1968-04-02", email="liu@home.cn")
    son = make_customer(store=store_a, name="刘洋", gender="male", birthday="1995-09-17", email="liu@home.cn")
    a = make_customer(store=store_a, name="陈静", phone="+8613600004444")
    b = make_customer(store=store_a, name="陈静", phone="+8613600004444")
    same = make_customer(store=store_a, name="周敏", birthday="1990-01-01", email="zhou@mail.cn")
    again = make_customer(store=store_a, name="周敏", birthday="1990-01-01", email="zhou@mail.cn")
    pairs = list(duplicate_pairs(user=staff_a))
    assert (pairs[-1].first.pk, pairs[-1].second.pk) == (mother.pk, son.pk)
    assert pairs[-1].weak
    with translation.override("zh-hans"):
        assert pairs[-1].reason_labels == ["邮箱相同，但姓名和生日不同"]
    with translation.override("en"):
        assert pairs[-1].reason_labels == ["same e-mail, different name and birthday"]
    got = {(p.first.pk, p.second.pk): set(p.reasons) for p in pairs}
    assert got[(a.pk, b.pk)] == {"phone"}
    # the same e-mail with the same name and birthday is strong, and says both
    assert got[(same.pk, again.pk)] == {"email", "name_birthday"}
    assert not any(p.weak for p in pairs[:-1])


def test_weak_pairs_never_crowd_out_strong_ones_under_the_limit(staff_a, store_a):
    for i in range(3):
        make_customer(store=store_a, name=f"家人{i}", birthday=f"19{70 + i}-01-01", email="family@home.cn")
    a = make_customer(store=store_a, name="吴刚", phone="+8613600005555")
    b = make_customer(store=store_a, name="吴刚", phone="+8613600005555")
    rows = duplicate_pair_ids(visible=Customer.objects.visible_to(staff_a), limit=1)
    assert rows == [(a.pk, b.pk, "phone")]


def test_dismissed_pair_never_comes_back_and_is_audited(client_a, staff_a, store_a):
    a = make_customer(store=store_a, name="郑一", email="z@x.cn", birthday="1980-01-01")
    b = make_customer(store=store_a, name="郑二", email="z@x.cn", birthday="1981-01-01")
    assert (a.pk, b.pk) in _pairs(staff_a)
    response = client_a.post(reverse("customers:duplicate_dismiss", args=[b.pk, a.pk]))
    assert response.status_code == 302
    row = DismissedDuplicate.objects.get()
    assert (row.first_id, row.second_id, row.reasons, row.dismissed_by) == (a.pk, b.pk, ["email_only"], staff_a)
    assert AuditLog.objects.filter(action="not_duplicate", customer_id__in=[a.pk, b.pk]).count() == 2
    assert (a.pk, b.pk) not in _pairs(staff_a)
    assert client_a.get(reverse("customers:duplicates")).context["pairs"] == []
    # twice is once
    duplicate_dismiss(actor=staff_a, first_id=a.pk, second_id=b.pk)
    assert DismissedDuplicate.objects.count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        DismissedDuplicate.objects.create(first_id=b.pk, second_id=a.pk)


def test_cached_candidates_drop_a_pair_dismissed_since(client_a, staff_a, store_a, settings):
    settings.GUANXI_WORKSPACE_CACHE_SECONDS = 600
    a = make_customer(store=store_a, name="缓存甲", phone="+8613600006666")
    b = make_customer(store=store_a, name="缓存乙", phone="+8613600006666")
    assert len(client_a.get(reverse("customers:duplicates")).context["pairs"]) == 1
    duplicate_dismiss(actor=staff_a, first_id=a.pk, second_id=b.pk)
    assert client_a.get(reverse("customers:duplicates")).context["pairs"] == []


def test_store_staff_only_dismiss_pairs_they_see_both_of(client_a, admin_user, store_a, store_b):
    mine = make_customer(store=store_a, name="孙一", phone="+8613600007777")
    theirs = make_customer(store=store_b, name="孙一", phone="+8613600007777")
    response = client_a.post(reverse("customers:duplicate_dismiss", args=[mine.pk, theirs.pk]))
    assert response.status_code == 404
    assert not DismissedDuplicate.objects.exists()
    assert client_a.get(reverse("customers:duplicate_dismiss", args=[mine.pk, mine.pk])).status_code == 405
    # the admin sees both stores, and the pair, and may dismiss it
    assert (mine.pk, theirs.pk) in _pairs(admin_user)
    duplicate_dismiss(actor=admin_user, first_id=mine.pk, second_id=theirs.pk)
    assert (mine.pk, theirs.pk) not in _pairs(admin_user)


def test_duplicates_page_runs_a_constant_number_of_queries(client_a, staff_a, store_a, django_assert_max_num_queries):
    def pairs(n: int, start: int) -> None:
        for i in range(start, start + n):
            make_customer(store=store_a, name=f"甲{i}", phone=f"+86136000{i:05d}")
            make_customer(store=store_a, name=f"乙{i}", phone=f"+86136000{i:05d}")
            make_customer(store=store_a, name=f"丙{i}", birthday="1970-01-01", email=f"f{i}@home.cn")
            make_customer(store=store_a, name=f"丁{i}", birthday="1999-01-01", email=f"f{i}@home.cn")

    pairs(2, 10)
    first = DismissedDuplicate.objects.create(
        first=Customer.objects.get(name="甲10"), second=Customer.objects.get(name="乙10")
    )
    client_a.get(reverse("customers:duplicates"))  # warm the session and the user
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert len(client_a.get(reverse("customers:duplicates")).context["pairs"]) == 3
    pairs(6, 20)
    # session, user, stores; the candidates (dismissed pairs excluded inside); the customers with their
    # store; the dismissed pairs among them (cached rows): the same count for 3 pairs and for 15
    with django_assert_max_num_queries(len(few)):
        assert len(client_a.get(reverse("customers:duplicates")).context["pairs"]) == 15
    assert first.pk


def test_merging_carries_not_the_same_person_marks_to_the_survivor(staff_a, store_a):
    from guanxi.customers.services import customer_merge

    x = make_customer(store=store_a, name="何一", phone="+8613600007777")  # lower id than the survivor
    survivor = make_customer(store=store_a, name="何二")
    merged = make_customer(store=store_a, name="何二", phone="+8613600007777")
    y, z, w = (make_customer(store=store_a, name=name) for name in ("何三", "何四", "何五"))
    for a, b in [(x, merged), (merged, y), (survivor, merged), (merged, z), (survivor, z), (y, w)]:
        duplicate_dismiss(actor=staff_a, first_id=a.pk, second_id=b.pk)
    assert (x.pk, merged.pk) not in _pairs(staff_a)

    record = customer_merge(actor=staff_a, survivor=survivor, merged=merged)

    pairs = set(DismissedDuplicate.objects.values_list("first_id", "second_id"))
    # (x, merged) and (merged, y) now concern the survivor; (survivor, merged) is gone with the merge;
    # (merged, z) was already (survivor, z): kept once; (y, w) had nothing to do with it
    assert pairs == {(x.pk, survivor.pk), (survivor.pk, y.pk), (survivor.pk, z.pk), (y.pk, w.pk)}
    assert DismissedDuplicate.objects.get(first=x, second=survivor).dismissed_by == staff_a
    assert record.moved["customers.DismissedDuplicate"] == 2
    # the survivor now has the merged record's phone, which x shares: still "not the same person"
    assert (x.pk, survivor.pk) not in _pairs(staff_a)
    assert not {merged.pk} & {pk for pair in pairs for pk in pair}
