"""The importer's fast paths give exactly what the plain path gives.

Worker processes, the per-value memory of field outcomes, the direct reading of Chinese mobile
numbers and (on PostgreSQL) the prepared COPY text are speed only: counts, customers, contacts,
tags, timeline, events and the rejected-rows file must not change with them.
"""

import csv
import random

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from guanxi.core.models import Event
from guanxi.customers.contacts import normalize_phone
from guanxi.customers.forms import CustomerRowValidator
from guanxi.customers.imports import CustomerRowCleaner, cleaning, import_job_create, import_run
from guanxi.customers.imports import customers as customer_import
from guanxi.customers.models import ContactPoint, CustomAttribute, Customer, TimelineEntry
from guanxi.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db

HEADER = ["姓名", "手机", "邮箱", "性别", "生日", "门店", "标签", "身份证", "鞋码", "地区"]


def _rows(count: int) -> list[list[str]]:
    """Good rows, repeats of earlier rows (also across batches), people already on file, bad rows."""
    rng = random.Random(7)
    rows = []
    for i in range(count):
        phone = f"139{i:08d}"
        written = (phone, f"{phone[:3]} {phone[3:7]} {phone[7:]}", f"+86-{phone}", f"+86 {phone}")[i % 4]
        row = [
            f"客户{i}",
            written,
            f"user{i}@Example.COM" if i % 3 == 0 else "",
            ("男", "女", "", "F")[i % 4],
            f"19{60 + i % 40}-0{1 + i % 9}-1{i % 10}" if i % 2 else "",
            "store-a" if i % 5 else "",
            ("VIP;新客", "VIP", "", "老客,VIP")[i % 4],
            "11010519491231002X" if i % 50 == 7 else "",
            str(30 + i % 20) if i % 6 == 0 else "",
            "上海\t浦东\\新区" if i % 17 == 0 else "北京",
        ]
        if i % 29 == 3:  # repeats an earlier row's phone, often in an earlier batch
            row[1] = f"139{rng.randrange(0, i):08d}"
        if i % 31 == 5:  # repeats an earlier e-mail only
            row[1], row[2] = "", "user0@example.com"
        if i % 37 == 11:
            row[1] = "1234"  # not a phone number
        if i % 41 == 13:
            row[4] = "1990-02-30"
        if i % 43 == 17:
            row[5] = "no-such-store"
        if i % 47 == 19:
            row[8] = "huge"
        rows.append(row)
    rows[5][1] = "13800000001"  # on file already
    rows[90][2] = "onfile@example.com"  # on file already
    return [HEADER, *rows]


def _write(tmp_path, rows, name):
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return str(path)


def _snapshot() -> tuple[list, list]:
    """Every imported customer with its contacts, tags, timeline and events, ids and stamps left out."""
    customers = []
    fields = [f.attname for f in Customer._meta.concrete_fields if f.attname not in ("id", "created_at", "updated_at")]
    for c in Customer.objects.filter(source="import").prefetch_related("contact_points", "tags", "timeline"):
        events = list(Event.objects.filter(customer_id=c.pk).values("name", "aggregate_id", "actor_id", "payload"))
        for event in events:
            assert event.pop("aggregate_id") == str(c.pk)
            event["payload"].pop("import_job")
        customers.append(
            (
                tuple((name, getattr(c, name)) for name in fields),
                sorted((p.kind, p.value, p.value_index, p.last4_index, p.is_primary) for p in c.contact_points.all()),
                sorted(t.name for t in c.tags.all()),
                [(t.kind, t.summary, t.data, t.actor_id) for t in c.timeline.all()],
                events,
            )
        )
    return sorted(customers, key=repr), sorted(Customer.objects.exclude(source="import").values_list("name", flat=True))


def _forget_imported() -> None:
    gone = list(Customer.objects.filter(source="import").values_list("id", flat=True))
    Event.objects.filter(customer_id__in=gone).delete()
    TimelineEntry.objects.filter(customer_id__in=gone).delete()
    ContactPoint.objects.filter(customer_id__in=gone).delete()
    Customer.objects.filter(id__in=gone).delete()


