"""Masking personal identifiers in payloads kept for debugging."""

from guanxi.core.redaction import mask_address, redact_payload, redact_text


def test_address_keys_are_masked_and_everything_else_kept():
    payload = [
        {
            "phone_number": "13912345678",
            "Mobile": 13912345678,
            "FromUserName": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "email": "wang.xiaoming@example.com",
            "biz_id": "932702304080415357^0",
            "report_time": "2017-12-26 16:09:28",
            "CreateTime": "1512443400",
            "out_id": "123",
            "nested": {"to": "+8613800138000", "err_code": "DELIVERED"},
        }
    ]
    assert redact_payload(payload) == [
        {
            "phone_number": "139****5678",
            "Mobile": "139****5678",
            "FromUserName": "oUp***",
            "email": "w***@example.com",
            "biz_id": "932702304080415357^0",
            "report_time": "2017-12-26 16:09:28",
            "CreateTime": "1512443400",
            "out_id": "123",
            "nested": {"to": "138****8000", "err_code": "DELIVERED"},
        }
    ]


def test_numbers_and_addresses_inside_text_are_masked():
    assert redact_text("新号13912345670，旧号 +86 139 1234 5679，邮箱 a.b@x.cn") == (
        "新号139****5670，旧号 139****5679，邮箱 a***@x.cn"
    )
    assert (
        redact_text("回复T退订 2026-03-01 10:00:05 订单 1512443400") == "回复T退订 2026-03-01 10:00:05 订单 1512443400"
    )


def test_mask_address_by_its_look():
    assert mask_address("+8613800138000") == "138****8000"
    assert mask_address("someone@example.com") == "s***@example.com"
    assert mask_address("o-alice-openid") == "o-a***"
