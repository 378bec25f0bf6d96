"""Segment services: validation before writing, the stored tree, snapshots, "in another segment", cycles."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from guanxi.campaigns.models import Campaign, Segment, SegmentMember
from guanxi.campaigns.segments import (
    segment_archive,
    segment_count,
    segment_create,
    segment_delete,
    segment_freeze,
    segment_update,
)
from guanxi.campaigns.selectors import segment_customers, segments_visible_to
from guanxi.campaigns.tests.conftest import RICH_HZ
from guanxi.core.models import AuditLog, Event

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    from django.utils import translation

    with translation.override("en"):
        yield


def _ids(queryset):
    return sorted(queryset.values_list("pk", flat=True))


def test_a_bad_condition_is_refused_by_its_place_and_nothing_is_written(zz_fields, marketer_a):
    bad_value = {
        "all": [{"field": "zz.region", "op": "eq", "value": "杭州"}, {"field": "zz.spent", "op": "gte", "value": "x"}]
    }
    with pytest.raises(ValidationError) as exc:
        segment_create(actor=marketer_a, data={"name": "高消费", "rules": bad_value})
    assert list(exc.value.message_dict) == ["rules.all.1.value"]
    assert "Enter an amount." in exc.value.message_dict["rules.all.1.value"][0]

    with pytest.raises(ValidationError) as exc:
        segment_create(actor=marketer_a, data={"name": "", "rules": {"all": [{"field": "nope", "value": 1}]}})
    assert set(exc.value.message_dict) == {"name", "rules.all.0.field"}  # every problem at once
    assert not Segment.objects.exists()
    assert not Event.objects.filter(name__startswith="segment.").exists()


def test_create_keeps_the_tree_as_submitted_with_an_event_and_an_audit_row(zz_fields, marketer_a, store_a, people):
    submitted = {"all": [{"field": "zz.region", "op": "eq", "value": " 杭州 "}, {"field": "zz.spent", "value": "1000"}]}
    segment = segment_create(actor=marketer_a, data={"name": "杭州高消费", "rules": submitted})
    segment.refresh_from_db()
    assert segment.rules == submitted  # not the cleaned values, not the filled-in operator
    assert segment.store == store_a  # the marketer's one store
    assert segment.created_by == marketer_a
    event = Event.objects.get(name="segment.created")
    assert (event.aggregate, event.aggregate_id, event.actor_id) == ("segment", str(segment.pk), marketer_a.pk)
    assert event.payload == {"kind": "dynamic", "store_id": store_a.pk}
    assert AuditLog.objects.filter(object_type="segment", object_id=str(segment.pk), action="create").exists()
    assert _ids(segment_customers(segment, user=marketer_a)) == [people["a_hz_rich"].pk]


def test_counts_are_of_the_customers_the_user_sees(zz_fields, admin_user, marketer_a, store_a, people):
    segment = segment_create(actor=admin_user, data={"name": "杭州高消费", "rules": RICH_HZ, "store": store_a.pk})
    assert segment_count(actor=admin_user, segment=segment) == 2  # store A's and store B's
    assert segment_count(actor=marketer_a, segment=segment) == 1  # store A's only
    segment.refresh_from_db()
    assert segment.member_count == 1
    assert segment.counted_at is not None


def test_freezing_inserts_the_members_in_one_statement_whatever_their_number(
    zz_fields, admin_user, people, store_a, django_assert_max_num_queries
):
    from guanxi.customers.tests.factories import make_customer

    segment = segment_create(actor=admin_user, data={"name": "杭州", "rules": {"field": "zz.region", "value": "杭州"}})
    with django_assert_max_num_queries(12) as few:
        assert segment_freeze(actor=admin_user, segment=segment) == 3
    for i in range(15):
        make_customer(store=store_a, name=f"杭州新客{i}", region="杭州")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert segment_freeze(actor=admin_user, segment=segment) == 18
    segment.refresh_from_db()
    assert segment.kind == Segment.Kind.SNAPSHOT
    assert segment.frozen_at is not None
    assert segment.member_count == 18
    assert SegmentMember.objects.filter(segment=segment).count() == 18
    assert Event.objects.filter(name="segment.frozen").count() == 2
    # a snapshot keeps its members: a new Hangzhou customer is not in it until it is frozen again
    make_customer(store=store_a, name="杭州更新客", region="杭州")
    assert segment_customers(segment, user=admin_user).count() == 18


def test_a_snapshot_saved_by_a_store_marketer_holds_only_what_they_see(zz_fields, marketer_a, people):
    segment = segment_create(
        actor=marketer_a,
        data={"name": "杭州快照", "kind": "snapshot", "rules": {"field": "zz.region", "value": "杭州"}},
    )
    assert set(SegmentMember.objects.filter(segment=segment).values_list("customer_id", flat=True)) == {
        people["a_hz_rich"].pk,
        people["a_hz_poor"].pk,
    }
    segment_update(actor=marketer_a, segment=segment, data={"kind": "dynamic"})
    assert not SegmentMember.objects.filter(segment=segment).exists()


def test_a_segment_includes_another_by_reference_and_follows_its_changes(zz_fields, admin_user, people):
    hangzhou = segment_create(
        actor=admin_user, data={"name": "杭州", "rules": {"all": [{"field": "zz.region", "value": "杭州"}]}}
    )
    rich_in_hangzhou = segment_create(
        actor=admin_user,
        data={
            "name": "杭州里的高消费",
            "rules": {
                "all": [
                    {"field": "campaigns.segment", "op": "in", "value": [hangzhou.pk]},
                    {"field": "zz.spent", "op": "gte", "value": "1000"},
                ]
            },
        },
    )
    assert _ids(segment_customers(rich_in_hangzhou, user=admin_user)) == sorted(
        [people["a_hz_rich"].pk, people["b_hz_rich"].pk]
    )
    # the included segment changes: the including one follows, nothing was copied
    segment_update(
        actor=admin_user, segment=hangzhou, data={"rules": {"all": [{"field": "zz.region", "value": "上海"}]}}
    )
    assert _ids(segment_customers(rich_in_hangzhou, user=admin_user)) == [people["a_sh_rich"].pk]
    outside = segment_create(
        actor=admin_user,
        data={"name": "不在上海", "rules": {"field": "campaigns.segment", "op": "not_in", "value": [hangzhou.pk]}},
    )
    assert segment_customers(outside, user=admin_user).count() == 4
    # a snapshot is included by its members
    segment_freeze(actor=admin_user, segment=hangzhou)
    segment_update(
        actor=admin_user, segment=hangzhou, data={"rules": {"all": [{"field": "zz.region", "value": "北京"}]}}
    )
    assert _ids(segment_customers(rich_in_hangzhou, user=admin_user)) == [people["a_sh_rich"].pk]


def test_a_segment_that_would_include_itself_is_refused_on_saving(zz_fields, marketer_a, people):
    first = segment_create(actor=marketer_a, data={"name": "一", "rules": {"field": "zz.region", "value": "杭州"}})
    second = segment_create(
        actor=marketer_a,
        data={"name": "二", "rules": {"any": [{"field": "campaigns.segment", "op": "in", "value": [first.pk]}]}},
    )
    third = segment_create(
        actor=marketer_a,
        data={"name": "三", "rules": {"all": [{"field": "campaigns.segment", "op": "in", "value": [second.pk]}]}},
    )
    loop = {
        "all": [
            {"field": "zz.spent", "op": "gte", "value": "1"},
            {"not": {"field": "campaigns.segment", "op": "in", "value": [third.pk]}},
        ]
    }
    with pytest.raises(ValidationError) as exc:
        segment_update(actor=marketer_a, segment=first, data={"rules": loop})
    assert list(exc.value.message_dict) == ["rules.all.1.not.value"]
    assert "cannot include itself" in exc.value.message_dict["rules.all.1.not.value"][0]
    with pytest.raises(ValidationError) as exc:
        segment_update(
            actor=marketer_a,
            segment=first,
            data={"rules": {"field": "campaigns.segment", "op": "in", "value": [first.pk]}},
        )
    assert list(exc.value.message_dict) == ["rules.value"]
    first.refresh_from_db()
    assert first.rules == {"field": "zz.region", "value": "杭州"}


def test_a_segment_of_another_store_cannot_be_included(zz_fields, marketer_a, marketer_b, people):
    theirs = segment_create(actor=marketer_b, data={"name": "乙店", "rules": {"field": "zz.region", "value": "北京"}})
    assert theirs not in segments_visible_to(marketer_a)
    with pytest.raises(ValidationError) as exc:
        segment_create(
            actor=marketer_a,
            data={"name": "偷看", "rules": {"field": "campaigns.segment", "op": "in", "value": theirs.pk}},
        )
    assert exc.value.message_dict == {"rules.value": [f"There is no segment #{theirs.pk}."]}


def test_delete_and_archive_are_refused_while_a_campaign_or_a_segment_uses_it(zz_fields, marketer_a, people):
    used = segment_create(actor=marketer_a, data={"name": "在用", "rules": {"field": "zz.region", "value": "杭州"}})
    campaign = Campaign.objects.create(name="双十一", segment=used, status=Campaign.Status.RUNNING)
    with pytest.raises(ValidationError) as exc:
        segment_archive(actor=marketer_a, segment=used)
    assert "双十一" in exc.value.message_dict["segment"][0]
    with pytest.raises(ValidationError):
        segment_delete(actor=marketer_a, segment=used)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED)
    segment_archive(actor=marketer_a, segment=used)  # a finished campaign no longer needs it
    with pytest.raises(ValidationError):
        segment_delete(actor=marketer_a, segment=used)  # but its results still point at it
    segment_archive(actor=marketer_a, segment=used, archived=False)

    base = segment_create(actor=marketer_a, data={"name": "底", "rules": {"field": "zz.region", "value": "上海"}})
    segment_create(
        actor=marketer_a, data={"name": "上层", "rules": {"field": "campaigns.segment", "op": "in", "value": [base.pk]}}
    )
    with pytest.raises(ValidationError) as exc:
        segment_delete(actor=marketer_a, segment=base)
    assert "上层" in exc.value.message_dict["segment"][0]
    free = segment_create(actor=marketer_a, data={"name": "空闲", "rules": {"field": "zz.region", "value": "北京"}})
    segment_delete(actor=marketer_a, segment=free)
    assert not Segment.objects.filter(pk=free.pk).exists()
    assert Event.objects.filter(name="segment.deleted", aggregate_id=str(free.pk)).exists()
    assert Event.objects.filter(name="segment.archived").count() == 2


def test_segments_are_visible_to_their_stores_their_author_and_admins(
    zz_fields, admin_user, marketer_a, marketer_b, manager_a
):
    mine = segment_create(actor=marketer_a, data={"name": "甲", "rules": {"field": "zz.region", "value": "杭州"}})
    theirs = segment_create(actor=marketer_b, data={"name": "乙", "rules": {"field": "zz.region", "value": "杭州"}})
    head_office = segment_create(
        actor=admin_user, data={"name": "总部", "rules": {"field": "zz.region", "value": "杭州"}}
    )
    assert set(segments_visible_to(manager_a)) == {mine}
    assert set(segments_visible_to(marketer_b)) == {theirs}
    assert set(segments_visible_to(admin_user)) == {mine, theirs, head_office}


def test_freezing_what_nobody_sees_keeps_an_empty_snapshot(zz_fields, people):
    segment = segment_create(actor=None, data={"name": "系统", "rules": {"field": "zz.region", "value": "杭州"}})
    assert segment_freeze(actor=None, segment=segment) == 0  # no creator: nobody's view, no customers
    segment.refresh_from_db()
    assert segment.kind == Segment.Kind.SNAPSHOT
    assert segment.member_count == 0
