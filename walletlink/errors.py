"""Every exception walletlink raises, in one tree.

Faults are exceptions; declines are values. A bank that refuses a transfer for a business
reason (insufficient funds, closed account) answers with a :class:`~walletlink.Transfer` whose
status is ``REJECTED`` and whose ``reason`` carries the standard and the raw code. The tree
below is for everything that stops a call from producing an answer at all::

    WalletLinkError
    ├── ConfigurationError              a BankConfig, key or option that cannot work
    ├── ValidationError                 bad input, raised before any I/O (also a ValueError)
    │   ├── InvalidAmountError          too many decimals, non-finite, float, negative transfer
    │   ├── CurrencyError               unknown ISO 4217 code
    │   ├── CurrencyMismatchError       arithmetic or comparison across currencies
    │   ├── InvalidAccountError         IBAN checksum, BIC shape, sort code, account number
    │   └── InvalidTextError            a name, reference or text its field's policy refuses
    ├── UnsupportedOperationError       the adapter lacks the capability; nothing was sent
    ├── TransferNotFoundError           no transfer with that id in the journal (a LookupError)
    ├── IdempotencyMismatchError        same idempotency key, different request; nothing sent
    ├── InvalidTransitionError          a transfer status may not move that way
    ├── JournalIntegrityError           the journal's hash chain or rows do not verify
    ├── AuthenticationError             credentials refused, token expired, consent invalid
    ├── SignatureError                  a signature, digest or certificate did not verify
    │   ├── SignatureMissingError       a required signature, header or component is absent
    │   ├── SignatureMismatchError      the bytes do not verify with the key
    │   ├── DigestMismatchError         the body does not match its digest header
    │   ├── SignatureExpiredError       outside the created/expires or tolerance window
    │   ├── AlgorithmNotAllowedError    alg refused, ``none``, or key type and alg disagree
    │   ├── KeyNotFoundError            no trusted key for that key id
    │   ├── CertificateMismatchError    keyId / certificate / serial disagree
    │   ├── ClaimError                  a JWS protected-header claim broke its rule
    │   └── ReplayError                 a nonce or message id seen before
    ├── TransportError                  the request did not complete at the HTTP level
    │   ├── ConnectError                never reached the bank: always safe to retry
    │   └── TransportTimeoutError       sent, but no reply in time
    │       └── ConnectionLostError     sent, then the connection dropped before the reply
    ├── RateLimitedError                429, carries ``retry_after`` seconds
    ├── CircuitOpenError                the bank's breaker is open; nothing was sent
    ├── BankRejectedError               the bank refused the request itself (4xx with a code)
    ├── BankUnavailableError            5xx after the retry policy gave up
    ├── ProtocolError                   a reply that breaks the protocol: malformed, unexpected
    │   ├── ParseError                  a file or document that cannot be parsed; names where
    │   │   └── HostileInputError       DTDs, entities, bombs: refused before expansion
    │   └── StatementBalanceError       opening + entries != closing
    └── UnknownOutcomeError             the request may have executed; resolve, never resend

Every error carries ``bank_id``, ``request_id`` and ``http_status`` when they are known. The
messages are written so that they never contain a secret, a token or a full account number:
code that builds them passes masked values only.
"""

from __future__ import annotations

from typing import TypedDict

from typing_extensions import Unpack

__all__ = [
    "AlgorithmNotAllowedError",
    "AuthenticationError",
    "BankRejectedError",
    "BankUnavailableError",
    "CertificateMismatchError",
    "CircuitOpenError",
    "ClaimError",
    "ConfigurationError",
    "ConnectError",
    "ConnectionLostError",
    "CurrencyError",
    "CurrencyMismatchError",
    "DigestMismatchError",
    "HostileInputError",
    "IdempotencyMismatchError",
    "InvalidAccountError",
    "InvalidAmountError",
    "InvalidTextError",
    "InvalidTransitionError",
    "JournalIntegrityError",
    "KeyNotFoundError",
    "ParseError",
    "ProtocolError",
    "RateLimitedError",
    "ReplayError",
    "SignatureError",
    "SignatureExpiredError",
    "SignatureMismatchError",
    "SignatureMissingError",
    "StatementBalanceError",
    "TransferNotFoundError",
    "TransportError",
    "TransportTimeoutError",
    "UnknownOutcomeError",
    "UnsupportedOperationError",
    "ValidationError",
    "WalletLinkError",
]


class ErrorContext(TypedDict, total=False):
    """Where an error happened; every field is optional."""

    bank_id: str | None
    request_id: str | None
    http_status: int | None


