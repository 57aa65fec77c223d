"""RFC 9421: Appendix B vectors, component values, policy failures and round trips."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walletlink.errors import (
    AlgorithmNotAllowedError,
    DigestMismatchError,
    KeyNotFoundError,
    ReplayError,
    SignatureError,
    SignatureExpiredError,
    SignatureMismatchError,
    SignatureMissingError,
    ValidationError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.signing import (
    Component,
    HttpMessage,
    KeyRing,
    Rfc9421Signer,
    Rfc9421Verifier,
    SigningKey,
    generate_ec_key,
    generate_ed25519_key,
    generate_rsa_key,
    hmac_key,
    load_pem,
    signature_base,
)
from walletlink.signing.rfc9421 import parse_signatures

VECTORS = Path(__file__).parent.parent / "vectors" / "rfc9421"
DATA: dict[str, Any] = json.loads((VECTORS / "appendix_b.json").read_text())
CREATED = dt.datetime.fromtimestamp(DATA["created"], dt.UTC)


def vector_key(name: str, alg: str) -> SigningKey:
    if name == "test-shared-secret":
        secret = base64.b64decode((VECTORS / f"{name}.b64").read_text())
        return hmac_key(secret, kid=name, alg=alg)
    return load_pem((VECTORS / f"{name}.pem").read_text(), kid=name, alg=alg)


def vector_request() -> HttpMessage:
    req = DATA["request"]
    return HttpMessage(
        method=req["method"], url=req["url"], headers=req["headers"], body=req["body"].encode()
    )


def vector_response() -> HttpMessage:
    resp = DATA["response"]
    return HttpMessage(status=resp["status"], headers=resp["headers"], body=resp["body"].encode())


def signed(message: HttpMessage, case: dict[str, Any]) -> HttpMessage:
    return message.with_headers(
        {
            "Signature-Input": f"{case['label']}={case['signature_input']}",
            "Signature": f"{case['label']}=:{case['signature']}:",
        }
    )


def case_message(case: dict[str, Any]) -> HttpMessage:
    return signed(vector_response() if case["message"] == "response" else vector_request(), case)


def verifier_for(case: dict[str, Any], **options: Any) -> Rfc9421Verifier:
    key = vector_key(case["key"], case["alg"])
    public = key if key.secret is not None else key.public()
    return Rfc9421Verifier(keys=public, require_created=True, **options)


CASES = {case["label"]: case for case in DATA["cases"]}


@pytest.mark.parametrize("label", sorted(CASES))
def test_appendix_b_signatures_verify(label: str) -> None:
    case = CASES[label]
    verified = verifier_for(case).verify(case_message(case), now=CREATED)
    assert [label] == [v.label for v in verified]
    assert case["alg"] == verified[0].algorithm


@pytest.mark.parametrize("label", ["sig-b25", "sig-b26"])
def test_deterministic_vectors_are_reproduced_byte_for_byte(label: str) -> None:
    case = CASES[label]
    key = vector_key(case["key"], case["alg"])
    components = [item for item in case["signature_input"].split(")")[0][1:].split(" ") if item]
    signer = Rfc9421Signer(
        keys=key,
        components=components,
        optional_components=(),
        content_digest=(),
        label=label,
    )
    headers = signer.signature_headers(vector_request(), CREATED)
    assert f"{label}={case['signature_input']}" == headers["Signature-Input"]
    assert f"{label}=:{case['signature']}:" == headers["Signature"]


def test_b26_signature_base_is_exact() -> None:
    message = case_message(CASES["sig-b26"])
    ((signature_input, _),) = parse_signatures(message).values()
    expected = (
        '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
        '"@method": POST\n'
        '"@path": /foo\n'
        '"@authority": example.com\n'
        '"content-type": application/json\n'
        '"content-length": 18\n'
        '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" '
        '"content-length");created=1618884473;keyid="test-key-ed25519"'
    )
    assert expected.encode() == signature_base(message, signature_input)


def test_b22_query_param_and_tag_base() -> None:
    message = case_message(CASES["sig-b22"])
    ((signature_input, _),) = parse_signatures(message).values()
    base = signature_base(message, signature_input).decode()
    assert base.splitlines()[2] == '"@query-param";name="Pet": dog'
    assert signature_input.tag == "header-example"


def test_verifier_checks_every_signature_when_no_label_is_chosen() -> None:
    b25, b26 = CASES["sig-b25"], CASES["sig-b26"]
    message = vector_request().with_headers(
        {
            "Signature-Input": f"sig-b25={b25['signature_input']}, "
            f"sig-b26={b26['signature_input']}",
            "Signature": f"sig-b25=:{b25['signature']}:, sig-b26=:{b26['signature']}:",
        }
    )
    ring = KeyRing.of(
        vector_key("test-shared-secret", "hmac-sha256"),
        vector_key("test-key-ed25519", "ed25519").public(),
    )
    verified = Rfc9421Verifier(keys=ring).verify(message, now=CREATED)
    assert [v.label for v in verified] == ["sig-b25", "sig-b26"]
    only = Rfc9421Verifier(keys=ring, label="sig-b26").verify(message, now=CREATED)
    assert [v.label for v in only] == ["sig-b26"]


# ----------------------------------------------------------------------- component values


def value_of(message: HttpMessage, identifier: str) -> str:
    from walletlink.signing._components import component_value, to_component

    return component_value(message, to_component(identifier))


def test_derived_components_of_a_request() -> None:
    message = HttpMessage(method="POST", url="https://WWW.Example.com:443/path?param=value")
    expected = {
        "@method": "POST",
        "@target-uri": "https://www.example.com/path?param=value",
        "@authority": "www.example.com",
        "@scheme": "https",
        "@request-target": "/path?param=value",
        "@path": "/path",
        "@query": "?param=value",
    }
    assert expected == {name: value_of(message, name) for name in expected}


@pytest.mark.parametrize(
    ("url", "target_uri", "authority", "request_target"),
    [
        # RFC 9110 §4.2.3: empty path is "/"; §7.1: no userinfo, no fragment in the target.
        (
            "https://user:pw@bank.example?x=1#frag",
            "https://bank.example/?x=1",
            "bank.example",
            "/?x=1",
        ),
        ("HTTPS://Bank.Example:443", "https://bank.example/", "bank.example", "/"),
        (
            "http://bank.example:80/a%2Fb?q=%41",
            "http://bank.example/a%2Fb?q=%41",
            "bank.example",
            "/a%2Fb?q=%41",
        ),
        ("https://bank.example:0443/p", "https://bank.example/p", "bank.example", "/p"),
        ("https://bank.example:/p?", "https://bank.example/p?", "bank.example", "/p?"),
        ("https://[::1]:8443/p", "https://[::1]:8443/p", "[::1]:8443", "/p"),
        ("https://u@[FE80::1]:443", "https://[fe80::1]/", "[fe80::1]", "/"),
    ],
)
def test_target_uri_components_are_normalised(
    url: str, target_uri: str, authority: str, request_target: str
) -> None:
    message = HttpMessage(method="GET", url=url)
    expected = {
        "@target-uri": target_uri,
        "@authority": authority,
        "@request-target": request_target,
        "@scheme": target_uri.partition(":")[0],
    }
    assert expected == {name: value_of(message, name) for name in expected}


def test_userinfo_never_reaches_the_signature_base() -> None:
    """Credentials in a URL are not sent as part of the target, so they are never signed."""
    key = hmac_key(b"0123456789abcdef0123456789abcdef", kid="h")
    signer = Rfc9421Signer(keys=key, components=("@method", "@target-uri", "@authority"))
    with_creds = HttpMessage(method="GET", url="https://alice:s3cret@bank.example/p#x")
    plain = HttpMessage(method="GET", url="https://bank.example/p")
    signed = with_creds.with_headers(signer.signature_headers(with_creds, CREATED))
    assert "s3cret" not in str(signed.headers)
    Rfc9421Verifier(keys=key).verify(plain.with_headers(dict(signed.headers)), now=CREATED)


@pytest.mark.parametrize("url", ["https://bank.example:x/p", "https://[::1/p", "https://:443/p"])
def test_malformed_authority_is_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        value_of(HttpMessage(method="GET", url=url), "@authority")


def test_empty_path_and_query_and_non_default_port() -> None:
    message = HttpMessage(method="GET", url="http://example.com:8080")
    assert (
        value_of(message, "@path"),
        value_of(message, "@query"),
        value_of(message, "@authority"),
    ) == ("/", "?", "example.com:8080")


def test_query_param_values_are_re_encoded() -> None:
    """RFC 9421 §2.2.8 example, including a name that needs encoding and an empty value."""
    url = (
        "https://example.com/parameters?var=this%20is%20a%20big%0Amultiline%20value"
        "&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something&qux="
    )
    message = HttpMessage(method="GET", url=url)
    assert (
        value_of(message, '"@query-param";name="var"') == "this%20is%20a%20big%0Amultiline%20value"
    )
    assert value_of(message, '"@query-param";name="bar"') == "with%20plus%20whitespace"
    assert value_of(message, '"@query-param";name="fa%C3%A7ade%22%3A%20"') == "something"
    assert value_of(message, '"@query-param";name="qux"') == ""
    with pytest.raises(SignatureMissingError):
        value_of(message, '"@query-param";name="absent"')


def test_repeated_query_param_cannot_be_signed() -> None:
    message = HttpMessage(method="GET", url="https://example.com/?a=1&a=2")
    with pytest.raises(SignatureError):
        value_of(message, '"@query-param";name="a"')


def test_header_fields_multiple_lines_obs_fold_and_empty() -> None:
    """RFC 9421 §2.1 examples: lines joined by ", ", obs-fold becomes one space."""
    message = HttpMessage(
        method="GET",
        url="https://example.com/",
        headers=[
            ("Cache-Control", "    max-age=60"),
            ("Cache-Control", "   must-revalidate"),
            ("Example-Header", "value, with, lots"),
            ("X-Obs-Fold-Header", "Obsolete\r\n    line folding."),
            ("X-Empty-Header", ""),
        ],
    )
    assert value_of(message, "cache-control") == "max-age=60, must-revalidate"
    assert value_of(message, "x-obs-fold-header") == "Obsolete line folding."
    assert value_of(message, "x-empty-header") == ""
    assert value_of(message, "example-header") == "value, with, lots"


def test_structured_field_parameters_sf_key_and_bs() -> None:
    """RFC 9421 §2.1.1–§2.1.3 examples."""
    message = HttpMessage(
        method="GET",
        url="https://example.com/",
        headers=[
            ("Example-Dict", " a=1,    b=2;x=1;y=2,   c=(a   b   c), d"),
            ("Example-Header", "value, with, lots"),
            ("Example-Header", "of, commas"),
        ],
    )
    assert value_of(message, '"example-dict";sf') == "a=1, b=2;x=1;y=2, c=(a b c), d"
    assert value_of(message, '"example-dict";key="a"') == "1"
    assert value_of(message, '"example-dict";key="d"') == "?1"
    assert value_of(message, '"example-dict";key="c"') == "(a b c)"
    assert (
        value_of(message, '"example-header";bs') == ":dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:"
    )
    with pytest.raises(SignatureMissingError):
        value_of(message, '"example-dict";key="zz"')


def test_status_and_req_on_a_response() -> None:
    request = HttpMessage(method="POST", url="https://example.com/foo", headers={"X-A": "1"})
    response = HttpMessage(status=200, headers={}, request=request)
    assert value_of(response, "@status") == "200"
    assert value_of(response, '"@method";req') == "POST"
    assert value_of(response, '"x-a";req') == "1"
    with pytest.raises(SignatureError):
        value_of(request, "@status")
    with pytest.raises(SignatureError):
        value_of(response, "@method")


def test_missing_header_is_an_error() -> None:
    with pytest.raises(SignatureMissingError):
        value_of(HttpMessage(method="GET", url="https://example.com/"), "date")


# ----------------------------------------------------------------------- sign + verify

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
ED = generate_ed25519_key("ed")
ALL_COMPONENTS = ("@method", "@authority", "@path", "@query", "date", "x-id")


def request_message(body: bytes | None = b'{"amount":"1.00"}') -> HttpMessage:
    return HttpMessage(
        method="POST",
        url="https://bank.example/v1/transfers?x=1",
        headers={
            "Date": "Wed, 01 May 2024 12:00:00 GMT",
            "X-Id": "abc",
            "Content-Type": "application/json",
        },
        body=body,
    )


def sign_ed(message: HttpMessage, **options: Any) -> HttpMessage:
    signer = Rfc9421Signer(keys=ED, components=ALL_COMPONENTS, **options)
    return signer.sign_message(message, NOW)


def verifier(**options: Any) -> Rfc9421Verifier:
    return Rfc9421Verifier(keys=ED.public(), clock=lambda: NOW, **options)


def test_signed_request_covers_content_digest_and_verifies() -> None:
    message = sign_ed(request_message())
    (verified,) = verifier(required_components=("content-digest", "@method")).verify(message)
    assert '"content-digest"' in verified.components
    assert (message.header("Content-Digest") or "").startswith("sha-256=:")


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("method", "PUT"),
        ("url", "https://bank.example/v1/transfers?x=2"),
        ("url", "https://other.example/v1/transfers?x=1"),
        ("url", "https://bank.example/v2/transfers?x=1"),
        ("Date", "Wed, 01 May 2024 12:00:01 GMT"),
        ("X-Id", "abd"),
        ("Content-Type", "text/plain"),
        ("Content-Digest", "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"),
    ],
)
def test_each_covered_component_tampered_fails(change: str, value: str) -> None:
    import attrs

    message = sign_ed(request_message())
    if change in ("method", "url"):
        tampered = attrs.evolve(message, **{change: value})
    else:
        tampered = message.with_headers({change: value})
    with pytest.raises(SignatureMismatchError):
        verifier().verify(tampered)


def test_tampered_body_fails_on_the_digest() -> None:
    import attrs

    tampered = attrs.evolve(sign_ed(request_message()), body=b'{"amount":"9.00"}')
    with pytest.raises(DigestMismatchError):
        verifier().verify(tampered)


def test_wrong_key_fails() -> None:
    other = generate_ed25519_key("ed")
    message = sign_ed(request_message())
    with pytest.raises(SignatureMismatchError):
        Rfc9421Verifier(keys=other.public(), clock=lambda: NOW).verify(message)


def test_unknown_keyid_fails() -> None:
    message = sign_ed(request_message())
    with pytest.raises(KeyNotFoundError):
        Rfc9421Verifier(keys=generate_ed25519_key("other").public()).verify(message, now=NOW)


def test_expired_signature_fails() -> None:
    message = sign_ed(request_message(), expires_in=dt.timedelta(seconds=60))
    verifier().verify(message, now=NOW + dt.timedelta(seconds=60))
    with pytest.raises(SignatureExpiredError):
        verifier(require_expires=True).verify(message, now=NOW + dt.timedelta(seconds=120))


def test_too_old_and_future_created_fail() -> None:
    message = sign_ed(request_message())
    with pytest.raises(SignatureExpiredError):
        verifier(max_age=dt.timedelta(minutes=1)).verify(message, now=NOW + dt.timedelta(minutes=2))
    with pytest.raises(SignatureExpiredError):
        verifier().verify(message, now=NOW - dt.timedelta(minutes=5))
    verifier().verify(message, now=NOW - dt.timedelta(seconds=10))  # within the clock skew


def test_missing_required_component_fails() -> None:
    message = sign_ed(request_message())
    with pytest.raises(SignatureMissingError):
        verifier(required_components=("@target-uri",)).verify(message)


def test_missing_signature_headers_fail() -> None:
    with pytest.raises(SignatureMissingError):
        verifier().verify(request_message())


def test_replayed_nonce_fails() -> None:
    nonces = iter(["n1", "n1"])
    seen: set[str] = set()
    strict = verifier(nonce_check=seen, require_nonce=True)
    strict.verify(sign_ed(request_message(), nonce_factory=lambda: next(nonces)))
    with pytest.raises(ReplayError):
        strict.verify(sign_ed(request_message(), nonce_factory=lambda: next(nonces)))
    with pytest.raises(SignatureMissingError):
        strict.verify(sign_ed(request_message()))


def test_nonce_callable() -> None:
    message = sign_ed(request_message(), nonce_factory=lambda: "once")
    with pytest.raises(ReplayError):
        verifier(nonce_check=lambda nonce: False).verify(message)


def test_hmac_secret_never_verifies_an_rsa_signature() -> None:
    """alg confusion: an RSA public key's bytes used as an HMAC secret under the same kid."""
    rsa_key = generate_rsa_key("k", bits=2048)
    message = Rfc9421Signer(keys=rsa_key, components=ALL_COMPONENTS).sign_message(
        request_message(), NOW
    )
    confused = hmac_key(rsa_key.public_key_pem(), kid="k")
    with pytest.raises((AlgorithmNotAllowedError, SignatureMismatchError)):
        Rfc9421Verifier(keys=confused).verify(message, now=NOW)
    hmac_forged = Rfc9421Signer(keys=confused, components=ALL_COMPONENTS, include_alg=True)
    with pytest.raises(AlgorithmNotAllowedError):
        Rfc9421Verifier(keys=rsa_key.public()).verify(
            hmac_forged.sign_message(request_message(), NOW), now=NOW
        )


