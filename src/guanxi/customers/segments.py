"""The segment fields of the customer profile (``core.segments``), registered in ``CustomersConfig.ready()``.

Each field's ``condition`` is one ``Q`` (or ``Exists``) over ``customers.Customer`` that the segment engine
combines into the segment's single query; none loads customers into Python or queries per customer. A
condition on a column that may be empty (birthday, region, home store...) is false for the customers who
leave it empty, and ``not`` of it is true for them, as in the rule tree's plain reading.

Also the value cleaners every segment field of the customer and sales apps shares: days, counts, money,
dates and id lists, each bounded so that no input reaches the database as a number it cannot hold.

"The last N days" are local calendar days (``settings.TIME_ZONE``): today and the N − 1 days before it,
from the start of the local day ``today − N + 1``; at 23:30 on 3 March, "the last 1 day" is 3 March since
00:00 local time.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.segments import (
    choice_field,
    condition_field,
    date_field,
    days_field,
    flag_field,
    number_field,
    register_segment_field,
)
from guanxi.customers.listing import AGE_BANDS
from guanxi.customers.models import Customer

GENDER = "customers.gender"
AGE_BAND = "customers.age_band"
AGE = "customers.age"
BIRTHDAY_MONTH = "customers.birthday_month"
REGION = "customers.region"
OCCUPATION = "customers.occupation"
INCOME_BAND = "customers.income_band"
SOURCE = "customers.source"
TAGS = "customers.tags"
KEY_ACCOUNT = "customers.key_account"
STORE = "customers.store"
OWNER = "customers.owner"
CREATED = "customers.created"
JOINED = "customers.joined"

MAX_DAYS = 3650
MAX_COUNT = 1_000_000
MAX_MONEY = Decimal("999999999999.99")  # 12 digits before the point: what a money column holds
MAX_ID = 2**63 - 1
MAX_ITEMS = 100
MAX_AGE = 150
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)


# --- shared cleaners -----------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """The value as an error message quotes it: at most 40 characters (a fuzzer sends megabytes)."""
    try:
        text = str(value)
    except ValueError:  # an integer too long to print
        text = "…"
    return text if len(text) <= 40 else text[:39] + "…"


def _whole(value: Any) -> int | None:
    """An integer from a JSON number or a string of digits; None for anything else (booleans, 1.5, "x")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.lstrip("-").isdigit() and len(text) <= 20:
            return int(text)
    return None


def clean_days(value: Any) -> int:
    """A number of days, 1 to 3650."""
    days = _whole(value)
    if days is None or not 1 <= days <= MAX_DAYS:
        raise ValidationError(
            _("“%(value)s” is not a number of days from 1 to %(max)d.") % {"value": _shown(value), "max": MAX_DAYS}
        )
    return days


def clean_optional_days(params: dict[str, Any]) -> dict[str, Any]:
    """``{"days": N}`` for the last N days, or ``{"days": None}`` (left out): at any time."""
    raw = params.get("days")
    if raw is None or raw == "":
        return {"days": None}
    try:
        return {"days": clean_days(raw)}
    except ValidationError as exc:
        raise ValidationError({"days": exc.messages}) from None


def clean_count(value: Any) -> int:
    """A count, 0 to 1,000,000."""
    count = _whole(value)
    if count is None or not 0 <= count <= MAX_COUNT:
        raise ValidationError(
            _("“%(value)s” is not a whole number from 0 to %(max)d.") % {"value": _shown(value), "max": MAX_COUNT}
        )
    return count


def clean_money(value: Any) -> Decimal:
    """An amount of money in yuan: 0 to 999,999,999,999.99, at most two decimal places."""
    amount: Decimal | None = None
    if not isinstance(value, bool) and isinstance(value, int | float | str | Decimal):
        try:
            amount = Decimal(str(value).strip().replace(",", "")) if str(value).strip() else None
        except (InvalidOperation, ValueError):
            amount = None
    cents = Decimal("0.01")
    if amount is None or not amount.is_finite() or not 0 <= amount <= MAX_MONEY or amount != amount.quantize(cents):
        raise ValidationError(
            _("“%(value)s” is not an amount from ¥0 to ¥%(max)s with at most two decimal places.")
            % {"value": _shown(value), "max": f"{MAX_MONEY:,}"}
        )
    return amount.quantize(cents)


