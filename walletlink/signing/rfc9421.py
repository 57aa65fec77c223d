"""RFC 9421 HTTP Message Signatures, with RFC 9530 ``Content-Digest``.

:class:`Rfc9421Signer` signs requests (it is a client ``RequestSigner``) and responses;
:class:`Rfc9421Verifier` checks them (it is a client ``ResponseVerifier`` and what a mock bank
runs on incoming requests). The signature base is built exactly as RFC 9421 §2.5 says;
``Signature-Input`` and ``Signature`` are Structured Field dictionaries keyed by label.

The verifier never trusts the message to pick its algorithm: the algorithm is the one bound to
the key (its ``alg`` hint, else its type), a declared ``alg`` that disagrees is refused, and a
key of the wrong type can never verify (an HMAC secret never checks an RSA signature).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable, Iterable, MutableSet
from typing import Any, Final, TypeAlias, TypeVar

import attrs

from walletlink.errors import (
    AlgorithmNotAllowedError,
    ParseError,
    ReplayError,
    SignatureError,
    SignatureExpiredError,
    SignatureMissingError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.signing import _sf
from walletlink.signing._algorithms import Algorithm, algorithm, default_algorithm
from walletlink.signing._components import Component, component_value, to_component
from walletlink.signing._keyinput import keyring
from walletlink.signing._message import HttpMessage, replace_headers
from walletlink.signing.digest import content_digest, verify_content_digest
from walletlink.signing.keys import KeyRing, SigningKey

_P = TypeVar("_P", int, str)

__all__ = [
    "RFC9421_ALGORITHMS",
    "Component",
    "HttpMessage",
    "NonceCheck",
    "Rfc9421Signer",
    "Rfc9421Verifier",
    "SignatureInput",
    "VerifiedSignature",
    "parse_signatures",
    "signature_base",
]

RFC9421_ALGORITHMS: Final = frozenset(
    {
        "hmac-sha256",
        "ed25519",
        "ecdsa-p256-sha256",
        "ecdsa-p384-sha384",
        "rsa-pss-sha512",
        "rsa-v1_5-sha256",
    }
)

NonceCheck: TypeAlias = MutableSet[str] | Callable[[str], bool]
"""Replay guard: a set of nonces seen so far, or a callable returning ``True`` for a new one."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen
class SignatureInput:
    """One label's ``Signature-Input`` member: covered components plus parameters, in order."""

    label: str
    components: tuple[Component, ...]
    params: _sf.Params

    @classmethod
    def from_member(cls, label: str, member: _sf.Member) -> SignatureInput:
        if not isinstance(member, _sf.InnerList):
            raise SignatureError(f"Signature-Input {label!r} is not an inner list")
        components = []
        for item in member.items:
            if not isinstance(item.value, str) or isinstance(item.value, _sf.Token):
                raise SignatureError(f"Signature-Input {label!r}: component is not a string")
            components.append(Component(item.value, tuple(item.params.items())))
        if len({c.identifier for c in components}) != len(components):
            raise SignatureError(f"Signature-Input {label!r} covers a component twice")
        if any(c.name == "@signature-params" for c in components):
            raise SignatureError("@signature-params must not be a covered component")
        return cls(label, tuple(components), dict(member.params))

    @property
    def serialized(self) -> str:
        """The ``@signature-params`` value: the inner list, strictly serialised."""
        inner = " ".join(c.identifier for c in self.components)
        return f"({inner}){_sf.serialize_params(self.params)}"

    def _param(self, name: str, kind: type[_P]) -> _P | None:
        value = self.params.get(name)
        if value is None or type(value) is kind:  # the common case, decided without isinstance
            return value
        if not isinstance(value, kind) or isinstance(value, bool):
            raise SignatureError(f"signature parameter {name!r} has the wrong type")
        return value

    @property
    def created(self) -> int | None:
        return self._param("created", int)

    @property
    def expires(self) -> int | None:
        return self._param("expires", int)

    @property
    def nonce(self) -> str | None:
        return self._param("nonce", str)

    @property
    def keyid(self) -> str | None:
        return self._param("keyid", str)

    @property
    def alg(self) -> str | None:
        return self._param("alg", str)

    @property
    def tag(self) -> str | None:
        return self._param("tag", str)


