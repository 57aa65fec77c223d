"""Sorted-parameter (Alipay-style) signing, sync-response and notification verification."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from walletlink.errors import (
    AlgorithmNotAllowedError,
    ConfigurationError,
    ParseError,
    SignatureMismatchError,
    SignatureMissingError,
)
from walletlink.signing.params import (
    CHINA_TZ,
    alipay_cert_sn,
    alipay_request_params,
    alipay_root_cert_sn,
    china_timestamp,
    decrypt_content,
    encrypt_content,
    notification_content,
    parse_china_timestamp,
    sign_content,
    sign_notification,
    sign_params,
    sign_sync_response,
    verify_content,
    verify_notification,
    verify_notification_form,
    verify_sync_response,
)

VECTORS = Path(__file__).parent.parent / "vectors" / "alipay"
NOTIFY = json.loads((VECTORS / "notify_example.json").read_text(encoding="utf-8"))
NOW = datetime(2024, 5, 1, 4, 0, 0, tzinfo=UTC)
AES_KEY = base64.b64encode(b"0123456789abcdef").decode()


@cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _rsa2(text: str, key: rsa.RSAPrivateKey | None = None) -> str:
    raw = (key or _key()).sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


def _notify_params() -> dict[str, str]:
    return dict(item.split("=", 1) for item in NOTIFY["notify_query"].split("&"))


# ------------------------------------------------------------------------------ content rules


def test_notification_content_matches_the_documented_example() -> None:
    assert NOTIFY["expected_content"] == notification_content(_notify_params())


def test_request_content_keeps_sign_type_and_drops_sign_and_empties() -> None:
    params = {"b": "2", "a": "1", "sign_type": "RSA2", "sign": "x", "empty": "", "none": None}

    assert sign_content(params) == "a=1&b=2&sign_type=RSA2"
    assert notification_content(params) == "a=1&b=2"


def test_non_string_values_are_compact_json_and_keys_sort_by_ascii() -> None:
    params = {"biz_content": {"out_trade_no": "T1", "total_amount": "9.99"}, "B": 1, "a": "x"}

    expected = 'B=1&a=x&biz_content={"out_trade_no":"T1","total_amount":"9.99"}'
    assert expected == sign_content(params)


# ------------------------------------------------------------------------------ sign / verify


def test_sign_params_adds_rsa2_signature_over_the_request_content() -> None:
    signed = sign_params({"app_id": "2021", "method": "alipay.trade.query"}, _key())

    assert signed["sign_type"] == "RSA2"
    expected = _rsa2("app_id=2021&method=alipay.trade.query&sign_type=RSA2")
    assert expected == signed["sign"]  # PKCS#1 v1.5 is deterministic


def test_legacy_rsa_signing_is_refused_and_verification_is_opt_in() -> None:
    with pytest.raises(AlgorithmNotAllowedError):
        sign_params({"a": "1", "sign_type": "RSA"}, _key())
    legacy = hashes.SHA1()  # noqa: S303 - the legacy scheme under test
    sha1 = base64.b64encode(_key().sign(b"a=1", padding.PKCS1v15(), legacy)).decode()

    with pytest.raises(AlgorithmNotAllowedError):
        verify_content("a=1", sha1, _key().public_key(), sign_type="RSA")
    verify_content("a=1", sha1, _key().public_key(), sign_type="RSA", allow_legacy_rsa=True)


def test_wrong_key_type_is_refused() -> None:
    with pytest.raises(AlgorithmNotAllowedError):
        sign_params({"a": "1"}, ec.generate_private_key(ec.SECP256R1()))  # type: ignore[arg-type]


def test_verify_content_failures() -> None:
    public = _key().public_key()
    with pytest.raises(SignatureMissingError):
        verify_content("a=1", None, public)
    with pytest.raises(SignatureMismatchError):
        verify_content("a=2", _rsa2("a=1"), public)
    with pytest.raises(SignatureMismatchError):
        verify_content("a=1", "not base64!", public)
    with pytest.raises(AlgorithmNotAllowedError):
        verify_content("a=1", _rsa2("a=1"), public, sign_type="MD5")


@settings(max_examples=25, deadline=None)
@given(
    params=st.dictionaries(
        st.text(alphabet="abcdefghij_", min_size=1, max_size=8).filter(lambda k: k != "sign"),
        st.text(max_size=20),
        max_size=6,
    )
)
def test_sign_then_verify_round_trip(params: dict[str, str]) -> None:
    signed = sign_params(params, _key())

    verify_content(sign_content(signed), signed["sign"], _key().public_key())


# ------------------------------------------------------------------------------ notifications


def _signed_notification() -> dict[str, str]:
    params = _notify_params()
    params["sign"] = _rsa2(notification_content(params))
    return params


def test_notification_verifies_and_tampering_fails() -> None:
    params = _signed_notification()
    verify_notification(params, _key().public_key())

    for name in ("total_amount", "trade_status", "app_id"):
        tampered = params | {name: params[name] + "0"}
        with pytest.raises(SignatureMismatchError):
            verify_notification(tampered, _key().public_key())


def test_notification_sign_type_is_not_covered_but_still_selects_the_algorithm() -> None:
    params = _signed_notification()

    with pytest.raises(AlgorithmNotAllowedError):
        verify_notification(params | {"sign_type": "RSA"}, _key().public_key())


def test_notification_from_form_body() -> None:
    params = _signed_notification()
    body = urlencode(params).encode()

    decoded = verify_notification_form(body, _key().public_key())

    assert params == decoded
    with pytest.raises(SignatureMismatchError):
        verify_notification_form(body + b"&app_id=evil", _key().public_key())
    with pytest.raises(ParseError):
        verify_notification_form(b"\xff\xfe", _key().public_key())


# ------------------------------------------------------------------------------ sync responses


def _response(node: str, inner: str, key: rsa.RSAPrivateKey | None = None) -> str:
    return f'{{"{node}":{inner},"sign":"{_rsa2(inner, key)}"}}'


def test_sync_response_is_verified_over_the_exact_raw_substring() -> None:
    # Spacing, key order and escapes that a re-serialisation would change.
    inner = '{"code":"10000", "msg":"Success","trade_no":"2013\\/1","buyer":"\\u5f20"}'
    raw = _response("alipay_trade_query_response", inner)

    verified = verify_sync_response(raw.encode(), "alipay.trade.query", _key().public_key())

    assert verified.node == "alipay_trade_query_response"
    assert verified.content["trade_no"] == "2013/1"
    assert verified.signed


def test_sync_response_with_sign_first_and_whitespace() -> None:
    inner = '{"code":"10000","msg":"Success"}'
    raw = f'{{ "sign" : "{_rsa2(inner)}" ,\n "alipay_trade_query_response" : {inner} }}'

    assert verify_sync_response(raw, "alipay.trade.query", _key().public_key()).signed


def test_sync_response_tampered_or_wrong_key_fails() -> None:
    inner = '{"code":"10000","msg":"Success","total_amount":"9.99"}'
    raw = _response("alipay_trade_query_response", inner)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    with pytest.raises(SignatureMismatchError):
        verify_sync_response(raw.replace("9.99", "1.99"), "alipay.trade.query", _key().public_key())
    with pytest.raises(SignatureMismatchError):
        verify_sync_response(raw, "alipay.trade.query", other.public_key())


def test_duplicate_response_node_is_refused() -> None:
    inner = '{"code":"10000"}'
    raw = _response("alipay_trade_query_response", inner)
    doubled = raw[:-1] + ',"alipay_trade_query_response":{"code":"40004"}}'

    with pytest.raises(SignatureMismatchError):
        verify_sync_response(doubled, "alipay.trade.query", _key().public_key())


def test_error_response_signed_and_unsigned() -> None:
    inner = '{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"}'
    signed = _response("error_response", inner)

    result = verify_sync_response(signed, "alipay.trade.query", _key().public_key())
    unsigned = verify_sync_response(
        f'{{"error_response":{inner}}}', "alipay.trade.query", _key().public_key()
    )

    assert (result.node, result.signed) == ("error_response", True)
    assert (unsigned.content["code"], unsigned.signed) == ("40002", False)
    with pytest.raises(SignatureMissingError):
        verify_sync_response(
            f'{{"error_response":{inner}}}',
            "alipay.trade.query",
            _key().public_key(),
            allow_unsigned_error=False,
        )


def test_unsigned_success_response_is_refused() -> None:
    with pytest.raises(SignatureMissingError):
        verify_sync_response(
            '{"alipay_trade_query_response":{"code":"10000"}}',
            "alipay.trade.query",
            _key().public_key(),
        )


@pytest.mark.parametrize(
    "raw",
    ["", "[]", '{"a":1', '{"a" 1}', '{"a":1,}', '{"a":1} x', "{'a':1}", '{"other":{}}'],
)
def test_malformed_responses_are_parse_errors(raw: str) -> None:
    with pytest.raises(ParseError):
        verify_sync_response(raw, "alipay.trade.query", _key().public_key())


# ------------------------------------------------------------------------------ AES + time


@settings(max_examples=30, deadline=None)
@given(text=st.text(max_size=200))
def test_aes_round_trip(text: str) -> None:
    assert text == decrypt_content(encrypt_content(text, AES_KEY), AES_KEY)


def test_aes_is_cbc_pkcs7_with_a_zero_iv() -> None:
    """Pinned against the raw primitive: a zero IV makes the output deterministic."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    plain = b'{"a":1}' + bytes([9]) * 9
    enc = Cipher(algorithms.AES(b"0123456789abcdef"), modes.CBC(bytes(16))).encryptor()
    expected = base64.b64encode(enc.update(plain) + enc.finalize()).decode()

    assert expected == encrypt_content('{"a":1}', AES_KEY)