def clean_date(value: Any) -> dt.date:
    """A calendar date written 2026-03-01, from 1900 to 2999."""
    day: dt.date | None = None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        day = value
    elif isinstance(value, str) and len(value.strip()) == 10:
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(_("“%(value)s” is not a date; write it as 2026-03-01.") % {"value": _shown(value)})
    return day


def clean_ids(value: Any) -> list[int]:
    """One id or a list of ids (positive whole numbers), at most 100, as a sorted list without repeats."""
    items = value if isinstance(value, list | tuple) else [value]
    if not items or len(items) > MAX_ITEMS:
        raise ValidationError(_("Choose from 1 to %(max)d items.") % {"max": MAX_ITEMS})
    ids = set()
    for item in items:
        number = _whole(item)
        if number is None or not 1 <= number <= MAX_ID:
            raise ValidationError(_("“%(value)s” is not an id.") % {"value": _shown(item)})
        ids.add(number)
    return sorted(ids)


def clean_choices(choices: list[tuple[str, Any]]):
    """A cleaner of one choice or a list of them, each one of ``choices``' values, as a sorted list."""

    def clean(value: Any) -> list[str]:
        items = value if isinstance(value, list | tuple) else [value]
        if not items or len(items) > MAX_ITEMS:
            raise ValidationError(_("Choose from 1 to %(max)d items.") % {"max": MAX_ITEMS})
        known = {str(v) for v, _label in choices}
        picked = set()
        for item in items:
            text = item.strip() if isinstance(item, str) else item
            if not isinstance(text, str) or text not in known:
                raise ValidationError(_("“%(value)s” is not one of the choices.") % {"value": _shown(item)})
            picked.add(text)
        return sorted(picked)

    return clean


def clean_text(max_length: int):
    """A cleaner of a non-empty line of text of at most ``max_length`` characters."""

    def clean(value: Any) -> str:
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            raise ValidationError(_("Write the text to look for."))
        if len(text) > max_length:
            raise ValidationError(_("Write at most %(max)d characters.") % {"max": max_length})
        return text

    return clean


def clean_texts(max_length: int):
    """A cleaner of one text or a list of them (each non-empty, at most ``max_length``), as a sorted list."""
    one = clean_text(max_length)

    def clean(value: Any) -> list[str]:
        items = value if isinstance(value, list | tuple) else [value]
        if not items or len(items) > MAX_ITEMS:
            raise ValidationError(_("Choose from 1 to %(max)d items.") % {"max": MAX_ITEMS})
        return sorted({one(item) for item in items})

    return clean


def clean_yes(value: Any) -> bool:
    """The value of a yes/no field, whose operator says yes or no: left empty (or 1, true, yes)."""
    if value is None or value is True or str(value).strip().lower() in {"", "1", "true", "yes"}:
        return True
    raise ValidationError(_("The operator says yes or no; leave the value empty."))


