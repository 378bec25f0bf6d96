"""Encryption at rest for personal identifiers, with keyed blind indexes for exact lookup.

Values are sealed with AES-256-GCM under a key derived (HKDF) from ``GUANXI_FIELD_KEY``; each
value gets a fresh nonce, so equal plaintexts never look equal in the table. Lookups use a
separate HMAC key: ``blind_index(purpose, value)`` is deterministic, so an index on it is as fast
as an index on the plaintext while revealing nothing without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Lookup

_VERSION = "g1:"


@lru_cache(maxsize=4)
def _derive(master: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"guanxi", info=info).derive(master.encode())


@lru_cache(maxsize=4)
def _keys_for(master: str) -> tuple[AESGCM, hmac.HMAC]:
    """The cipher and a keyed HMAC to copy, built once per key: building them is half the cost of a call."""
    blind = hmac.new(_derive(master, b"blind-index"), digestmod=hashlib.sha256)
    return AESGCM(_derive(master, b"field-encryption")), blind


def _keys() -> tuple[AESGCM, hmac.HMAC]:
    return _keys_for(settings.GUANXI_FIELD_KEY)


def encrypt(plaintext: str) -> str:
    aead, _ = _keys()
    nonce = os.urandom(12)
    return _VERSION + base64.b64encode(nonce + aead.encrypt(nonce, plaintext.encode(), None)).decode()


def decrypt(token: str) -> str:
    if not token.startswith(_VERSION):
        raise ValueError("not a Guanxi ciphertext")
    aead, _ = _keys()
    raw = base64.b64decode(token[len(_VERSION) :])
    return aead.decrypt(raw[:12], raw[12:], None).decode()


def blind_index(purpose: str, value: str) -> str:
    """A 128-bit keyed digest of an already-normalised value; the purpose keeps indexes apart."""
    _, keyed = _keys()
    digest = keyed.copy()
    digest.update(f"{purpose}\x00{value}".encode())
    return digest.hexdigest()[:32]


if TYPE_CHECKING:  # model fields are generic only in the stubs
    _TextField = models.TextField[str, str]
else:
    _TextField = models.TextField


class EncryptedTextField(_TextField):
    """A text column that holds only ciphertext; Python sees the plaintext."""

    def from_db_value(self, value: str | None, expression: Any, connection: BaseDatabaseWrapper) -> str | None:
        return value if value in (None, "") else decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)

    def get_lookup(self, lookup_name: str) -> type[Lookup[Any]] | None:
        if lookup_name not in ("isnull",):
            raise TypeError("Encrypted fields cannot be filtered on; filter on their blind index instead.")
        return super().get_lookup(lookup_name)
