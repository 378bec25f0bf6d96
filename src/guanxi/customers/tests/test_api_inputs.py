"""Customer API: bounded query parameters, the export's format parameter, no orphaned customers."""

import io

from openpyxl import load_workbook

from guanxi.customers.models import Customer
from guanxi.customers.tests.factories import make_customer


def test_out_of_range_purchased_within_days_is_a_400_naming_it(api_admin, store_a):
    for value in ("-9699367569528688", "99999999999999999999", "1e3", "１２"):
        response = api_admin.get("/api/customers/", {"purchased_within_days": value})
        assert response.status_code == 400, value
        assert "purchased_within_days" in response.json(), value
    make_customer(store=store_a)
    assert api_admin.get("/api/customers/", {"purchased_within_days": "30"}).status_code == 200


def test_the_export_downloads_csv_and_xlsx_by_format(api_admin, store_a):
    make_customer(store=store_a, name="导出客户")
    csv = api_admin.get("/api/customers/export/?format=csv")
    assert csv.status_code == 200
    assert csv["Content-Type"].startswith("text/csv")
    assert "导出客户" in b"".join(csv.streaming_content).decode("utf-8-sig")
    xlsx = api_admin.get("/api/customers/export/", {"format": "xlsx"})
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content))).active
    assert any("导出客户" in str(cell.value) for row in sheet.iter_rows() for cell in row)
    assert api_admin.get("/api/customers/export/").status_code == 200  # csv by default
    bad = api_admin.get("/api/customers/export/", {"format": "pdf"})
    assert bad.status_code == 400
    assert "format" in bad.json()


def test_a_clerk_creating_a_customer_without_a_store_creates_it_in_their_store(api_a, store_a):
    response = api_a.post(
        "/api/customers/", {"name": "李雷", "contacts": [{"kind": "phone", "value": "13900003333"}]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert Customer.objects.get().home_store == store_a
    assert api_a.get(f"/api/customers/{response.json()['id']}/").status_code == 200


def test_a_clerk_cannot_create_a_customer_they_could_not_see(api_a, store_a, store_b, staff_a):
    response = api_a.post("/api/customers/", {"name": "韩梅梅", "home_store": store_b.pk}, format="json")
    assert response.status_code == 400
    assert "home_store" in response.json()
    staff_a.stores.add(store_b)
    response = api_a.post("/api/customers/", {"name": "韩梅梅"}, format="json")  # two stores: say which
    assert response.status_code == 400
    assert "home_store" in response.json()
    assert not Customer.objects.exists()