def local_day_start(day: dt.date) -> dt.datetime:
    """The first instant of ``day`` in the local time zone, aware."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def last_days_start(days: int) -> dt.datetime:
    """The start of "the last ``days`` days": 00:00 local time of today − days + 1."""
    return local_day_start(timezone.localdate() - dt.timedelta(days=days - 1))


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _any(conditions: list[Q]) -> Q:
    """The conditions joined by OR (there is at least one: the cleaners refuse an empty list)."""
    q = conditions[0]
    for more in conditions[1:]:
        q |= more
    return q


def _in(operator: str, q: Q) -> Q:
    """``q`` for "is any of", its negation for "is none of"."""
    return ~q if operator == "not_in" else q


# --- conditions ----------------------------------------------------------------------------------------------


def _age_between(low: int, high: int) -> Q:
    """Customers whose age today (in completed years, local date) is from ``low`` to ``high``."""
    today = timezone.localdate()
    # age ≥ low: born on or before today's date ``low`` years ago; age ≤ high: born after it ``high + 1`` years ago
    return Q(
        birthday__isnull=False, birthday__lte=_years_before(today, low), birthday__gt=_years_before(today, high + 1)
    )


def _age_bands() -> list[tuple[str, Any]]:
    return [(key, label) for key, label, _lo, _hi in AGE_BANDS]


def age_band_condition(operator: str, value: list[str], params: dict[str, Any]) -> Q:
    bands = {key: (low, high) for key, _label, low, high in AGE_BANDS}
    return _in(operator, _any([_age_between(*bands[key]) for key in value]))


def clean_age_range(value: Any) -> list[int]:
    """``[from, to]`` years (or "30-40"), both 0 to 150, from ≤ to."""
    items: Any = value
    if isinstance(value, str) and "-" in value:
        items = value.split("-", 1)
    pair = [_whole(v) for v in items] if isinstance(items, list | tuple) and len(items) == 2 else []
    if len(pair) != 2 or any(v is None or not 0 <= v <= MAX_AGE for v in pair):
        raise ValidationError(
            _("Give the ages as two whole numbers from 0 to %(max)d, e.g. [30, 40].") % {"max": MAX_AGE}
        )
    low, high = int(pair[0] or 0), int(pair[1] or 0)
    if low > high:
        raise ValidationError(_("The first age must not be above the second."))
    return [low, high]


def age_condition(operator: str, value: list[int], params: dict[str, Any]) -> Q:
    return _age_between(value[0], value[1])


def _months() -> list[tuple[str, Any]]:
    return [(str(m), label) for m, label in MONTHS.items()]


def clean_months(value: Any) -> list[int]:
    """One month (1–12) or a list of them."""
    items = value if isinstance(value, list | tuple) else [value]
    months = {_whole(item) for item in items} if items and len(items) <= 12 else {None}
    if None in months or any(not 1 <= m <= 12 for m in months if m is not None):
        raise ValidationError(_("Give months as numbers from 1 to 12."))
    return sorted(m for m in months if m is not None)


def birthday_month_condition(operator: str, value: list[int], params: dict[str, Any]) -> Q:
    # birthday_md is month * 100 + day, indexed: a month is a range of it
    months = [Q(birthday_md__gte=month * 100 + 1, birthday_md__lte=month * 100 + 31) for month in value]
    return _in(operator, Q(birthday_md__isnull=False) & _any(months))


def _text_condition(column: str):
    def condition(operator: str, value: str, params: dict[str, Any]) -> Q:
        lookup = "icontains" if operator == "contains" else "exact"
        return Q(**{f"{column}__{lookup}": value})

    return condition


def _choice_condition(column: str):
    def condition(operator: str, value: list[str], params: dict[str, Any]) -> Q:
        return _in(operator, Q(**{f"{column}__in": value}))

    return condition


def clean_tags(value: Any) -> dict[str, list[Any]]:
    """Tags by id (numbers) or name (text), one or a list: ``{"ids": [...], "names": [...]}``."""
    items = value if isinstance(value, list | tuple) else [value]
    if not items or len(items) > MAX_ITEMS:
        raise ValidationError(_("Choose from 1 to %(max)d tags.") % {"max": MAX_ITEMS})
    ids, names = set(), set()
    for item in items:
        if isinstance(item, str) and item.strip():
            if len(item.strip()) > 50:
                raise ValidationError(_("“%(value)s” is not a tag name.") % {"value": _shown(item)})
            names.add(item.strip())
        elif isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= MAX_ID:
            ids.add(item)
        else:
            raise ValidationError(_("“%(value)s” is not a tag; give its id or name.") % {"value": _shown(item)})
    return {"ids": sorted(ids), "names": sorted(names)}


def tags_condition(operator: str, value: dict[str, list[Any]], params: dict[str, Any]) -> Q:
    tagged = Customer.tags.through.objects.filter(customer_id=OuterRef("pk")).filter(
        Q(tag_id__in=value["ids"]) | Q(tag__name__in=value["names"])
    )
    return _in(operator, Q(Exists(tagged)))


def key_account_condition(operator: str, value: bool, params: dict[str, Any]) -> Q:
    return Q(is_key_account=operator == "is_true")


def _ids_condition(column: str):
    def condition(operator: str, value: list[int], params: dict[str, Any]) -> Q:
        return _in(operator, Q(**{f"{column}__isnull": False, f"{column}__in": value}))

    return condition


def created_condition(operator: str, value: dt.date, params: dict[str, Any]) -> Q:
    """Before the day: until its 00:00 local; after it: from the next day's 00:00 local."""
    if operator == "before":
        return Q(created_at__lt=local_day_start(value))
    return Q(created_at__gte=local_day_start(value + dt.timedelta(days=1)))


def joined_condition(operator: str, value: int, params: dict[str, Any]) -> Q:
    q = Q(created_at__gte=last_days_start(value))
    return ~q if operator == "not_within_days" else q


# --- registration --------------------------------------------------------------------------------------------


