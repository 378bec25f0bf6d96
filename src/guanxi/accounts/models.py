"""Staff, their roles, and the stores (branches) whose customers they may see."""

import hashlib

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Store(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    city = models.CharField(_("city"), max_length=64, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    reply_to_email = models.EmailField(_("reply-to e-mail"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    MANAGER = "manager", _("Manager")
    STORE_STAFF = "store_staff", _("Store staff")
    SERVICE_AGENT = "service_agent", _("Service agent")
    MARKETER = "marketer", _("Marketer")
    ANALYST = "analyst", _("Analyst")


#: Roles that see every store's customers; everyone else sees the stores they belong to.
ALL_STORE_ROLES = frozenset({Role.ADMIN})
#: Roles that may see phone numbers, e-mails and addresses unmasked.
FULL_CONTACT_ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.STORE_STAFF, Role.SERVICE_AGENT})


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.STORE_STAFF)
    stores = models.ManyToManyField(Store, verbose_name=_("stores"), blank=True, related_name="staff")
    phone = models.CharField(_("phone"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")

    @property
    def sees_all_stores(self) -> bool:
        return self.is_superuser or self.role in ALL_STORE_ROLES

    @property
    def sees_full_contacts(self) -> bool:
        return self.is_superuser or self.role in FULL_CONTACT_ROLES


def password_stamp(password_hash: str) -> str:
    """A fingerprint of the user's stored password hash: a new password (any way it is set) gives a new stamp."""
    return hashlib.sha256(password_hash.encode()).hexdigest()


class ApiToken(models.Model):
    """A staff member's API key. Only its SHA-256 is stored; the key is shown once, when it is created.

    A token is valid while it is not revoked, not expired, its user is active, and the user's password is
    the one it was issued under (``password_stamp``): changing the password, by any path, ends every token.
    A read-only token may only read (GET, HEAD, OPTIONS).
    """

    user = models.ForeignKey(User, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(_("key starts with"), max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    read_only = models.BooleanField(_("read-only"), default=False)
    password_stamp = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or self.user})"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def is_valid(self, *, now=None) -> bool:
        now = now or timezone.now()
        return (
            self.revoked_at is None
            and self.expires_at > now
            and self.user.is_active
            and self.password_stamp == password_stamp(self.user.password)
        )