def signature_base(message: HttpMessage, signature_input: SignatureInput) -> bytes:
    """The exact bytes RFC 9421 §2.5 signs for ``signature_input`` over ``message``."""
    return _base(message, signature_input.components, signature_input.serialized)


def _base(message: HttpMessage, components: tuple[Component, ...], serialized: str) -> bytes:
    """:func:`signature_base` with the ``@signature-params`` value already serialised."""
    return _join_base(_component_lines(message, components), serialized)


def _component_lines(message: HttpMessage, components: tuple[Component, ...]) -> list[str]:
    return [f"{c.identifier}: {component_value(message, c)}" for c in components]


def _join_base(lines: list[str], serialized: str) -> bytes:
    lines.append(f'"@signature-params": {serialized}')
    text = "\n".join(lines)
    if not text.isascii():
        raise SignatureError("signature base is not ASCII")
    return text.encode("ascii")


def _parse_field(message: HttpMessage, name: str) -> dict[str, _sf.Member]:
    value = message.header(name)
    if value is None:
        raise SignatureMissingError(f"{name} header is missing")
    try:
        return _sf.parse_dictionary(value)
    except ParseError as exc:
        raise SignatureError(f"malformed {name}: {exc.message}") from None


def parse_signatures(message: HttpMessage) -> dict[str, tuple[SignatureInput, bytes]]:
    """Every label's input and signature bytes; a label in only one field is an error."""
    return {label: parsed[:2] for label, parsed in _parse_signatures(message).items()}


# (input, signature bytes, the input's ``@signature-params`` serialisation, the covered
# component identifiers)
_Parsed: TypeAlias = tuple[SignatureInput, bytes, str, tuple[str, ...]]


def _parse_signatures(message: HttpMessage) -> dict[str, _Parsed]:
    inputs = message.header("Signature-Input")
    signatures = message.header("Signature")
    if inputs is not None and signatures is not None:
        fast = _parse_canonical(inputs, signatures)
        if fast is not None:
            return fast
    return {
        label: (si, signature, si.serialized, tuple(c.identifier for c in si.components))
        for label, (si, signature) in _parse_strictly(message).items()
    }


def _parse_strictly(message: HttpMessage) -> dict[str, tuple[SignatureInput, bytes]]:
    inputs = _parse_field(message, "Signature-Input")
    signatures = _parse_field(message, "Signature")
    if set(inputs) != set(signatures):
        raise SignatureMissingError("Signature and Signature-Input carry different labels")
    parsed = {}
    for label, member in inputs.items():
        raw = signatures[label]
        if not isinstance(raw, _sf.Item) or not isinstance(raw.value, bytes):
            raise SignatureError(f"Signature {label!r} is not a byte sequence")
        parsed[label] = (SignatureInput.from_member(label, member), raw.value)
    return parsed


# ---- Fast path for the canonical shapes signers emit ----------------------------------
#
# ``label=("@method" …);created=…;keyid="…"`` members and ``label=:base64:`` members, joined
# by ", ". The covered-component list of a peer is the same on every message, so it is parsed
# strictly (by the full parser and ``SignatureInput.from_member``'s checks) the first time it
# is seen and remembered; parameters are matched by patterns that admit only canonical
# integers and escape-free strings, so their text is already the strict serialisation. Any
# other shape, or any failure, returns ``None`` and the strict path runs from the start and
# raises exactly what it always raised.

_CANONICAL_INT = r"0|-?[1-9][0-9]{0,14}"
_INPUT_MEMBER = re.compile(
    rf'({_sf.KEY_PATTERN})=(\((?:[^()"\\]++|{_sf.PLAIN_STRING_PATTERN})*+\))'
    rf"((?:;{_sf.KEY_PATTERN}=(?:{_sf.PLAIN_STRING_PATTERN}|{_CANONICAL_INT}))*)(, |\Z)"
)
_INPUT_PARAM = re.compile(rf';({_sf.KEY_PATTERN})=(?:"([^"]*)"|(-?[0-9]+))')
_SIGNATURE_MEMBER = re.compile(rf"({_sf.KEY_PATTERN})=:({_sf.B64_PATTERN}):(, |\Z)")
_Covered: TypeAlias = tuple[tuple[Component, ...], str, tuple[str, ...]]
_COVERED_CACHE: dict[str, _Covered] = {}
_COVERED_CACHE_SIZE = 256


