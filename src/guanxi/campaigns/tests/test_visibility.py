"""Segments and campaigns follow one store rule (``accounts.permissions.store_scope``)."""

from __future__ import annotations

import pytest

from guanxi.campaigns.campaign_selectors import campaigns_visible_to, segments_usable_by
from guanxi.campaigns.selectors import segments_visible_to
from guanxi.campaigns.tests.builders import make_campaign

pytestmark = pytest.mark.django_db


def test_store_b_staff_see_neither_store_a_segments_nor_campaigns_and_colleagues_see_both(
    store_a, store_b, marketer_a, manager_a, marketer_b, staff_b, admin_user, django_assert_num_queries
):
    # store A's work: one campaign (and its segment) of the store, one storeless, drafted by a store-A marketer
    of_store_a = make_campaign(store=store_a, created_by=marketer_a, name="A 店活动")
    storeless_a = make_campaign(store=None, created_by=marketer_a, name="甲的跨店活动")
    # storeless work of store B's marketer, and of the head office (an admin who belongs to no store)
    storeless_b = make_campaign(store=None, created_by=marketer_b, name="乙的跨店活动")
    head_office = make_campaign(store=None, created_by=admin_user, name="总部活动")
    store_a_campaigns = {of_store_a, storeless_a}
    store_a_segments = {c.segment for c in store_a_campaigns}

    # a colleague in store A (a manager who did not draft them) sees both kinds, and may send to the segments
    with django_assert_num_queries(1):  # the rule is one statement: subqueries, no lookups of stores first
        assert set(segments_visible_to(manager_a)) == store_a_segments
    with django_assert_num_queries(1):
        assert set(campaigns_visible_to(manager_a)) == store_a_campaigns
    assert set(segments_usable_by(manager_a)) == store_a_segments

    # store B's staff see none of it: the marketer sees only store B's, the clerk no campaigns at all (role)
    assert set(segments_visible_to(marketer_b)) == {storeless_b.segment}
    assert set(campaigns_visible_to(marketer_b)) == {storeless_b}
    assert set(segments_usable_by(marketer_b)) == {storeless_b.segment}
    assert store_a_segments.isdisjoint(segments_visible_to(staff_b))
    assert set(campaigns_visible_to(staff_b)) == set()

    # the head office's storeless work is the admins'; admins see every store's
    everything = {of_store_a, storeless_a, storeless_b, head_office}
    assert set(campaigns_visible_to(admin_user)) == everything
    assert set(segments_visible_to(admin_user)) == {c.segment for c in everything}
    assert head_office.segment not in set(segments_visible_to(marketer_a))