def test_declared_alg_that_disagrees_with_the_key_is_refused() -> None:
    key = generate_rsa_key("k", alg="rsa-pss-sha512")
    lying = Rfc9421Signer(
        keys=generate_rsa_key("k", alg="rsa-v1_5-sha256"),
        components=ALL_COMPONENTS,
        include_alg=True,
    ).sign_message(request_message(), NOW)
    with pytest.raises(AlgorithmNotAllowedError):
        Rfc9421Verifier(keys=key.public()).verify(lying, now=NOW)


def test_alg_none_and_disallowed_algorithms_are_refused() -> None:
    message = sign_ed(request_message())
    none = message.with_headers(
        {"Signature-Input": message.header("Signature-Input") + ';alg="none"'}  # type: ignore[operator]
    )
    with pytest.raises(AlgorithmNotAllowedError):
        verifier().verify(none)
    with pytest.raises(AlgorithmNotAllowedError):
        verifier(allowed_algorithms=frozenset({"rsa-pss-sha512"})).verify(message)


@pytest.mark.parametrize(
    "signature_input",
    [
        'sig1=("@method" "@path";created=1',
        'sig1="@method"',
        "sig1=(@method)",
        'sig1=("@method" "@method");created=1714564800;keyid="ed"',
        'sig1=("@Method");created=1714564800;keyid="ed"',
        'sig1=("@method");created="yesterday";keyid="ed"',
        'sig2=("@method");created=1714564800;keyid="ed"',
    ],
)
def test_malformed_signature_input_fails(signature_input: str) -> None:
    message = sign_ed(request_message()).with_headers({"Signature-Input": signature_input})
    with pytest.raises(SignatureError):
        verifier().verify(message)