def test_aes_errors() -> None:
    with pytest.raises(ConfigurationError):
        encrypt_content("x", base64.b64encode(b"short").decode())
    wrong = base64.b64encode(b"fedcba9876543210").decode()
    with pytest.raises(ParseError):
        decrypt_content(encrypt_content("hello", AES_KEY), wrong)


def test_china_time_round_trip() -> None:
    assert china_timestamp(NOW) == "2024-05-01 12:00:00"
    assert parse_china_timestamp("2024-05-01 12:00:00") == NOW
    assert CHINA_TZ.utcoffset(None) == parse_china_timestamp("2024-05-01 12:00:00").utcoffset()
    with pytest.raises(ParseError):
        parse_china_timestamp("2024-05-01T12:00:00")
    with pytest.raises(ConfigurationError):
        china_timestamp(datetime(2024, 5, 1))


def test_request_params_with_encrypted_biz_content() -> None:
    params = alipay_request_params(
        app_id="2021000000000000",
        method="alipay.trade.precreate",
        biz_content={"out_trade_no": "T1", "total_amount": "9.99", "subject": "tea"},
        now=NOW,
        key=_key(),
        notify_url="https://wallet.example/notify",
        encrypt_key=AES_KEY,
    )

    assert params["encrypt_type"] == "AES"
    assert params["timestamp"] == "2024-05-01 12:00:00"
    biz = json.loads(decrypt_content(params["biz_content"], AES_KEY))
    assert biz["total_amount"] == "9.99"
    verify_content(sign_content(params), params["sign"], _key().public_key())