def _covered_list(inner: str) -> _Covered | None:
    """The components of an inner-list text and their canonical ``(…)``, checked once."""
    try:
        return _COVERED_CACHE[inner]
    except KeyError:
        pass
    try:
        (member,) = _sf.parse_list(inner)
        if not isinstance(member, _sf.InnerList) or member.params:
            raise ParseError("not a bare inner list")
        components = SignatureInput.from_member("", member).components
        identifiers = tuple(c.identifier for c in components)
        found = (components, f"({' '.join(identifiers)})", identifiers)
    except (ParseError, SignatureError, ValueError):
        return None  # not cached: the strict path reports it with its label
    if len(_COVERED_CACHE) >= _COVERED_CACHE_SIZE:
        _COVERED_CACHE.clear()
    _COVERED_CACHE[inner] = found
    return found


def _parse_canonical(inputs: str, signatures: str) -> dict[str, _Parsed] | None:
    input_members = _sf.match_members(_INPUT_MEMBER, inputs)
    signature_members = _sf.match_members(_SIGNATURE_MEMBER, signatures)
    if input_members is None or signature_members is None:
        return None
    by_label: dict[str, bytes] = {}
    for match in signature_members:
        try:
            by_label[match.group(1)] = _sf.decode_byte_sequence(match.group(2))
        except ValueError:
            return None
    labels = [match.group(1) for match in input_members]
    if len(by_label) != len(signature_members) or set(labels) != set(by_label):
        return None  # repeated or unpaired labels: the strict path decides
    if len(set(labels)) != len(labels):
        return None
    parsed: dict[str, _Parsed] = {}
    for match in input_members:
        label, inner, param_text = match.group(1, 2, 3)
        covered = _covered_list(inner)
        if covered is None:
            return None
        params: _sf.Params = {}
        for name, text, number in _INPUT_PARAM.findall(param_text):
            if name in params:
                return None
            params[name] = int(number) if number else text
        components, canonical, identifiers = covered
        si = SignatureInput(label, components, params)
        parsed[label] = (si, by_label[label], canonical + param_text, identifiers)
    return parsed


def _covered(components: Iterable[str | Component]) -> tuple[Component, ...]:
    return tuple(to_component(c) for c in components)


def _merge_dictionary(existing: str | None, label: str, member: _sf.Member) -> str:
    """Add (or replace) ``label`` in a dictionary field without touching other labels."""
    fresh = f"{label}={_sf.serialize_member(member)}"
    if not existing:
        return fresh
    try:
        members = _sf.parse_dictionary(existing)
    except ParseError as exc:
        raise SignatureError(f"existing signature field is malformed: {exc.message}") from None
    members.pop(label, None)
    return ", ".join(filter(None, [_sf.serialize_dictionary(members), fresh]))


def _keyring(value: KeyRing | SigningKey) -> KeyRing:
    return keyring(value, "RFC 9421 signing")