@pytest.fixture
def shoe_size(db):
    return CustomAttribute.objects.create(key="鞋码", label="鞋码", type=CustomAttribute.Type.INTEGER, max_value=48)


def test_workers_and_copy_give_what_the_plain_path_gives(tmp_path, store_a, shoe_size, monkeypatch, admin_user):
    make_customer(store=store_a, name="老客户", phone="13800000001", email="onfile@example.com")
    monkeypatch.setattr(cleaning, "BATCH", 40)  # 400 rows: ten batches, repeats across their edges
    path = _write(tmp_path, _rows(400), "c.csv")
    outcomes = []
    for workers, plain in ((0, True), (0, False), (2, False), (3, False)):
        with monkeypatch.context() as patch:
            if plain:  # model instances and bulk_insert even on PostgreSQL
                patch.setattr(customer_import, "is_postgres", lambda conn=None: False)
            job = import_run(import_job_create(actor=admin_user, path=path, dry_run=False), workers=workers)
        assert job.status == "done", job.error
        with open(job.rejected_file, encoding="utf-8-sig") as handle:
            rejected = handle.read()
        outcomes.append(((job.created_count, job.matched_count, job.rejected_count), rejected, _snapshot()))
        _forget_imported()
    counts, rejected, snapshot = outcomes[0]
    created, matched, refused = counts
    assert created + matched + refused == 400
    assert matched >= 15
    assert refused >= 30
    assert len(snapshot[0]) == created
    assert snapshot[1] == ["老客户"]
    assert rejected.count("\n") == refused + 1
    assert any(("region", "上海\t浦东\\新区") in c[0] for c in snapshot[0])  # COPY text escapes survive
    assert any(("id_number", "11010519491231002X") in c[0] for c in snapshot[0])
    for other in outcomes[1:]:
        assert other == outcomes[0]


def test_dry_run_with_workers_counts_as_without(tmp_path, store_a, shoe_size, monkeypatch):
    monkeypatch.setattr(cleaning, "BATCH", 25)
    path = _write(tmp_path, _rows(200), "d.csv")
    serial = import_run(import_job_create(actor=None, path=path, dry_run=True), workers=0)
    pooled = import_run(import_job_create(actor=None, path=path, dry_run=True), workers=2)
    assert (serial.created_count, serial.matched_count, serial.rejected_count) == (
        pooled.created_count,
        pooled.matched_count,
        pooled.rejected_count,
    )
    assert serial.processed_rows == pooled.processed_rows == 200
    assert not Customer.objects.exists()


def test_progress_is_reported_per_batch_with_workers(tmp_path, store_a, monkeypatch):
    monkeypatch.setattr(cleaning, "BATCH", 30)
    path = _write(tmp_path, [["name", "phone"]] + [[f"客户{i}", f"1370{i:07d}"] for i in range(100)], "p.csv")
    ticks: list[int] = []
    job = import_run(import_job_create(actor=None, path=path, dry_run=False), progress=ticks.append, workers=2)
    assert ticks == [30, 30, 30, 10]
    assert job.created_count == 100 == Customer.objects.count()


def test_a_failing_batch_writes_nothing_of_it(tmp_path, store_a, monkeypatch):
    monkeypatch.setattr(cleaning, "BATCH", 10)
    path = _write(tmp_path, [["name", "phone"]] + [[f"客户{i}", f"1370{i:07d}"] for i in range(30)], "f.csv")
    real = customer_import._process_customer_batch
    calls = []

    def fail_on_second(good, **kwargs):
        calls.append(len(good))
        if len(calls) == 2:
            with transaction.atomic():
                real(good, **kwargs)
                raise RuntimeError("disk full")
        return real(good, **kwargs)

    monkeypatch.setattr(customer_import, "_process_customer_batch", fail_on_second)
    with pytest.raises(RuntimeError):
        import_run(import_job_create(actor=None, path=path, dry_run=False), workers=2)
    assert Customer.objects.count() == 10


