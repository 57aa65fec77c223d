"""How the Berlin Group mock bank tells a TPP from an impostor.

:class:`TppAuthenticator` runs the checks of the XS2A reference implementation in its order
(``docs/berlin_group.md``, protocols reference §3.3): mandatory headers, ``Digest`` over the
received bytes, the certificate, ``keyId`` against it and the cavage signature (both by
:class:`~walletlink.signing.cavage.BerlinGroupVerifier`), then the certificate's issuer and
validity on the bank's clock, and finally the QWAC presented on the TLS connection. Each
failure is answered with the spec's own ``tppMessages`` code and HTTP status.

:class:`TestPki` makes the throw-away PKI a test needs: one CA the bank trusts, a TPP's QSealC
(RSA, for ``rsa-sha256``) and QWAC, and the bank's own TLS server certificate.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from walletlink.errors import SignatureError
from walletlink.signing._b64 import b64decode
from walletlink.signing._message import HttpMessage
from walletlink.signing.cavage import BerlinGroupVerifier
from walletlink.signing.digest import verify_legacy_digest
from walletlink.signing.keys import SigningKey, TestCA, generate_rsa_key
from walletlink.testing._http import MockRequest, MockResponse, ServerTLS

__all__ = ["TestPki", "TppAuthenticator", "TppCredentials", "TppRefusal", "tpp_identity"]

_RSA_CACHE: dict[str, SigningKey] = {}
_RSA_LOCK = threading.Lock()


def _rsa_key(kid: str) -> SigningKey:
    """RSA-2048 keys take ~50 ms to make; a test run shares one per name (certificates
    stay per bank, so every bank still has its own PKI)."""
    with _RSA_LOCK:
        if kid not in _RSA_CACHE:
            _RSA_CACHE[kid] = generate_rsa_key(kid)
        return _RSA_CACHE[kid]


class TppRefusal(Exception):
    """Stop handling a request and answer with one ``tppMessages`` error."""

    def __init__(
        self, status: int, code: str, text: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {text}")
        self.status = status
        self.code = code
        self.text = text
        self.headers = dict(headers or {})

    def response(self) -> MockResponse:
        body = {"tppMessages": [{"category": "ERROR", "code": self.code, "text": self.text}]}
        return MockResponse.json(self.status, body, self.headers)


def tpp_identity(certificate: x509.Certificate) -> str:
    """Who a certificate speaks for: its organizationIdentifier (eIDAS ``PSDDE-BAFIN-…``),
    else its whole subject. A QWAC and a QSealC of one TPP share it."""
    org = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    return str(org[0].value) if org else certificate.subject.rfc4514_string()


@attrs.frozen(kw_only=True)
class TppCredentials:
    """A TPP's eIDAS certificates: the QSealC signs requests, the QWAC authenticates TLS."""

    qseal: SigningKey
    qwac: SigningKey

    @property
    def identity(self) -> str:
        assert self.qseal.certificate is not None  # TestPki.issue_tpp always sets it
        return tpp_identity(self.qseal.certificate)


def _tpp_name(name: str, org_id: str, role: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} {role}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, org_id),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        ]
    )


class TestPki:
    """The mock bank's test PKI: one CA for TPP certificates and the bank's TLS certificate."""

    __test__ = False  # pytest: a helper, not a test class

    def __init__(self, now: dt.datetime, *, bank_name: str = "walletlink mock ASPSP") -> None:
        self.ca = TestCA.create(now=now, subject=f"{bank_name} test CA")
        self.server = self.ca.issue("aspsp-tls", now=now, days=365)

    def issue_tpp(
        self,
        now: dt.datetime,
        *,
        name: str = "Example Wallet TPP",
        org_id: str = "PSDDE-BAFIN-000001",
        days: int = 365,
        ca: TestCA | None = None,
    ) -> TppCredentials:
        """A QSealC + QWAC pair; ``ca`` issues them from another (untrusted) CA."""
        issuer = ca or self.ca
        qseal = issuer.issue(
            "qseal",
            now=now,
            subject=_tpp_name(name, org_id, "QSealC"),
            key=_rsa_key("qseal"),
            client=True,
            days=days,
        )
        qwac = issuer.issue(
            "qwac", now=now, subject=_tpp_name(name, org_id, "QWAC"), client=True, days=days
        )
        return TppCredentials(qseal=qseal, qwac=qwac)

    def server_tls(self) -> ServerTLS:
        """TLS for ``MockBank.serve``: the bank's certificate, and mutual TLS against the CA."""
        return ServerTLS(
            cert_chain_pem=self.server.certificate_pem(),
            key_pem=self.server.private_key_pem(),
            client_ca_pem=self.ca.certificate_pem(),
        )

    def client_files(self, tpp: TppCredentials, directory: Path) -> dict[str, Any]:
        """Write the QWAC and the CA to ``directory``; returns ``BankConfig`` fields
        (``client_cert``, ``ca_bundle``), since ``requests`` reads them from files."""
        cert, key, ca = directory / "qwac.pem", directory / "qwac.key", directory / "ca.pem"
        cert.write_bytes(tpp.qwac.certificate_pem())
        key.write_bytes(tpp.qwac.private_key_pem())
        ca.write_bytes(self.ca.certificate_pem())
        return {"client_cert": (str(cert), str(key)), "ca_bundle": str(ca)}