# -- the gateway's signers -------------------------------------------------------------------


def test_sign_notification_is_what_verify_notification_form_accepts() -> None:
    params = {"notify_id": "n1", "app_id": "2021", "biz_content": '{"status":"SUCCESS"}'}
    signed = sign_notification(params, _key())
    assert signed["sign_type"] == "RSA2"
    assert signed["sign"] == _rsa2(notification_content(signed))
    body = urlencode(signed).encode()
    assert signed == verify_notification_form(body, _key().public_key())


def test_sign_notification_verifies_with_an_independent_rsa_and_sign_string() -> None:
    """The rsaCheckV1 string built here from the rule (every parameter but sign and
    sign_type, sorted by name, k=v joined by &, values as they are) and checked with
    pycryptodome's PKCS#1 v1.5, which shares no code with OpenSSL."""
    from Cryptodome.Hash import SHA256
    from Cryptodome.PublicKey import RSA
    from Cryptodome.Signature import pkcs1_15

    params = {
        "notify_id": "2026010500222100000000001",
        "msg_method": "alipay.fund.trans.order.changed",
        "app_id": "2021000000000001",
        "biz_content": '{"out_biz_no":"wlk-1","status":"SUCCESS","remark":"李雷 & 韩梅梅=友"}',
        "utc_timestamp": "1767603660000",
        "charset": "utf-8",
        "version": "1.1",
    }
    signed = sign_notification(params, _key())
    text = "&".join(f"{k}={v}" for k, v in sorted(signed.items()) if k not in ("sign", "sign_type"))
    public = RSA.import_key(
        _key()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    digest = SHA256.new(text.encode())
    pkcs1_15.new(public).verify(digest, base64.b64decode(signed["sign"]))  # raises if bad
    with pytest.raises(ValueError, match="Invalid signature"):
        pkcs1_15.new(public).verify(
            SHA256.new(text.encode() + b" "), base64.b64decode(signed["sign"])
        )


def test_sign_notification_refuses_legacy_rsa() -> None:
    with pytest.raises(AlgorithmNotAllowedError):
        sign_notification({"a": "1", "sign_type": "RSA"}, _key())


def test_sign_sync_response_round_trip_plain_encrypted_and_with_cert_sn() -> None:
    node = {"code": "10000", "msg": "Success", "out_biz_no": "k1", "名": "李雷"}
    body = sign_sync_response("alipay.trade.query", node, _key())
    text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    expected = '{"alipay_trade_query_response":' + text + ',"sign":"' + _rsa2(text) + '"}'
    assert expected == body.decode()
    verified = verify_sync_response(body, "alipay.trade.query", _key().public_key())
    assert (node, None) == (verified.content, verified.cert_sn)
    encrypted = sign_sync_response(
        "alipay.trade.query", node, _key(), encrypt_key=AES_KEY, cert_sn="abc"
    )
    verified = verify_sync_response(encrypted, "alipay.trade.query", {"abc": _key().public_key()})
    assert node == json.loads(decrypt_content(verified.content, AES_KEY))
    assert verified.cert_sn == "abc"


def test_sign_sync_response_without_method_is_an_error_response() -> None:
    body = sign_sync_response(None, {"code": "40002"}, _key())
    assert verify_sync_response(body, "x.y", _key().public_key()).node == "error_response"


def test_the_reply_cert_sn_chooses_the_key_and_an_unknown_one_is_refused() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = {"old": other.public_key(), "new": _key().public_key()}
    body = sign_sync_response("a.b", {"code": "10000"}, _key(), cert_sn="new")
    assert verify_sync_response(body, "a.b", keys).cert_sn == "new"
    with pytest.raises(SignatureMismatchError, match="not installed"):
        verify_sync_response(body, "a.b", {"old": other.public_key()})
    # The SN picks the key: a reply naming the old certificate must verify under the old key.
    with pytest.raises(SignatureMismatchError):
        verify_sync_response(body.replace(b'"new"', b'"old"'), "a.b", keys)
    unnamed = sign_sync_response("a.b", {"code": "10000"}, _key())
    with pytest.raises(SignatureMissingError, match="alipay_cert_sn"):
        verify_sync_response(unnamed, "a.b", keys)


# -- certificate SNs -----------------------------------------------------------------------------


def test_root_cert_sn_of_the_published_alipay_root_chain() -> None:
    """alipayRootCert.crt (SM2, RSA R1, ECDSA E1, iTrusChina RSA G3) and the SN the SDKs'
    tests pin for it: only the two RSA-signed certificates count."""
    chain = (VECTORS / "alipay_root_cert.pem").read_text(encoding="ascii")
    expected = "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6"
    assert expected == alipay_root_cert_sn(chain)
    assert expected == alipay_root_cert_sn(chain.encode())


def _cert(serial: int) -> x509.Certificate:
    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ant Financial"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Certification Authority"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    start = datetime(2024, 1, 1, tzinfo=UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name("app"))
        .issuer_name(name("Ant Financial Certification Authority Class 1 R1"))
        .public_key(_key().public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
        .sign(_key(), hashes.SHA256())
    )


def test_cert_sn_is_md5_of_the_reversed_issuer_dn_and_the_decimal_serial() -> None:
    serial = 0x2019073100149263
    text = (
        "CN=Ant Financial Certification Authority Class 1 R1,OU=Certification Authority,"
        f"O=Ant Financial,C=CN{serial}"
    )
    assert hashlib.md5(text.encode(), usedforsecurity=False).hexdigest() == alipay_cert_sn(
        _cert(serial)
    )


def test_a_root_chain_without_rsa_or_unreadable_is_a_configuration_error() -> None:
    chain = (VECTORS / "alipay_root_cert.pem").read_text(encoding="ascii")
    blocks = chain.split("\n\n")
    with pytest.raises(ConfigurationError, match="no RSA certificate"):
        alipay_root_cert_sn(blocks[0] + "\n\n" + blocks[2])  # SM2 and ECDSA roots only
    broken = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    with pytest.raises(ConfigurationError, match="unreadable"):
        alipay_root_cert_sn(broken)
    with pytest.raises(ConfigurationError, match="no RSA"):
        alipay_root_cert_sn("")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_in_a_certificate_block_are_read_or_refused(der: bytes) -> None:
    block = "-----BEGIN CERTIFICATE-----\n" + base64.b64encode(der).decode() + "\n"
    try:
        sn = alipay_root_cert_sn(block + "-----END CERTIFICATE-----\n")
    except ConfigurationError:
        return
    assert len(sn) == 32