def _store_choices() -> list[tuple[str, Any]]:
    from guanxi.accounts.models import Store

    return [(str(pk), name) for pk, name in Store.objects.order_by("code").values_list("pk", "name")]


def _owner_choices() -> list[tuple[str, Any]]:
    from guanxi.accounts.models import User

    users = User.objects.filter(is_active=True).order_by("username")
    return [(str(pk), name) for pk, name in users.values_list("pk", "username")]


def _gender_choices() -> list[tuple[str, Any]]:
    return list(Customer.Gender.choices)


def _income_choices() -> list[tuple[str, Any]]:
    return list(Customer.IncomeBand.choices)


GROUP = "profile"

FIELDS = [
    choice_field(
        GENDER,
        gettext_lazy("Gender"),
        _choice_condition("gender"),
        clean=clean_choices(_gender_choices()),
        choices=_gender_choices,
        group=GROUP,
        order=10,
    ),
    choice_field(
        AGE_BAND,
        gettext_lazy("Age band"),
        age_band_condition,
        clean=clean_choices(_age_bands()),
        choices=_age_bands,
        group=GROUP,
        order=11,
        help=gettext_lazy("Age today in completed years, from the birthday; customers without one are in no band."),
    ),
    number_field(
        AGE,
        gettext_lazy("Age"),
        age_condition,
        operators=("between",),
        clean=clean_age_range,
        group=GROUP,
        order=12,
        help=gettext_lazy("From and to, both included, e.g. [30, 40]; customers without a birthday are left out."),
    ),
    choice_field(
        BIRTHDAY_MONTH,
        gettext_lazy("Birthday month"),
        birthday_month_condition,
        clean=clean_months,
        choices=_months,
        group=GROUP,
        order=13,
    ),
    condition_field(
        REGION,
        gettext_lazy("Region"),
        "text",
        _text_condition("region"),
        operators=("eq", "contains"),
        clean=clean_text(64),
        group=GROUP,
        order=14,
    ),
    condition_field(
        OCCUPATION,
        gettext_lazy("Occupation"),
        "text",
        _text_condition("occupation"),
        operators=("eq", "contains"),
        clean=clean_text(64),
        group=GROUP,
        order=15,
    ),
    choice_field(
        INCOME_BAND,
        gettext_lazy("Income band"),
        _choice_condition("income_band"),
        clean=clean_choices(_income_choices()),
        choices=_income_choices,
        group=GROUP,
        order=16,
    ),
    choice_field(
        SOURCE,
        gettext_lazy("Source"),
        _choice_condition("source"),
        type="text",
        clean=clean_texts(32),
        group=GROUP,
        order=17,
        help=gettext_lazy("Where the customer came from, as recorded (e.g. import, order, counter)."),
    ),
    choice_field(
        TAGS,
        gettext_lazy("Tags"),
        tags_condition,
        type="tag",
        clean=clean_tags,
        group=GROUP,
        order=18,
        help=gettext_lazy("Tags by id or by name; “is none of” includes customers without tags."),
    ),
    flag_field(KEY_ACCOUNT, gettext_lazy("Key account"), key_account_condition, clean=clean_yes, group=GROUP, order=19),
    choice_field(
        STORE,
        gettext_lazy("Home store"),
        _ids_condition("home_store_id"),
        clean=clean_ids,
        choices=_store_choices,
        group=GROUP,
        order=20,
        help=gettext_lazy("Store ids; “is none of” includes customers without a home store."),
    ),
    choice_field(
        OWNER,
        gettext_lazy("Owner"),
        _ids_condition("owner_id"),
        clean=clean_ids,
        choices=_owner_choices,
        group=GROUP,
        order=21,
        help=gettext_lazy("Staff user ids; “is none of” includes customers without an owner."),
    ),
    date_field(
        CREATED,
        gettext_lazy("Customer since"),
        created_condition,
        clean=clean_date,
        group=GROUP,
        order=22,
        help=gettext_lazy(
            "The day the record was created; the day itself is neither before nor after it (local dates)."
        ),
    ),
    days_field(
        JOINED,
        gettext_lazy("Became a customer"),
        joined_condition,
        clean=clean_days,
        group=GROUP,
        order=23,
        help=gettext_lazy("When the record was created, in local calendar days: the last 1 day is today since 00:00."),
    ),
]


def register() -> None:
    for segment_field in FIELDS:
        register_segment_field(segment_field)
