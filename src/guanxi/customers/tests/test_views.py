"""The customer pages through Django's test client: visibility, search, filters, edits, merge, import."""

import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from guanxi.customers.models import Customer, ImportJob, TimelineEntry
from guanxi.customers.tests.factories import make_customer

pytestmark = pytest.mark.usefixtures("no_page_cache")


@pytest.fixture
def client_a(client, staff_a):
    client.force_login(staff_a)
    return client


def test_list_search_by_last_four_digits_and_masking(client, marketer_a, staff_a, store_a, store_b):
    hit = make_customer(store=store_a, name="李四", phone="+8613800001234")
    make_customer(store=store_a, name="张三", phone="+8613800005678")
    make_customer(store=store_b, name="他店李四", phone="+8613900001234")
    client.force_login(staff_a)
    response = client.get(reverse("customers:customers"), {"q": "1234"})
    assert [c.pk for c in response.context["page"].rows] == [hit.pk]
    assert "13800001234" in response.content.decode()
    client.force_login(marketer_a)
    response = client.get(reverse("customers:customers"), {"q": "1234"})
    body = response.content.decode()
    assert "138****1234" in body
    assert "13800001234" not in body


def test_list_htmx_returns_results_fragment(client_a, store_a):
    make_customer(store=store_a, name="王五")
    response = client_a.get(reverse("customers:customers"), {"q": "王"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "王五" in body
    assert "<html" not in body


def test_list_filters(client_a, store_a):
    from guanxi.customers.services import customer_tag

    key = make_customer(store=store_a, name="大客户", is_key_account=True, gender="female", region="上海")
    customer_tag(actor=None, customer_ids=[key.pk], tag_name="VIP")
    make_customer(store=store_a, name="普通", gender="male", region="北京")
    url = reverse("customers:customers")
    assert [c.pk for c in client_a.get(url, {"key_account": "on"}).context["page"].rows] == [key.pk]
    assert [c.pk for c in client_a.get(url, {"gender": "female"}).context["page"].rows] == [key.pk]
    assert [c.pk for c in client_a.get(url, {"region": "上海"}).context["page"].rows] == [key.pk]
    assert [c.pk for c in client_a.get(url, {"tag": "VIP"}).context["page"].rows] == [key.pk]
    # a bad value drops only its own filter
    assert [c.pk for c in client_a.get(url, {"tag": "VIP", "purchased_days": "x"}).context["page"].rows] == [key.pk]
    assert list(client_a.get(url, {"tag": "没有这个标签"}).context["page"].rows) == []


def test_keyset_pagination_walks_every_row_once_in_each_sort(client_a, store_a, monkeypatch):
    from guanxi.customers import listing

    monkeypatch.setattr(listing, "PAGE_SIZE", 3)
    names = ["b", "a", "c", "a", "e", "d", "a"]
    created = [make_customer(store=store_a, name=n) for n in names]
    now = timezone.now()
    for i, c in enumerate(created[:4]):
        Customer.objects.filter(pk=c.pk).update(last_order_at=now - dt.timedelta(days=i % 2))
    for sort in ("-id", "id", "name", "-name", "last_order_at", "-last_order_at"):
        seen, after = [], None
        for _page in range(10):
            params = {"sort": sort} | ({"after": after} if after else {})
            page = client_a.get(reverse("customers:customers"), params).context["page"]
            seen += [c.pk for c in page.rows]
            after = page.next_cursor
            if not after:
                break
        expected = created[:4] if "last_order_at" in sort else created  # "by last purchase" lists buyers
        assert sorted(seen) == sorted(c.pk for c in expected), sort
        if "last_order_at" in sort:
            got = [Customer.objects.get(pk=pk).last_order_at for pk in seen]
            assert got == sorted(got, reverse=sort.startswith("-")), sort
        if sort.lstrip("-") == "name":
            got = [Customer.objects.get(pk=pk).name for pk in seen]
            assert got == sorted(got, reverse=sort.startswith("-")), sort


def test_bulk_tag_and_export_of_filtered_set(client_a, store_a):
    a = make_customer(store=store_a, name="标记甲", region="杭州")
    b = make_customer(store=store_a, name="标记乙", region="杭州")
    other = make_customer(store=store_a, name="不标记", region="苏州")
    client_a.post(reverse("customers:customers_tag") + "?region=杭州", {"tag": "春季活动"})
    assert set(Customer.objects.filter(tags__name="春季活动").values_list("pk", flat=True)) == {a.pk, b.pk}
    assert other.tags.count() == 0
    response = client_a.get(reverse("customers:customers_export"), {"region": "杭州"})
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "标记甲" in text
    assert "标记乙" in text
    assert "不标记" not in text


def test_360_page_of_other_store_is_404(client_a, store_b):
    c = make_customer(store=store_b, name="别人的")
    assert client_a.get(reverse("customers:customer", args=[c.pk])).status_code == 404


def test_edit_birthday_inline_error_then_saved(client_a, store_a):
    c = make_customer(store=store_a, name="改生日")
    url = reverse("customers:customer_edit", args=[c.pk])
    response = client_a.post(url, {"name": "改生日", "birthday": "2999-01-01"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response.context["form"].errors["birthday"]
    c.refresh_from_db()
    assert c.birthday is None
    response = client_a.post(url, {"name": "改生日", "birthday": "1990-05-17"})
    assert response.status_code == 302
    c.refresh_from_db()
    assert c.birthday == dt.date(1990, 5, 17)
    assert TimelineEntry.objects.filter(customer=c, kind="customer.updated").exists()


def test_note_add(client_a, store_a):
    c = make_customer(store=store_a, name="记事")
    client_a.post(reverse("customers:customer_note", args=[c.pk]), {"body": "喜欢绿茶"})
    assert c.notes.get().body == "喜欢绿茶"
    response = client_a.post(reverse("customers:customer_note", args=[c.pk]), {"body": "  "})
    assert response.context["note_form"].errors["body"]


def test_duplicates_and_merge(client_a, store_a, store_b):
    a = make_customer(store=store_a, name="重复", phone="+8613600002222")
    b = make_customer(store=store_a, name="重复人", phone="+8613600002222")
    c = make_customer(store=store_a, name="同名", birthday="1985-03-03", phone=None)
    d = make_customer(store=store_a, name="同名", birthday="1985-03-03", phone=None)
    make_customer(store=store_b, name="同名", birthday="1985-03-03", phone=None)  # not visible
    pairs = client_a.get(reverse("customers:duplicates")).context["pairs"]
    got = {(p.first.pk, p.second.pk): p.reasons for p in pairs}
    assert got == {(a.pk, b.pk): ("phone",), (c.pk, d.pk): ("name_birthday",)}
    response = client_a.get(reverse("customers:merge", args=[a.pk, b.pk]))
    assert response.status_code == 200
    response = client_a.post(reverse("customers:merge", args=[a.pk, b.pk]), {"survivor": a.pk})
    assert response.status_code == 302
    b.refresh_from_db()
    assert b.merged_into_id == a.pk


def test_import_wizard_dry_run_then_run(client_a, store_a, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    csv_text = "姓名,手机,生日\n赵一,13500000001,1990-01-01\n钱二,13500000002,1990-13-01\n孙三,13500000003,\n"
    upload = io.BytesIO(csv_text.encode())
    upload.name = "members.csv"
    response = client_a.post(reverse("customers:imports"), {"file": upload, "target": "customers"})
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("customers:import_mapping", args=[job.pk])
    assert job.mapping == {"姓名": "name", "手机": "phone", "生日": "birthday"}
    assert str(tmp_path / "imports") in job.file
    with django_capture_on_commit_callbacks(execute=True):
        client_a.post(
            reverse("customers:import_mapping", args=[job.pk]), {"col-0": "name", "col-1": "phone", "col-2": "birthday"}
        )
    job.refresh_from_db()
    assert job.status == ImportJob.Status.VALIDATED
    assert job.rejected_count == 1
    page = client_a.get(reverse("customers:import_job", args=[job.pk]))
    assert "钱二" in page.content.decode()
    assert Customer.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        client_a.post(reverse("customers:import_job", args=[job.pk]), {"action": "run"})
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert job.created_count == 2
    assert set(Customer.objects.values_list("name", flat=True)) == {"赵一", "孙三"}
    rejected = client_a.get(reverse("customers:import_rejected", args=[job.pk]))
    assert "钱二" in b"".join(rejected.streaming_content).decode("utf-8-sig")
    fragment = client_a.get(reverse("customers:import_job", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert 'id="import-job"' in fragment.content.decode()
    assert "<html" not in fragment.content.decode()


def test_import_mapping_without_name_is_refused(client_a, store_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = io.BytesIO("手机\n13500000001\n".encode())
    upload.name = "x.csv"
    client_a.post(reverse("customers:imports"), {"file": upload, "target": "customers"})
    job = ImportJob.objects.get()
    response = client_a.post(reverse("customers:import_mapping", args=[job.pk]), {"col-0": "phone"})
    assert response.status_code == 200
    assert response.context["errors"]
    assert ImportJob.objects.count() == 1


def test_results_fragment_carries_the_current_filters_to_export_and_bulk_tag(client_a, store_a):
    make_customer(store=store_a, name="王五", region="杭州")
    response = client_a.get(reverse("customers:customers"), {"region": "杭州", "after": "x"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert reverse("customers:customers_export") + "?region=%E6%9D%AD%E5%B7%9E" in body
    assert reverse("customers:customers_tag") + "?region=%E6%9D%AD%E5%B7%9E" in body


def test_history_restore_gets_the_whole_page(client_a, store_a):
    response = client_a.get(
        reverse("customers:customers"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()


def test_360_masks_contacts_for_roles_without_full_contacts(client, marketer_a, store_a):
    c = make_customer(store=store_a, name="遮挡", phone="+8613812341234", email="zhedang@example.com")
    client.force_login(marketer_a)
    body = client.get(reverse("customers:customer", args=[c.pk])).content.decode()
    assert "138****1234" in body
    assert "13812341234" not in body
    assert "zhedang@" not in body


def test_import_accepts_xlsx(client_a, store_a, settings, tmp_path, django_capture_on_commit_callbacks):
    from openpyxl import Workbook

    settings.MEDIA_ROOT = tmp_path
    book = Workbook()
    sheet = book.active
    sheet.append(["name", "phone"])
    sheet.append(["Excel 甲", "13500000011"])
    sheet.append(["", "13500000012"])
    data = io.BytesIO()
    book.save(data)
    data.seek(0)
    data.name = "members.xlsx"
    client_a.post(reverse("customers:imports"), {"file": data, "target": "customers"})
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client_a.post(reverse("customers:import_mapping", args=[job.pk]), {"col-0": "name", "col-1": "phone"})
    job.refresh_from_db()
    assert (job.status, job.created_count, job.rejected_count) == (ImportJob.Status.VALIDATED, 1, 1)


def test_upload_refuses_other_files(client_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = io.BytesIO(b"%PDF-1.4")
    upload.name = "members.pdf"
    response = client_a.post(reverse("customers:imports"), {"file": upload, "target": "customers"})
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not ImportJob.objects.exists()


def test_cached_duplicate_candidates_drop_merged_pairs(client_a, store_a, settings):
    from guanxi.customers.services import customer_merge

    settings.GUANXI_WORKSPACE_CACHE_SECONDS = 600
    a = make_customer(store=store_a, name="缓存", phone="+8613600003333")
    b = make_customer(store=store_a, name="缓存二", phone="+8613600003333")
    assert len(client_a.get(reverse("customers:duplicates")).context["pairs"]) == 1
    customer_merge(actor=None, survivor=a, merged=b)
    assert client_a.get(reverse("customers:duplicates")).context["pairs"] == []


def test_age_band_and_recent_purchase_filters(client_a, store_a):
    today = timezone.localdate()
    young = make_customer(store=store_a, name="青年", birthday=today.replace(year=today.year - 30, day=1).isoformat())
    make_customer(store=store_a, name="长者", birthday="1950-06-01")
    buyer = make_customer(store=store_a, name="买家")
    make_customer(store=store_a, name="老买家")
    Customer.objects.filter(pk=buyer.pk).update(last_order_at=timezone.now() - dt.timedelta(days=3))
    Customer.objects.filter(name="老买家").update(last_order_at=timezone.now() - dt.timedelta(days=200))
    url = reverse("customers:customers")
    assert [c.pk for c in client_a.get(url, {"age": "25-34"}).context["page"].rows] == [young.pk]
    assert [c.pk for c in client_a.get(url, {"purchased_days": "30"}).context["page"].rows] == [buyer.pk]


def test_progress_fragment_polls_while_running_and_stops_when_done(client_a, staff_a, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("name\n甲\n", encoding="utf-8")
    job = ImportJob.objects.create(
        file=str(path),
        original_name="x.csv",
        mapping={"name": "name"},
        status="running",
        dry_run=False,
        total_rows=200,
        processed_rows=50,
        created_by=staff_a,
    )
    fragment = client_a.get(reverse("customers:import_job", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in fragment
    assert 'aria-valuenow="25"' in fragment
    ImportJob.objects.filter(pk=job.pk).update(status="done", processed_rows=200)
    fragment = client_a.get(reverse("customers:import_job", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in fragment


def test_import_job_of_someone_else_is_404(client, staff_a, staff_b, tmp_path):
    job = ImportJob.objects.create(file=str(tmp_path / "x.csv"), original_name="x.csv", created_by=staff_a)
    client.force_login(staff_b)
    assert client.get(reverse("customers:import_job", args=[job.pk])).status_code == 404


def test_edit_custom_attributes_with_inline_errors(client_a, store_a):
    from guanxi.customers.models import CustomAttribute

    CustomAttribute.objects.create(key="shoe_size", label="鞋码", type="integer", min_value=30, max_value=50)
    CustomAttribute.objects.create(key="vip_level", label="等级", type="choice", choices=["金", "银"])
    c = make_customer(store=store_a, name="属性")
    url = reverse("customers:customer_edit", args=[c.pk])
    page = client_a.get(url)
    assert "attr_shoe_size" in page.context["form"].fields
    response = client_a.post(url, {"name": "属性", "attr_shoe_size": "99", "attr_vip_level": "金"})
    assert response.status_code == 200
    assert response.context["form"].errors["attr_shoe_size"]
    c.refresh_from_db()
    assert c.custom_attributes == {}
    assert client_a.post(url, {"name": "属性", "attr_shoe_size": "42", "attr_vip_level": "金"}).status_code == 302
    c.refresh_from_db()
    assert c.custom_attributes == {"shoe_size": 42, "vip_level": "金"}
    body = client_a.get(reverse("customers:customer", args=[c.pk])).content.decode()
    assert "鞋码" in body
    assert "42" in body


def test_add_tag_and_important_date_on_360(client_a, store_a):
    c = make_customer(store=store_a, name="加标签")
    client_a.post(reverse("customers:customer_tag", args=[c.pk]), {"tag": "老客"})
    assert list(c.tags.values_list("name", flat=True)) == ["老客"]
    response = client_a.post(reverse("customers:customer_date", args=[c.pk]), {"kind": "other", "date": "2015-10-01"})
    assert response.status_code == 200
    assert response.context["date_form"].errors["label"]
    response = client_a.post(
        reverse("customers:customer_date", args=[c.pk]), {"kind": "other", "date": "2015-02-30", "label": "x"}
    )
    assert response.context["date_form"].errors["date"]
    client_a.post(
        reverse("customers:customer_date", args=[c.pk]),
        {"kind": "wedding_anniversary", "date": "2015-10-01", "label": ""},
    )
    assert c.important_dates.get().month_day == 1001


def test_the_360_page_marks_a_lunar_birthday(client_a, store_a):
    lunar = make_customer(store=store_a, name="中秋", birthday="1990-10-03", birthday_is_lunar=True)
    solar = make_customer(store=store_a, name="公历", birthday="1990-10-03")
    page = client_a.get(reverse("customers:customer", args=[lunar.pk])).content.decode()
    assert 'id="birthday-lunar"' in page
    assert "1990-10-03" in page
    assert 'id="birthday-lunar"' not in client_a.get(reverse("customers:customer", args=[solar.pk])).content.decode()