def _certificate(value: str) -> x509.Certificate:
    try:
        if "-----BEGIN" in value:
            return x509.load_pem_x509_certificate(value.encode())
        return x509.load_der_x509_certificate(b64decode(value))
    except ValueError:
        raise TppRefusal(
            401, "CERTIFICATE_INVALID", "TPP-Signature-Certificate is not a certificate"
        ) from None


class TppAuthenticator:
    """Authenticates XS2A requests for one bank; returns the TPP's verified QSealC."""

    def __init__(
        self,
        ca: x509.Certificate,
        clock: Callable[[], dt.datetime],
        *,
        require_qwac: bool = False,
    ) -> None:
        self.ca = ca
        self.clock = clock
        #: With True, a request without a TLS client certificate is refused.
        self.require_qwac = require_qwac
        self._verifier = BerlinGroupVerifier()

    def authenticate(self, request: MockRequest) -> x509.Certificate:
        _check_request_id(request)
        for header in ("Signature", "Digest"):
            if header not in request.headers:
                raise TppRefusal(401, "SIGNATURE_MISSING", f"the {header} header is missing")
        if "TPP-Signature-Certificate" not in request.headers:
            raise TppRefusal(401, "CERTIFICATE_MISSING", "TPP-Signature-Certificate is missing")
        try:
            verify_legacy_digest(request.headers["Digest"], request.body)
        except SignatureError:
            # The reference ASPSP answers a wrong digest as a malformed mandatory header.
            raise TppRefusal(400, "FORMAT_ERROR", "Mandatory header 'digest' is invalid") from None
        certificate = _certificate(request.headers["TPP-Signature-Certificate"])
        message = HttpMessage(
            method=request.method,
            url=request.url,
            headers=list(request.headers.items()),
            body=request.body,
        )
        try:
            self._verifier.verify(message)
        except SignatureError as error:
            raise TppRefusal(401, "SIGNATURE_INVALID", error.message) from None
        self._check_issued(certificate, "TPP-Signature-Certificate")
        self._check_qwac(request.client_cert, certificate)
        return certificate

    def _check_issued(self, certificate: x509.Certificate, what: str) -> None:
        try:
            certificate.verify_directly_issued_by(self.ca)
        except (ValueError, TypeError, InvalidSignature):
            raise TppRefusal(
                401, "CERTIFICATE_INVALID", f"{what} is not issued by a trusted CA"
            ) from None
        now = self.clock()
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise TppRefusal(401, "CERTIFICATE_EXPIRED", f"{what} is outside its validity")

    def _check_qwac(self, qwac: x509.Certificate | None, qseal: x509.Certificate) -> None:
        if qwac is None:
            if self.require_qwac:
                raise TppRefusal(401, "CERTIFICATE_MISSING", "no QWAC on the TLS connection")
            return
        # TLS already checked the chain on loopback; in process nothing did, so check here.
        self._check_issued(qwac, "the QWAC")
        if tpp_identity(qwac) != tpp_identity(qseal):
            raise TppRefusal(
                401, "CERTIFICATE_INVALID", "the QWAC and the QSealC belong to different TPPs"
            )


def _check_request_id(request: MockRequest) -> None:
    value = request.headers.get("X-Request-ID")
    try:
        uuid.UUID(value or "")
    except ValueError:
        raise TppRefusal(400, "FORMAT_ERROR", "X-Request-ID must be a UUID") from None