def test_rows_are_validated_as_the_customer_form_validates():
    cleaner = CustomerRowCleaner({})
    validator = CustomerRowValidator()
    base = {"kind": "person", "name": "王 芳", "source": "import", "interests": [], "preferences": {}}
    variants = [
        {},
        {"name": "  "},
        {"name": "x" * 121},
        {"name": "a\x00b"},
        {"birthday": "1990-02-30"},
        {"birthday": "2999-01-01"},
        {"birthday": "1850-01-01"},
        {"birthday": "1990-05-17"},
        {"gender": "male"},
        {"gender": "robot"},
        {"family_size": "0"},
        {"family_size": "3"},
        {"family_size": "many"},
        {"id_number": "11010519491231002X"},
        {"id_number": "110105194912310021"},
        {"kind": "company"},
        {"income_band": "high", "education": "bachelor"},
        {"is_key_account": True},
    ]
    for _round in range(2):  # the second round answers from memory
        for variant in variants:
            data = {**base, **variant}
            assert cleaner.validate(data) == validator.clean(data), variant


def test_chinese_mobile_numbers_are_read_as_phonenumbers_reads_them():
    cleaner = CustomerRowCleaner({})
    rng = random.Random(3)
    for prefix in range(100, 200):
        for _k in range(3):
            digits = f"{prefix}{rng.randrange(10**8):08d}"
            for raw in (digits, f"{digits[:3]} {digits[3:7]} {digits[7:]}", f"+86-{digits}", f"+86{digits}"):
                try:
                    expected = normalize_phone(raw)
                except ValidationError as exc:
                    refused = exc
                else:
                    assert cleaner.normalize("phone", raw) == expected, raw
                    continue
                with pytest.raises(ValidationError) as caught:
                    cleaner.normalize("phone", raw)
                assert caught.value.messages == refused.messages
    number = phonenumbers.parse("+8613800138000")
    assert cleaner.normalize("phone", "138 0013 8000") == phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.E164
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_looking_up_contacts_on_file_ahead_matches_as_in_order(tmp_path, monkeypatch):
    """Outside a transaction (as the command and the task run) the next batch's contacts on file are
    looked up on a second connection while this batch is written: repeats of rows in the batch being
    written are still matched, and the outcome is the in-order one."""
    from guanxi.accounts.tests.factories import StoreFactory

    store = StoreFactory(code="store-a")
    make_customer(store=store, name="老客户", phone="13800000001", email="onfile@example.com")
    monkeypatch.setattr(cleaning, "BATCH", 40)
    path = _write(tmp_path, _rows(400), "ahead.csv")
    looked_up: list[int] = []
    real = customer_import._on_file
    monkeypatch.setattr(customer_import, "_on_file", lambda keys: looked_up.append(len(keys)) or real(keys))
    outcomes = []
    for workers in (0, 2):
        job = import_run(import_job_create(actor=None, path=path, dry_run=False), workers=workers)
        outcomes.append(((job.created_count, job.matched_count, job.rejected_count), _snapshot()))
        _forget_imported()
    assert len(looked_up) == 20  # one look-up per batch, none by the writer
    assert outcomes[0] == outcomes[1]
    with monkeypatch.context() as patch, transaction.atomic():  # in order, on this connection
        patch.setattr(customer_import, "_looked_up_ahead", None)
        job = import_run(import_job_create(actor=None, path=path, dry_run=False), workers=0)
        assert ((job.created_count, job.matched_count, job.rejected_count), _snapshot()) == outcomes[0]


def test_tags_are_found_once_and_long_names_cut_to_fit(tmp_path, store_a, monkeypatch):
    from guanxi.customers.models import Tag

    monkeypatch.setattr(cleaning, "BATCH", 10)
    long_name = "很长的标签" * 12  # 60 characters; a tag name holds 50
    rows = [["name", "phone", "tags"]] + [[f"客户{i}", f"1370{i:07d}", f"VIP;{long_name}"] for i in range(30)]
    job = import_run(import_job_create(actor=None, path=_write(tmp_path, rows, "t.csv"), dry_run=False), workers=0)
    assert job.created_count == 30
    assert Tag.objects.count() == 2
    assert {t.name for t in Tag.objects.all()} == {"VIP", long_name[:50]}
    assert Customer.tags.through.objects.count() == 60
