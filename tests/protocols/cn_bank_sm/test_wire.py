"""The cn_bank_sm envelope: signing and encryption rules, and hostile bytes."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walletlink.errors import ProtocolError, SignatureError
from walletlink.protocols.cn_bank_sm._wire import (
    PROFILES,
    decrypt_biz,
    encrypt_biz,
    open_envelope,
    seal,
)
from walletlink.signing.sm import Sm2PrivateKey

KEY = Sm2PrivateKey.generate()
SM4 = bytes(range(16))


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_content_encryption_is_deterministic_and_distinct(name: str) -> None:
    """A rebuilt request carries the same bytes; different content gets a different iv."""
    profile = PROFILES[name]
    one = encrypt_biz(profile, SM4, {"outBizNo": "a", "amount": "1.00"})
    assert one == encrypt_biz(profile, SM4, {"amount": "1.00", "outBizNo": "a"})
    other = encrypt_biz(profile, SM4, {"outBizNo": "b", "amount": "1.00"})
    iv = 12 if profile.cipher == "sm4-gcm" else 16
    assert base64.b64decode(one)[:iv] != base64.b64decode(other)[:iv]
    assert decrypt_biz(profile, SM4, one) == {"outBizNo": "a", "amount": "1.00"}
    with pytest.raises(ProtocolError):
        decrypt_biz(profile, bytes(16), one)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_body_style_signs_the_sorted_fields_and_header_style_the_bytes(name: str) -> None:
    profile = PROFILES[name]
    headers, body = seal(profile, {"b": "2", "a": "1", "empty": ""}, KEY)
    assert open_envelope(profile, headers, body, KEY.public_key) == {
        "b": "2",
        "a": "1",
        "empty": "",
    }
    if profile.sign_location == "body":
        # Field order and empty values are outside the signed text.
        reordered = body.replace(b'"b":"2","a":"1"', b'"a":"1","b":"2"')
        open_envelope(profile, headers, reordered, KEY.public_key)
    else:
        with pytest.raises(SignatureError):
            open_envelope(profile, headers, body.replace(b'"b":"2"', b'"b": "2"'), KEY.public_key)
    with pytest.raises(SignatureError):
        open_envelope(profile, {}, body.replace(b'"1"', b'"9"'), KEY.public_key)


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=300), signature=st.text(max_size=100))
def test_hostile_envelopes_raise_signature_errors_only(body: bytes, signature: str) -> None:
    for profile in PROFILES.values():
        with pytest.raises(SignatureError):
            open_envelope(profile, {profile.sign_name: signature}, body, KEY.public_key)