@attrs.frozen(kw_only=True)
class Rfc9421Signer:
    """Signs messages with the current key of ``keys``; usable as a client ``RequestSigner``.

    ``components`` are always covered (a missing header is an error); ``optional_components``
    are covered when the message has them. With ``content_digest`` set, a ``Content-Digest``
    is computed over the body and covered whenever there is a body.
    """

    keys: KeyRing = attrs.field(converter=_keyring)
    components: tuple[Component, ...] = attrs.field(
        default=("@method", "@authority", "@path", "@query"), converter=_covered
    )
    optional_components: tuple[Component, ...] = attrs.field(
        default=("content-type", "content-digest"), converter=_covered
    )
    label: str = "sig1"
    content_digest: tuple[str, ...] = ("sha-256",)
    include_alg: bool = False
    expires_in: dt.timedelta | None = None
    nonce_factory: Callable[[], str] | None = None
    tag: str | None = None
    # Per signer: the optional components not already covered, then, per pattern of which of
    # them a message has, the covered tuple and its serialised inner list.
    _plans: dict[object, Any] = attrs.field(init=False, factory=dict, repr=False, eq=False)

    def _plan(self, message: HttpMessage) -> tuple[tuple[Component, ...], str]:
        plans = self._plans
        candidates = plans.get("candidates")
        if candidates is None:
            candidates = plans["candidates"] = tuple(
                c for c in self.optional_components if c not in self.components
            )
        present = tuple([c.present_in(message) for c in candidates])
        plan: tuple[tuple[Component, ...], str] | None = plans.get(present)
        if plan is None:
            covered = self.components + tuple(
                c for c, here in zip(candidates, present, strict=True) if here
            )
            plan = plans[present] = (covered, f"({' '.join(c.identifier for c in covered)})")
        return plan

    def _params(self, key: SigningKey, alg: Algorithm, now: dt.datetime) -> _sf.Params:
        created = int(now.timestamp())
        params: _sf.Params = {"created": created}
        if self.expires_in is not None:
            params["expires"] = created + int(self.expires_in.total_seconds())
        params["keyid"] = key.kid
        if self.nonce_factory is not None:
            params["nonce"] = self.nonce_factory()
        if self.include_alg:
            params["alg"] = alg.name
        if self.tag is not None:
            params["tag"] = self.tag
        return params

    def sign_message(self, message: HttpMessage, now: dt.datetime) -> HttpMessage:
        """``message`` with ``Signature-Input``, ``Signature`` (and ``Content-Digest``) set."""
        return message.with_headers(self.signature_headers(message, now))

    def signature_headers(self, message: HttpMessage, now: dt.datetime) -> dict[str, str]:
        """The header fields to add to ``message`` so that it carries this signature."""
        key = self.keys.current
        alg = default_algorithm(key)
        added: dict[str, str] = {}
        if self.content_digest and message.body is not None:
            added["Content-Digest"] = content_digest(message.body, self.content_digest)
            message = message.with_headers(added)
        covered, inner = self._plan(message)
        params = self._params(key, alg, now)
        lines = _component_lines(message, covered)
        serialized = inner + _sf.serialize_params(params)
        signature = alg.sign(key, _join_base(lines, serialized))
        encoded = base64.b64encode(signature).decode()
        existing_input = message.header("Signature-Input")
        existing_signature = message.header("Signature")
        if existing_input is None and existing_signature is None:
            # The common case: one fresh signature, no re-parse of what we just built.
            added["Signature-Input"] = f"{self.label}={serialized}"
            added["Signature"] = f"{self.label}=:{encoded}:"
            return added
        member = _sf.InnerList(tuple(_sf.Item(c.name, dict(c.params)) for c in covered), params)
        added["Signature-Input"] = _merge_dictionary(existing_input, self.label, member)
        added["Signature"] = _merge_dictionary(existing_signature, self.label, _sf.Item(signature))
        return added

    def __call__(self, request: PreparedRequest, url: str, now: dt.datetime) -> PreparedRequest:
        """The client hook: ``request`` with the signature headers added."""
        added = self.signature_headers(HttpMessage.from_request(request, url), now)
        return attrs.evolve(request, headers=replace_headers(request.headers, added))


@attrs.frozen
class VerifiedSignature:
    """What a successful verification established."""

    label: str
    kid: str
    algorithm: str
    components: tuple[str, ...]
    created: int | None
    expires: int | None
    nonce: str | None
    tag: str | None