@pytest.mark.parametrize(
    "key_factory",
    [
        lambda: generate_ec_key("k"),
        lambda: generate_rsa_key("k", alg="rsa-v1_5-sha256"),
        lambda: generate_rsa_key("k"),
        lambda: hmac_key(b"0123456789abcdef0123456789abcdef", kid="k"),
    ],
)
def test_every_algorithm_round_trips(key_factory: Any) -> None:
    key: SigningKey = key_factory()
    message = Rfc9421Signer(keys=key, components=ALL_COMPONENTS).sign_message(
        request_message(), NOW
    )
    public = key if key.secret is not None else key.public()
    (verified,) = Rfc9421Verifier(keys=public).verify(message, now=NOW)
    assert key.kid == verified.kid


def test_ecdsa_signature_is_raw_r_s() -> None:
    key = generate_ec_key("k")
    message = Rfc9421Signer(keys=key, components=ALL_COMPONENTS).sign_message(
        request_message(), NOW
    )
    ((_, signature),) = parse_signatures(message).values()
    assert len(signature) == 64


def test_second_label_keeps_the_first_and_resigning_replaces() -> None:
    first = sign_ed(request_message())
    hmac_signer = Rfc9421Signer(
        keys=hmac_key(b"k" * 32, kid="h"), components=ALL_COMPONENTS, label="sig2"
    )
    both = hmac_signer.sign_message(first, NOW)
    again = hmac_signer.sign_message(both, NOW + dt.timedelta(seconds=1))
    assert list(parse_signatures(again)) == ["sig1", "sig2"]
    ring = KeyRing.of(ED.public(), hmac_key(b"k" * 32, kid="h"))
    assert len(Rfc9421Verifier(keys=ring).verify(again, now=NOW)) == 2