class WalletLinkError(Exception):
    """The root of every walletlink exception.

    ``bank_id``, ``request_id`` and ``http_status`` are filled in by the client when the
    error happened while talking to a bank; they are ``None`` otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        bank_id: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.bank_id = bank_id
        self.request_id = request_id
        self.http_status = http_status

    def __str__(self) -> str:
        context = [
            f"{name}={value}"
            for name, value in (
                ("bank", self.bank_id),
                ("request_id", self.request_id),
                ("http_status", self.http_status),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(context)})" if context else self.message


class ConfigurationError(WalletLinkError):
    """A configuration that cannot work: missing credentials, bad URL, unknown protocol."""


class ValidationError(WalletLinkError, ValueError):
    """Input that walletlink refuses before doing any I/O."""


class InvalidAmountError(ValidationError):
    """An amount that is not exact, not finite, or has more decimals than its currency."""


class CurrencyError(ValidationError):
    """A currency code that is not in ISO 4217."""


class CurrencyMismatchError(ValidationError):
    """Money of two currencies met in arithmetic, comparison or a transfer."""


class InvalidAccountError(ValidationError):
    """An IBAN, BIC, sort code or account number that is malformed or fails its checksum."""


class InvalidTextError(ValidationError):
    """Text a field's policy refuses (see :mod:`walletlink.text`).

    ``field`` names the field (``"remittance"``, ``"creditor.name"``…) and ``position`` is the
    0-based index of the first offending character, or ``None`` when the whole value is at
    fault (its type or length). The message shows that character's code point, never the
    text itself, which may be personal data.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str,
        position: int | None = None,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message, **context)
        self.field = field
        self.position = position


class UnsupportedOperationError(WalletLinkError):
    """The bank's adapter does not offer this operation; nothing was sent."""


class TransferNotFoundError(WalletLinkError, LookupError):
    """No transfer with that walletlink id is in the journal; nothing was sent."""


class IdempotencyMismatchError(WalletLinkError):
    """An idempotency key was reused for a different request; nothing was sent."""


class InvalidTransitionError(WalletLinkError):
    """A transfer status may not move from one state to the other."""


class JournalIntegrityError(WalletLinkError):
    """The journal's hash chain does not verify, or a row disagrees with the chain."""


class AuthenticationError(WalletLinkError):
    """The bank refused the credentials, the token or the consent."""


class SignatureError(WalletLinkError):
    """A signature, digest or certificate did not verify. Subclasses say what failed."""


class SignatureMissingError(SignatureError):
    """A required signature, signature parameter, header or covered component is absent."""


class SignatureMismatchError(SignatureError):
    """The signature does not verify over the message with the trusted key."""


class DigestMismatchError(SignatureError):
    """The body does not hash to the value in its digest header."""


class SignatureExpiredError(SignatureError):
    """The signature is outside its validity window: too old, expired, or from the future."""


class AlgorithmNotAllowedError(SignatureError):
    """The algorithm is refused, is ``none``, or does not fit the key's type."""


class KeyNotFoundError(SignatureError):
    """No trusted key is known for the key id the message names."""


class CertificateMismatchError(SignatureError):
    """The key id, the certificate and the signing key do not belong together."""


class ClaimError(SignatureError):
    """A JWS protected-header claim (iat, iss, tan, crit, b64) broke its rule."""


class ReplayError(SignatureError):
    """A nonce or message id that was already seen."""


class TransportError(WalletLinkError):
    """The HTTP exchange did not complete."""


class ConnectError(TransportError):
    """The connection could not be opened: the bank never saw the request."""


class TransportTimeoutError(TransportError):
    """The request was sent but no reply came in time."""


class ConnectionLostError(TransportTimeoutError):
    """The request was sent, then the connection dropped before a reply: handled as a timeout."""


class RateLimitedError(WalletLinkError):
    """The bank asked us to slow down for longer than the retry policy allows to wait."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class CircuitOpenError(WalletLinkError):
    """Too many recent failures at this bank: the breaker is open and nothing was sent."""


class BankRejectedError(WalletLinkError):
    """The bank refused the request itself, with a standard code and its own raw code."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "OTHER",
        raw_code: str | None = None,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message, **context)
        self.code = code
        self.raw_code = raw_code


class BankUnavailableError(WalletLinkError):
    """The bank kept answering 5xx until the retry policy gave up."""


class ProtocolError(WalletLinkError):
    """A reply that breaks the protocol: malformed, truncated, or not what was asked for."""


class ParseError(ProtocolError):
    """A document that cannot be parsed; ``position`` says where (line, column or offset)."""

    def __init__(
        self, message: str, *, position: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        full = f"{message} at {position}" if position else message
        super().__init__(full, **context)
        self.position = position


class HostileInputError(ParseError):
    """XML with a DTD, entity declarations or other constructs refused before expansion."""


class StatementBalanceError(ProtocolError):
    """A statement whose opening balance plus its entries does not equal its closing balance."""


class UnknownOutcomeError(WalletLinkError):
    """The request may have executed at the bank.

    The transfer is journalled as ``UNKNOWN``. Resolve it with :meth:`Client.resolve_unknown`,
    which looks it up under the same idempotency key; never send it again under a new one.
    """

    def __init__(
        self, message: str, *, idempotency_key: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.idempotency_key = idempotency_key
