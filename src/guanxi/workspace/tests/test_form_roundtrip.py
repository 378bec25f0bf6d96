"""Every edit form saved unchanged changes nothing, in both languages.

Each page is fetched, its form's fields are read from the HTML the way a browser reads them (including the
browser's value sanitisation: a ``type=date`` input whose value is not ``YYYY-MM-DD`` is blank, a
``type=number`` one that is not a plain number is blank), and posted back as they are. The zh-Hans customer
edit form used to fill the birthday as ``1985/02/15``, which a browser blanks: saving erased the birthday.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django import forms
from django.conf import settings
from django.forms.models import model_to_dict
from django.test import Client
from django.utils import timezone, translation

from guanxi.customers.models import CustomAttribute, Customer
from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty import services as loyalty_services
from guanxi.loyalty.models import CouponTemplate, ProgramSettings, Tier, TopUpRule
from guanxi.messaging.models import MessageTemplate

LANGUAGES = ["zh-hans", "en"]

# What a browser keeps of a value it does not understand: https://html.spec.whatwg.org/#value-sanitization-algorithm
_VALID = {
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "time": re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$"),
    "datetime-local": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$"),
    "number": re.compile(r"^-?(\d+(\.\d+)?|\.\d+)([eE][-+]?\d+)?$"),
}


class FormReader(HTMLParser):
    """The successful controls of every <form> on a page, as a browser would submit them unchanged."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: dict | None = None
        self._textarea: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            method = (a.get("method") or "get").lower()
            self._form = {"method": method, "action": a.get("action"), "data": [], "types": {}}
            self.forms.append(self._form)
        if self._form is None:
            return
        if tag == "input" and a.get("name") and "disabled" not in a:
            kind = (a.get("type") or "text").lower()
            self._form["types"][a["name"]] = kind
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            value = a.get("value") or ("on" if kind in ("checkbox", "radio") else "")
            if kind in _VALID and value and not _VALID[kind].match(value):
                value = ""  # the browser blanks it, and so posts nothing
            self._form["data"].append((a["name"], value))
        elif tag == "select" and a.get("name"):
            self._select = {"name": a["name"], "first": None, "selected": None}
            self._form["types"][a["name"]] = "select"
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select["first"] is None:
                self._select["first"] = value
            if "selected" in a:
                self._select["selected"] = value
        elif tag == "textarea" and a.get("name"):
            self._textarea = {"name": a["name"], "text": ""}
            self._form["types"][a["name"]] = "textarea"

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["text"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            s = self._select
            chosen = s["selected"] if s["selected"] is not None else s["first"]
            if chosen is not None:
                self._form["data"].append((s["name"], chosen))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            text = self._textarea["text"]
            text = text[1:] if text.startswith("\n") else text  # the parser drops a newline right after <textarea>
            self._form["data"].append((self._textarea["name"], text.replace("\r\n", "\n").replace("\n", "\r\n")))
            self._textarea = None


def resubmit_unchanged(client: Client, url: str, marker: str) -> tuple[dict, object]:
    """GET ``url``, find the POST form holding the field ``marker`` and post it back unchanged."""
    page = client.get(url)
    assert page.status_code == 200, url
    reader = FormReader()
    reader.feed(page.content.decode())
    [form] = [f for f in reader.forms if f["method"] == "post" and marker in f["types"]]
    data: dict[str, list[str]] = {}
    for name, value in form["data"]:
        data.setdefault(name, []).append(value)
    response = client.post(form["action"] or url, data)
    assert response.status_code == 302, (url, response.content.decode()[:3000])
    return form, response


@pytest.fixture
def manager(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def _in(client: Client, language: str) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def _snapshot(obj, exclude=("updated_at",)) -> dict:
    obj.refresh_from_db()
    return {k: v for k, v in model_to_dict(obj).items() if k not in exclude}


@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
def test_customer_profile_saved_unchanged_keeps_birthday_and_every_field(manager, admin_user, store_a, language):
    CustomAttribute.objects.create(key="wedding", label="婚期", type=CustomAttribute.Type.DATE)
    CustomAttribute.objects.create(key="shoe", label="鞋码", type=CustomAttribute.Type.DECIMAL)
    CustomAttribute.objects.create(key="kids", label="孩子", type=CustomAttribute.Type.INTEGER)
    customer = make_customer(
        store=store_a,
        name="李娜",
        birthday=dt.date(1985, 2, 15),
        gender=Customer.Gender.FEMALE,
        region="上海",
        occupation="教师",
        income_band=Customer.IncomeBand.choices[-1][0],
        education=Customer.Education.choices[-1][0],
        family_size=4,
        organisation_name="某公司",
        is_key_account=True,
        custom_attributes={"wedding": "2012-10-01", "shoe": "38.5", "kids": 2},
    )
    before = _snapshot(customer)
    assert before["birthday"] == dt.date(1985, 2, 15)

    form, _response = resubmit_unchanged(_in(manager, language), f"/customers/{customer.pk}/edit/", marker="birthday")

    assert form["types"]["birthday"] == "date"
    assert _snapshot(customer) == before


@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
def test_loyalty_forms_saved_unchanged_change_nothing(manager, language):
    program = loyalty_services.program()
    program.points_per_yuan = Decimal("1.25")
    program.redeem_cap_percent = Decimal("33.50")
    program.member_day = 18
    program.member_day_multiplier = Decimal("2.50")
    program.wallet_limit = Decimal("12345.67")
    program.points_expiry_days = 400
    program.save()
    tier = Tier.objects.create(
        name="金卡", threshold=12000, points_multiplier=Decimal("1.75"), discount_percent=Decimal("9.5"), order=2
    )
    rule = TopUpRule.objects.create(min_amount=Decimal("1000.00"), bonus=Decimal("88.80"))
    local = timezone.get_default_timezone()
    coupon = CouponTemplate.objects.create(
        name="满100减20",
        kind=CouponTemplate.Kind.choices[0][0],
        amount=Decimal("20.00"),
        threshold=Decimal("100.00"),
        cap=Decimal("1500.00"),
        valid_from=dt.datetime(2026, 1, 15, 9, 30, 15, tzinfo=local),
        valid_until=dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=local),
        valid_days=30,
        per_customer_limit=2,
        budget=10000,
    )
    pages = [
        ("/loyalty/", ProgramSettings.objects.get(pk=program.pk), "points_per_yuan"),
        (f"/loyalty/tiers/{tier.pk}/", tier, "threshold"),
        (f"/loyalty/top-up-rules/{rule.pk}/", rule, "min_amount"),
        (f"/loyalty/coupons/{coupon.pk}/", coupon, "valid_from"),
    ]
    for url, obj, marker in pages:
        before = _snapshot(obj)
        form, _response = resubmit_unchanged(_in(manager, language), url, marker)
        assert _snapshot(obj) == before, url
    assert form["types"]["valid_from"] == "datetime-local"


@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
def test_message_template_saved_unchanged_changes_nothing(manager, language):
    template = MessageTemplate.objects.create(
        code="birthday",
        name="生日祝福",
        channel="email",
        language="zh-hans",
        subject="生日快乐",
        body="{name}，祝您生日快乐！\n第二行\n第三行",
    )
    before = _snapshot(template)
    resubmit_unchanged(_in(manager, language), f"/messaging/templates/{template.pk}/", "body")
    assert _snapshot(template) == before


@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_form_renders_dates_times_and_numbers_in_machine_format(language):
    """Every date, time and number field of every form in Guanxi renders a value a browser accepts."""
    import importlib
    import pkgutil

    import guanxi

    for module in pkgutil.walk_packages(guanxi.__path__, "guanxi."):
        if module.name.endswith(("forms", "listing")):
            importlib.import_module(module.name)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    samples = {
        forms.DateTimeField: dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC),
        forms.DateField: dt.date(1985, 2, 15),
        forms.TimeField: dt.time(8, 30),
        forms.DecimalField: Decimal("12345.67"),
        forms.IntegerField: 1234567,
        forms.FloatField: 1234.5,
    }
    checked = 0
    with translation.override(language):
        for form_class in subclasses(forms.BaseForm):
            if not form_class.__module__.startswith("guanxi.") or ".tests." in form_class.__module__:
                continue
            try:
                form = form_class()
            except (TypeError, ValueError):
                continue  # a base without a model, or a form that needs arguments (a store list)
            for name, field in form.fields.items():
                sample = next((v for k, v in samples.items() if isinstance(field, k)), None)
                if sample is None or field.widget.is_hidden:
                    continue
                kind = getattr(field.widget, "input_type", None)
                html = field.widget.render(name, sample)
                value = re.search(r'value="([^"]*)"', html).group(1)
                if kind in _VALID:
                    assert _VALID[kind].match(value), (form_class, name, language, html)
                else:
                    assert field.to_python(value) == field.to_python(str(sample)), (form_class, name, html)
                checked += 1
    assert checked >= 20
