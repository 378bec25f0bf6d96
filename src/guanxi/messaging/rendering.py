"""Template variables, rendering, SMS composition (sign name, opt-out text) and segment counting."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

VARIABLE_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: The known variables: name -> (description, sample value for previews). Other apps add theirs with
#: ``variable_register`` in their AppConfig.ready().
VARIABLES: dict[str, tuple[Any, str]] = {
    "name": (_("Customer's name"), "王小明"),
    "store": (_("Home store"), "南京路店"),
    "amount": (_("Amount paid (¥)"), "268.00"),
    "discount": (_("Discount (¥)"), "20.00"),
    "balance": (_("Stored-value balance (¥)"), "1,200.00"),
    "wallet_balance": (_("Stored-value balance (¥)"), "1,200.00"),
    "points": (_("Points"), "268"),
    "points_earned": (_("Points earned"), "268"),
    "points_balance": (_("Points balance"), "3,580"),
    "coupon_code": (_("Coupon code"), "GX8K2P"),
    "order_ref": (_("Order number"), "A20260101-0001"),
    "code": (_("One-time code"), "482913"),
    "ticket_ref": (_("Ticket number"), "T-10023"),
    "date": (_("Date"), "2026-01-01"),
    "time": (_("Time"), "14:30"),
    "tier": (_("Membership tier"), "金卡"),
    "url": (_("Link"), "https://example.com/s/abc"),
}


def variable_register(name: str, description: Any, sample: str) -> None:
    VARIABLES[name] = (description, sample)


def variables_in(text: str) -> list[str]:
    """The variables of ``text`` in order of first appearance (Tencent's parameter order)."""
    seen: dict[str, None] = {}
    for match in VARIABLE_RE.finditer(text or ""):
        seen.setdefault(match.group(1), None)
    return list(seen)


def check_variables(text: str, *, field: str = "body") -> None:
    unknown = [name for name in variables_in(text) if name not in VARIABLES]
    if unknown:
        raise ValidationError(
            {
                field: [
                    ValidationError(
                        _("Unknown variable %(names)s. Known variables: %(known)s."),
                        code="unknown_variable",
                        params={
                            "names": ", ".join("{%s}" % n for n in unknown),  # noqa: UP031
                            "known": ", ".join(sorted(VARIABLES)),
                        },
                    )
                ]
            }
        )


def render(text: str, context: dict[str, Any]) -> str:
    """Replace each {variable}; a variable without a value renders empty, never as the raw placeholder."""

    def value(match: re.Match) -> str:
        got = context.get(match.group(1))
        return "" if got is None else str(got)

    return VARIABLE_RE.sub(value, text or "")


def sample_context(customer: Any | None = None) -> dict[str, str]:
    context = {name: sample for name, (_desc, sample) in VARIABLES.items()}
    if customer is not None:
        context["name"] = customer.name
        store = getattr(customer, "home_store", None)
        if store is not None:
            context["store"] = store.name
    return context


# --- SMS ---------------------------------------------------------------------------------------

SINGLE_SEGMENT = 70
MULTI_SEGMENT = 67


def sms_compose(body: str, *, purpose: str, sign_name: str | None = None, opt_out: str | None = None) -> str:
    """The text the phone shows: 【sign】body, plus the opt-out text on marketing."""
    sign = settings.GUANXI_SMS_SIGN_NAME if sign_name is None else sign_name
    text = body.strip()
    if purpose == "marketing":
        suffix = settings.GUANXI_SMS_OPT_OUT_TEXT if opt_out is None else opt_out
        if suffix and not text.endswith(suffix):
            text = f"{text}{suffix}"
    return f"【{sign}】{text}" if sign else text


def sms_segments(text: str) -> int:
    """70 characters fit one segment; longer messages are split into parts of 67 (the sign counts)."""
    length = len(text)
    if length <= SINGLE_SEGMENT:
        return 1
    return math.ceil(length / MULTI_SEGMENT)


@dataclass(frozen=True)
class Preview:
    subject: str
    text: str
    length: int
    segments: int


def preview(template: Any, customer: Any | None = None, context: dict | None = None) -> Preview:
    values = sample_context(customer)
    values.update(context or {})
    body = render(template.body, values)
    if template.channel == "sms":
        body = sms_compose(body, purpose=template.purpose)
        return Preview(subject="", text=body, length=len(body), segments=sms_segments(body))
    return Preview(subject=render(template.subject, values), text=body, length=len(body), segments=1)


# --- Quiet hours -------------------------------------------------------------------------------


def _parse_hhmm(value: str) -> dt.time:
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


def quiet_hours_end(now: dt.datetime, quiet: tuple[str, str] | None = None) -> dt.datetime | None:
    """If ``now`` is inside the quiet hours, the (aware) moment they end; otherwise None."""
    start_s, end_s = quiet or settings.GUANXI_MESSAGING_QUIET_HOURS
    start, end = _parse_hhmm(start_s), _parse_hhmm(end_s)
    if start == end:
        return None
    local = now.astimezone(ZoneInfo(settings.TIME_ZONE))
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    end_day = local.date()
    if start > end and t >= start:
        end_day += dt.timedelta(days=1)
    return dt.datetime.combine(end_day, end, tzinfo=local.tzinfo)


def describe_quiet_hours() -> str:
    start, end = settings.GUANXI_MESSAGING_QUIET_HOURS
    return gettext("%(start)s–%(end)s") % {"start": start, "end": end}
