"""Dedup by phone and e-mail holds when creates race: real threads, each on its own database connection."""

import csv
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from guanxi.conftest import api_client_for
from guanxi.core.tests.concurrency import race as _race
from guanxi.customers import services
from guanxi.customers.contacts import phone_index
from guanxi.customers.imports import cleaning, import_job_create, import_run
from guanxi.customers.imports import customers as customer_import
from guanxi.customers.models import ContactPoint, Customer
from guanxi.customers.services import customer_create
from guanxi.customers.tests.factories import make_customer


def _customers_with_phone(number: str) -> int:
    return ContactPoint.objects.filter(kind="phone", value_index=phone_index(number)).values("customer").count()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_api_creates_with_one_mobile_make_one_customer(staff_a, store_a):
    def post(i):
        response = api_client_for(staff_a).post(
            "/api/customers/",
            {"name": f"同一人{i}", "home_store": store_a.pk, "contacts": [{"kind": "phone", "value": "13912345678"}]},
            format="json",
        )
        return response.status_code, response.json()["id"]

    results = _race(20, post)
    assert Customer.objects.count() == 1
    assert _customers_with_phone("13912345678") == 1
    assert sorted(code for code, _id in results) == [200] * 19 + [201]
    assert {pk for _code, pk in results} == {Customer.objects.get().pk}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_import_racing_api_creates_of_the_same_phones_makes_no_twins(tmp_path, staff_a, store_a, monkeypatch):
    monkeypatch.setattr(cleaning, "BATCH", 50)
    path = tmp_path / "race.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "手机", "门店"])
        writer.writerows([f"导入{i}", f"1360000{i:04d}", "store-a"] for i in range(600))
    job = import_job_create(actor=None, path=str(path), dry_run=False)

    def work(i):
        if i == 0:
            return import_run(job, workers=0).created_count
        # the other threads create customers for phones spread over the whole file, while it imports
        return [
            customer_create(
                actor=None,
                data={"name": f"柜台{i}-{n}", "home_store": store_a.pk},
                contacts=[{"kind": "phone", "value": f"1360000{n:04d}"}],
            ).created
            for n in range(i, 600, 37)
        ]

    results = _race(8, work)
    job.refresh_from_db()
    by_api = sum(sum(r) for r in results[1:])
    assert Customer.objects.count() == 600 == job.created_count + by_api
    assert job.created_count + job.matched_count == 600
    assert job.rejected_count == 0
    assert all(_customers_with_phone(f"1360000{n:04d}") == 1 for n in range(0, 600, 7))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_phone_was_created_meanwhile_matches_it_instead_of_dropping(tmp_path, store_a, monkeypatch):
    """The look-up said "new"; before the batch's COPY a counter clerk committed that phone: the row matches."""
    path = tmp_path / "late.csv"
    path.write_text("姓名,手机,门店\n甲,13711112222,store-a\n乙,13711113333,store-a\n无电话,,store-a\n", "utf-8")
    job = import_job_create(actor=None, path=str(path), dry_run=False)
    real_on_file = customer_import._on_file
    calls = []

    def stale_on_file(indexes):
        found = real_on_file(indexes)
        if not calls:  # the first look-up: now someone else creates 甲's phone, on another connection
            thread = threading.Thread(
                target=lambda: (
                    customer_create(
                        actor=None,
                        data={"name": "柜台甲", "home_store": store_a.pk},
                        contacts=[{"kind": "phone", "value": "13711112222"}],
                    ),
                    connection.close(),
                )
            )
            thread.start()
            thread.join()
        calls.append(len(indexes))
        return found

    monkeypatch.setattr(customer_import, "_on_file", stale_on_file)
    job = import_run(job, workers=0)
    assert len(calls) == 2  # looked up again after the conflict
    assert (job.created_count, job.matched_count, job.rejected_count) == (2, 1, 0)
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["乙", "无电话", "柜台甲"]
    assert _customers_with_phone("13711112222") == 1


@pytest.mark.django_db
def test_only_one_contact_claims_a_phone_but_twins_made_on_purpose_may_share_it(store_a):
    first = customer_create(actor=None, data={"name": "母亲"}, contacts=[{"kind": "phone", "value": "13800138000"}])
    twin = customer_create(
        actor=None, data={"name": "女儿"}, contacts=[{"kind": "phone", "value": "13800138000"}], force_new=True
    )
    assert twin.created
    assert twin.customer.pk != first.customer.pk
    claimed = ContactPoint.objects.get(customer=first.customer)
    assert claimed.is_identity
    assert not ContactPoint.objects.get(customer=twin.customer).is_identity
    other = make_customer(store=store_a, name="另一个", phone=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactPoint.objects.create(
            customer=other, kind="phone", value="+8613800138000", value_index=claimed.value_index, is_identity=True
        )


@pytest.mark.django_db
def test_a_create_that_loses_the_race_returns_the_winner(store_a, monkeypatch):
    """The look-up ran before the winner committed (as under concurrency): the insert fails, the winner is returned."""
    winner = customer_create(actor=None, data={"name": "先到"}, contacts=[{"kind": "email", "value": "a@b.cn"}])
    real = services.customer_find_existing
    looks = []

    def too_early(cleaned, **kwargs):
        looks.append(1)
        return (None, "") if len(looks) == 1 else real(cleaned, **kwargs)

    monkeypatch.setattr(services, "customer_find_existing", too_early)
    result = customer_create(actor=None, data={"name": "后到"}, contacts=[{"kind": "email", "value": "a@b.cn"}])
    assert not result.created
    assert result.customer.pk == winner.customer.pk
    assert result.matched_by == "email"
    assert Customer.objects.count() == 1
