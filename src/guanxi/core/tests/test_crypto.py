"""Field encryption and blind indexes: what the stored data depends on must not drift."""

import hashlib
import hmac

import pytest
from cryptography.exceptions import InvalidTag
from django.test import override_settings

from guanxi.core.crypto import _derive, blind_index, decrypt, encrypt


def test_blind_index_is_the_keyed_hmac_of_purpose_and_value():
    # Rows on file were indexed with this definition; a faster implementation must give the same digest.
    from django.conf import settings

    key = _derive(settings.GUANXI_FIELD_KEY, b"blind-index")
    expected = hmac.new(key, b"phone\x00+8613800138000", hashlib.sha256).hexdigest()[:32]
    assert blind_index("phone", "+8613800138000") == expected
    assert blind_index("phone", "+8613800138000") == expected  # the cached key is not consumed by a call
    assert blind_index("email", "+8613800138000") != expected


def test_a_new_field_key_gives_new_indexes_and_cannot_read_old_ciphertext():
    token, index = encrypt("王秀英"), blind_index("phone", "+8613800138000")
    with override_settings(GUANXI_FIELD_KEY="another key of at least thirty-two characters"):
        assert blind_index("phone", "+8613800138000") != index
        with pytest.raises(InvalidTag):
            decrypt(token)
    assert decrypt(token) == "王秀英"
    assert blind_index("phone", "+8613800138000") == index
