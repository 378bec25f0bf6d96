"""Every API write is one transaction: an error answer or an exception after a write leaves nothing."""

import pytest
from django.test import Client

from guanxi.customers.models import Tag

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("guanxi.customers.tests.urls_atomic")]


def test_an_api_write_answered_with_an_error_is_rolled_back():
    assert Client().post("/api/refuse/").status_code == 409
    assert not Tag.objects.exists()


def test_an_api_write_that_raises_after_writing_is_rolled_back():
    response = Client(raise_request_exception=False).post("/api/raise/")
    assert response.status_code == 500
    assert not Tag.objects.exists()


def test_a_successful_api_write_is_kept():
    assert Client().post("/api/ok/").status_code == 201
    assert Tag.objects.filter(name="written-201").exists()


def test_a_view_that_keeps_its_writes_on_error_keeps_them():
    assert Client().post("/api/keep/").status_code == 400
    assert Tag.objects.filter(name="written-400").exists()


def test_pages_outside_the_api_are_left_to_their_views():
    assert Client().post("/page/refuse/").status_code == 409
    assert Tag.objects.filter(name="written-409").exists()
