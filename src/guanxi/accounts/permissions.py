"""Who may change what: the one table of role rules, and the checks every page and API view asks.

Customer-owned rows (customers, their contacts, orders, memberships, ledgers, messages, consents) are
changed by whoever may *see* the customer: ``Customer.objects.visible_to(user)`` decides, in the
selectors and services. Reference data is shared by every store, so a change to it reaches other
stores' customers; it is changed only by the roles listed here, whatever stores they belong to.
``docs/development/architecture.md`` ("Who may change what") states the same table for people.

Pages and API views ask the same functions here (``can``, ``require``, ``can_change``,
``OperationPermission``); none keeps a role list, or a wrapper of these, of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from rest_framework import permissions

from guanxi.accounts.models import Role, User

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    #: ``request.user``: a staff member, or the anonymous user of a request that did not sign in.
    RequestUser = User | AnonymousUser | None

_HQ = frozenset({Role.ADMIN})
_PROGRAM = frozenset({Role.ADMIN, Role.MANAGER, Role.MARKETER})
_CATALOGUE = frozenset({Role.ADMIN, Role.MANAGER})

#: model label (``app_label.model_name``) -> roles that may create, change or delete its rows.
REFERENCE_DATA_ROLES: dict[str, frozenset[str]] = {
    "accounts.store": _HQ,
    "customers.customattribute": _HQ,
    "customers.tag": _PROGRAM,
    "sales.product": _CATALOGUE,
    "sales.productcategory": _CATALOGUE,
    "loyalty.programsettings": _PROGRAM,
    "loyalty.tier": _PROGRAM,
    "loyalty.topuprule": _PROGRAM,
    "loyalty.coupontemplate": _PROGRAM,
    "messaging.messagetemplate": _PROGRAM,
}

#: Operations that are not reference data but reach beyond one counter sale: issuing coupons,
#: adjusting points, refunding stored value, changing a member's status, resending and bulk-sending messages.
OPERATION_ROLES: dict[str, frozenset[str]] = {
    "loyalty.manage": _PROGRAM,
    "messaging.manage": _PROGRAM,
    "analytics.refresh": frozenset({Role.ADMIN, Role.MANAGER, Role.ANALYST}),
    # segments: who may look at them (list, count, members), and who may build, freeze and delete them
    "campaigns.segments_view": frozenset({Role.ADMIN, Role.MANAGER, Role.MARKETER, Role.ANALYST}),
    "campaigns.segments": _PROGRAM,
    # Campaigns: who sees them at all, who drafts (and tests, pauses, cancels), who approves (审批) and resumes.
    "campaigns.view": frozenset({Role.ADMIN, Role.MANAGER, Role.MARKETER, Role.ANALYST}),
    "campaigns.draft": _PROGRAM,
    "campaigns.approve": frozenset({Role.ADMIN, Role.MANAGER}),
    # Care automation: who sees rules, plans and the trace; who writes rules and plans; who works care tasks.
    "care.view": frozenset({Role.ADMIN, Role.MANAGER, Role.MARKETER, Role.ANALYST, Role.STORE_STAFF}),
    "care.manage": _PROGRAM,
    "care.tasks": frozenset({Role.ADMIN, Role.MANAGER, Role.MARKETER, Role.STORE_STAFF, Role.SERVICE_AGENT}),
}


def _label(model_or_label: Any) -> str:
    if isinstance(model_or_label, str):
        return model_or_label.lower()
    label: str = model_or_label._meta.label_lower
    return label


def is_reference_data(model_or_label: Any) -> bool:
    return _label(model_or_label) in REFERENCE_DATA_ROLES


def can_change(user: RequestUser, model_or_label: Any) -> bool:
    """May ``user`` create, change or delete rows of this reference-data model?"""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    roles = REFERENCE_DATA_ROLES.get(_label(model_or_label))
    if roles is None:
        raise KeyError(f"{_label(model_or_label)} is not reference data; add it to REFERENCE_DATA_ROLES")
    return user.is_superuser or user.role in roles


def can(user: RequestUser, operation: str) -> bool:
    """May ``user`` perform this operation (a key of ``OPERATION_ROLES``)?"""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or user.role in OPERATION_ROLES[operation]


def require(user: RequestUser, operation: str) -> None:
    """``can`` for a view that goes no further without it: ``PermissionDenied``, a 403 in pages and in the API."""
    if not can(user, operation):
        raise PermissionDenied


def signed_in(user: RequestUser) -> User:
    """The staff member behind a request that passed authentication, as a service's ``actor``.

    An anonymous user is refused, never turned into ``None``: a service reads ``None`` as the system, which
    sees every store.
    """
    if not isinstance(user, User) or not user.is_authenticated:
        raise PermissionDenied
    return user


class OperationPermission(permissions.BasePermission):
    """DRF permission for one operation of ``OPERATION_ROLES``: subclass it and set ``operation``."""

    operation: ClassVar[str]

    def has_permission(self, request: Any, view: Any) -> bool:
        return can(request.user, self.operation)


def view_model(view: Any) -> Any:
    """The model a DRF view works on, from its ``queryset`` attribute or ``reference_model``."""
    model = getattr(view, "reference_model", None)
    if model is not None:
        return model
    queryset = getattr(view, "queryset", None)
    return queryset.model if queryset is not None else None


class ReferenceDataPermission(permissions.BasePermission):
    """Default API permission: anyone signed in reads; writes to reference data need the roles above.

    It is in ``DEFAULT_PERMISSION_CLASSES``, so a new viewset over a reference model is guarded
    without doing anything; views over customer-owned rows pass through (their querysets scope them).
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        model = view_model(view)
        if model is None or not is_reference_data(model):
            return True
        return can_change(request.user, model)