def test_request_signer_hook_on_prepared_request() -> None:
    request = PreparedRequest.json("POST", "/v1/transfers", {"a": 1}, params=(("q", "1"),))
    signer = Rfc9421Signer(keys=ED)
    sent = signer(request, "https://bank.example/v1/transfers", NOW)
    assert {"Content-Digest", "Signature-Input", "Signature"} <= set(sent.headers)
    message = HttpMessage.from_request(sent, "https://bank.example/v1/transfers")
    assert message.url == "https://bank.example/v1/transfers?q=1"
    (verified,) = Rfc9421Verifier(
        keys=ED.public(), required_components=("@method", "@path", "content-digest")
    ).verify(message, now=NOW)
    assert '"content-type"' in verified.components


def test_response_verifier_hook_with_req_component() -> None:
    request = PreparedRequest(method="GET", path="/v1/transfers/1")
    response = RawResponse(
        status=200,
        headers={"Content-Type": "application/json"},
        body=b"{}",
        url="https://bank.example/v1/transfers/1",
        request=request,
    )
    message = HttpMessage.from_response(response)
    signer = Rfc9421Signer(
        keys=ED,
        components=("@status", '"@method";req', '"@path";req', "content-digest"),
        optional_components=(),
    )
    added = signer.signature_headers(message, NOW)
    signed_response = RawResponse(
        status=200,
        headers={**response.headers, **added},
        body=b"{}",
        url=response.url,
        request=request,
    )
    Rfc9421Verifier(keys=ED.public(), required_components=("@status",))(signed_response, NOW)
    tampered = RawResponse(
        status=201, headers=signed_response.headers, body=b"{}", url=response.url, request=request
    )
    with pytest.raises(SignatureMismatchError):
        Rfc9421Verifier(keys=ED.public())(tampered, NOW)


