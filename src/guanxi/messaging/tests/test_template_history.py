"""A message template that was used is history: deleting it would rewrite the message log (#13 item 2)."""

import pytest
from django.db.models import ProtectedError

from guanxi.accounts.models import Role
from guanxi.accounts.tests.factories import UserFactory
from guanxi.conftest import api_client_for
from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import Message, MessageTemplate
from guanxi.messaging.services import message_enqueue
from guanxi.messaging.tests.factories import make_template

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(store_a):
    return api_client_for(UserFactory(username="mgr", role=Role.MANAGER, stores=[store_a]))


def test_a_used_template_cannot_be_deleted_and_the_log_keeps_it(manager, store_b):
    template = make_template(code="otp", purpose="transactional", body="验证码{code}")
    message_enqueue(channel="sms", template_code="otp", customer_ids=[make_customer(store=store_b).pk], dispatch=False)
    response = manager.delete(f"/api/messaging/templates/{template.pk}/")
    assert response.status_code == 409
    assert "停用" in response.json()["detail"]  # "deactivate it instead", in the default zh-Hans
    assert Message.objects.get().template_id == template.pk
    with pytest.raises(ProtectedError):  # the admin site and any other path alike
        template.delete()
    # Deactivating is the way out, and leaves the log as it was.
    assert (
        manager.patch(f"/api/messaging/templates/{template.pk}/", {"is_active": False}, format="json").status_code
        == 200
    )
    assert Message.objects.get().template_id == template.pk


def test_an_unused_template_can_be_deleted(manager):
    template = make_template(code="draft", purpose="transactional", body="草稿")
    assert manager.delete(f"/api/messaging/templates/{template.pk}/").status_code == 204
    assert not MessageTemplate.objects.exists()
