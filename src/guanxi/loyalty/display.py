"""How the ledgers' stored codes read on pages: reasons and references in the viewer's language.

The ledgers store codes the services write ("order POS-0002", "checkout:buy-2", "refund:7") so that a
replay finds them again; people read words ("订单 POS-0002", "收银 POS-0002"). What staff typed
themselves (a payment reference, the reason of an adjustment) is shown as typed.
"""

from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

#: Reasons the services write, word for word.
_REASONS = {
    "first purchase": lambda: _("First purchase bonus"),
    "referral": lambda: _("Referral reward"),
    "expired": lambda: _("Points expired"),
    "enrol": lambda: _("Joined"),
    "upgrade": lambda: _("Upgraded"),
    "review": lambda: _("Yearly review"),
}


def reason_text(reason: str) -> str:
    """A ledger or tier-change reason as words; a reason staff typed is returned as typed."""
    if not reason or reason == "—":
        return reason
    if reason in _REASONS:
        return _REASONS[reason]()
    if reason.startswith("refund of order "):
        return _("Refund of order %(ref)s") % {"ref": reason.removeprefix("refund of order ")}
    if reason.startswith("order "):
        return pgettext("ledger", "Order %(ref)s") % {"ref": reason.removeprefix("order ")}
    return reason


def reference_text(reference: str, order_ref: str | None = None) -> str:
    """A ledger reference as words: what it came from, with the order's number when there is one."""
    kind, sep, rest = (reference or "").partition(":")
    number = order_ref or (f"#{rest}" if rest else "")
    if not sep:
        if reference == "first-purchase":
            return _("First purchase bonus")
        if reference == "enrol":
            return _("Joined")
        return reference
    if kind == "checkout":
        return _("Counter sale %(ref)s") % {"ref": number}
    if kind == "order":
        return pgettext("ledger", "Order %(ref)s") % {"ref": number}
    if kind in ("refund", "return"):
        if order_ref:
            return _("Refund of order %(ref)s") % {"ref": order_ref}
        return _("Refund #%(id)s") % {"id": rest}
    if kind == "referral":
        return _("Referral reward")
    if kind == "birthday":
        return _("Birthday gift %(year)s") % {"year": rest}
    if kind == "lot":
        return _("Expiry of earned points #%(id)s") % {"id": rest}
    return reference


def _choice_label(choices: Any, value: Any) -> Any:
    """The translated label of ``value``, which may be the code or the label written in English."""
    for code, label in choices:
        if value == code:
            return label
        with translation.override("en"):
            english = str(label)
        if value == english:
            return label
    return value


def points_timeline(data: dict[str, Any]) -> dict[str, Any]:
    from guanxi.loyalty.models import PointsEntry

    return {
        **data,
        "kind": _choice_label(PointsEntry.Kind.choices, data.get("kind")),
        "reason": reason_text(str(data.get("reason", ""))),
    }


def wallet_timeline(data: dict[str, Any]) -> dict[str, Any]:
    from guanxi.core.templatetags.money import format_money
    from guanxi.loyalty.models import WalletEntry

    return {
        **data,
        "kind": _choice_label(WalletEntry.Kind.choices, data.get("kind")),
        "amount": format_money(data.get("amount")),
        "balance": format_money(data.get("balance")),
    }


def status_timeline(data: dict[str, Any]) -> dict[str, Any]:
    from guanxi.loyalty.models import Membership

    return {
        **data,
        "status": _choice_label(Membership.Status.choices, data.get("status")),
        "reason": reason_text(str(data.get("reason", ""))),
    }


def money_timeline(*names: str):
    """A prepare function that shows the named amounts in the one money format."""

    def prepare(data: dict[str, Any]) -> dict[str, Any]:
        from guanxi.core.templatetags.money import format_money

        return {**data, **{name: format_money(data.get(name)) for name in names if name in data}}

    return prepare