@attrs.frozen(kw_only=True)
class Rfc9421Verifier:
    """Verifies RFC 9421 signatures under a policy; raises, never returns a bool.

    ``label`` picks one signature; without it every signature present must verify.
    ``nonce_check`` turns on replay protection: a nonce already seen is a
    :class:`ReplayError`. Usable as a client ``ResponseVerifier``.
    """

    keys: KeyRing = attrs.field(converter=_keyring)
    required_components: tuple[Component, ...] = attrs.field(default=(), converter=_covered)
    allowed_algorithms: frozenset[str] = RFC9421_ALGORITHMS
    label: str | None = None
    max_age: dt.timedelta | None = dt.timedelta(minutes=5)
    clock_skew: dt.timedelta = dt.timedelta(seconds=30)
    require_created: bool = True
    require_expires: bool = False
    nonce_check: NonceCheck | None = None
    require_nonce: bool = False
    tag: str | None = None
    check_content_digest: bool = True
    clock: Callable[[], dt.datetime] = _utc_now

    def verify(
        self, message: HttpMessage, now: dt.datetime | None = None
    ) -> tuple[VerifiedSignature, ...]:
        """Verify the chosen signature(s) of ``message``; any failure raises."""
        signatures = _parse_signatures(message)
        if self.label is not None:
            if self.label not in signatures:
                raise SignatureMissingError(f"no signature labelled {self.label!r}")
            signatures = {self.label: signatures[self.label]}
        moment = now or self.clock()
        return tuple(self._verify_one(message, parsed, moment) for parsed in signatures.values())

    def __call__(self, response: RawResponse, now: dt.datetime) -> None:
        """The client hook: verify a signed reply (``req`` components use its request)."""
        self.verify(HttpMessage.from_response(response), now)

    def _verify_one(
        self, message: HttpMessage, parsed: _Parsed, now: dt.datetime
    ) -> VerifiedSignature:
        si, signature, serialized, identifiers = parsed
        self._check_policy(si, now)
        keyid = si.keyid
        if keyid is None:
            raise SignatureMissingError(f"signature {si.label!r} has no keyid")
        key = self.keys.get(keyid)
        alg = self._algorithm_for(key, si.alg)
        alg.verify(key, _base(message, si.components, serialized), signature)
        if self.check_content_digest:
            _check_covered_digests(message, si)
        self._check_nonce(si)
        return VerifiedSignature(
            label=si.label,
            kid=key.kid,
            algorithm=alg.name,
            components=identifiers,
            created=si.created,
            expires=si.expires,
            nonce=si.nonce,
            tag=si.tag,
        )

    def _check_policy(self, si: SignatureInput, now: dt.datetime) -> None:
        if self.required_components:
            covered = set(si.components)
            missing = [c.identifier for c in self.required_components if c not in covered]
            if missing:
                raise SignatureMissingError(
                    f"signature {si.label!r} does not cover {', '.join(missing)}"
                )
        if self.tag is not None and si.tag != self.tag:
            raise SignatureError(f"signature {si.label!r} has tag {si.tag!r}, wanted {self.tag!r}")
        self._check_times(si, now)
        if self.require_nonce and si.nonce is None:
            raise SignatureMissingError(f"signature {si.label!r} has no nonce")

    def _check_times(self, si: SignatureInput, now: dt.datetime) -> None:
        stamp = now.timestamp()
        skew = self.clock_skew.total_seconds()
        created, expires = si.created, si.expires
        if created is None and self.require_created:
            raise SignatureMissingError(f"signature {si.label!r} has no created time")
        if expires is None and self.require_expires:
            raise SignatureMissingError(f"signature {si.label!r} has no expires time")
        if created is not None:
            if created > stamp + skew:
                raise SignatureExpiredError(f"signature {si.label!r} was created in the future")
            if self.max_age is not None and stamp - created > self.max_age.total_seconds() + skew:
                raise SignatureExpiredError(f"signature {si.label!r} is older than the max age")
        if expires is not None and stamp > expires + skew:
            raise SignatureExpiredError(f"signature {si.label!r} has expired")

    def _algorithm_for(self, key: SigningKey, declared: str | None) -> Algorithm:
        if declared is not None and declared not in RFC9421_ALGORITHMS:
            raise AlgorithmNotAllowedError(f"alg {declared[:40]!r} is not an RFC 9421 algorithm")
        if key.alg is not None and declared is not None and declared != key.alg:
            raise AlgorithmNotAllowedError(
                f"declared alg {declared!r} disagrees with key {key.kid!r} ({key.alg})"
            )
        bound = (
            algorithm(key.alg)
            if key.alg
            else (algorithm(declared) if declared else default_algorithm(key))
        )
        bound.check_key(key)
        if bound.name not in self.allowed_algorithms:
            raise AlgorithmNotAllowedError(f"algorithm {bound.name!r} is not allowed here")
        return bound

    def _check_nonce(self, si: SignatureInput) -> None:
        if self.nonce_check is None or si.nonce is None:
            return
        if callable(self.nonce_check):
            fresh = self.nonce_check(si.nonce)
        else:
            fresh = si.nonce not in self.nonce_check
            self.nonce_check.add(si.nonce)
        if not fresh:
            raise ReplayError(f"nonce of signature {si.label!r} was seen before")


def _check_covered_digests(message: HttpMessage, si: SignatureInput) -> None:
    """A valid signature over a stale digest is still a tampered body: recompute it."""
    for c in si.components:
        if c.name == "content-digest":
            source = message.request if c.param("req") else message
            assert source is not None  # building the base already required the request
            verify_content_digest(source.header("Content-Digest"), source.body)