def is_store_scoped(user: RequestUser) -> bool:
    """True for staff bound to their stores; False for those who see every store and for the system (None)."""
    return isinstance(user, User) and user.is_authenticated and not user.sees_all_stores


def store_scope(user: RequestUser) -> Q | None:
    """The one visibility rule for work staff keep per store (campaign segments, campaigns): a condition on a
    queryset's ``store`` and ``created_by``, or None when ``user`` sees none of it (signed out, inactive).

    Who sees every store (``sees_all_stores``: admins) sees all of it. Store-bound staff see what belongs to one
    of their stores; what belongs to no store when its author shares a store with them (drafted by a colleague
    for several stores or for head office); and what they made themselves, wherever it belongs. As customers'
    ``visible_to``, roles are not asked here: the caller adds the role its pages need.
    """
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return None
    if user.sees_all_stores:
        return Q()
    memberships = User.stores.through.objects
    store_ids = memberships.filter(user_id=user.pk).values("store_id")
    colleague_ids = memberships.filter(store_id__in=store_ids).values("user_id")
    return Q(store_id__in=store_ids) | Q(store__isnull=True, created_by_id__in=colleague_ids) | Q(created_by_id=user.pk)


def may_use_store(user: RequestUser, store_id: int | None) -> bool:
    """May ``user`` put a customer or an order in this store? Store-bound staff: only their own stores."""
    if not is_store_scoped(user) or not isinstance(user, User):  # (a store-scoped user is always a User)
        return True
    if store_id is None:
        return False
    return user.stores.filter(pk=store_id).exists()


def may_assign_owner(user: RequestUser, owner_id: int | None) -> bool:
    """May ``user`` make ``owner_id`` a customer's owner (大客户 account manager)? The owner sees the customer
    wherever they work, so store-bound staff may name only themselves or colleagues of one of their stores."""
    if not is_store_scoped(user) or not isinstance(user, User) or owner_id is None or owner_id == user.pk:
        return True
    store_ids = user.stores.values("pk")
    return User.objects.filter(pk=owner_id, stores__in=store_ids).exists()


def default_store_id(user: RequestUser) -> int | None:
    """The store a store-bound user's new records go to when none is named: their only store, if one."""
    if not is_store_scoped(user) or not isinstance(user, User):
        return None
    ids = list(user.stores.values_list("pk", flat=True)[:2])
    return ids[0] if len(ids) == 1 else None