def test_component_parse_round_trip() -> None:
    component = Component.parse('"@query-param";name="Pet"')
    assert (component.name, component.param("name")) == ("@query-param", "Pet")
    assert component.identifier == '"@query-param";name="Pet"'


_header_names = st.from_regex(r"x-[a-z]{1,8}", fullmatch=True)
_header_values = st.from_regex(r"[!-~]([ -~]{0,20}[!-~])?", fullmatch=True)
_paths = st.lists(st.from_regex(r"[A-Za-z0-9_.~-]{1,8}", fullmatch=True), max_size=4)


@settings(max_examples=40, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=_paths,
    headers=st.dictionaries(_header_names, _header_values, max_size=4),
    body=st.one_of(st.none(), st.binary(max_size=200)),
)
def test_property_sign_then_verify(
    method: str, path: list[str], headers: dict[str, str], body: bytes | None
) -> None:
    message = HttpMessage(
        method=method, url="https://bank.example/" + "/".join(path), headers=headers, body=body
    )
    components = ("@method", "@target-uri", *headers)
    signer = Rfc9421Signer(keys=ED, components=components)
    verified = Rfc9421Verifier(keys=ED.public()).verify(signer.sign_message(message, NOW), NOW)
    assert ("content-digest" in verified[0].components[-1]) == (body is not None)
