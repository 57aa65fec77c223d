"""Redaction of secrets and account numbers from everything walletlink logs.

The filter is attached to the ``walletlink`` logger, so it runs for every record the
library emits at every level, whatever handlers the application configures. It rewrites the
formatted message once and drops the arguments, so a handler that formats again cannot
resurrect a secret.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import quote, quote_plus

from walletlink.accounts import mask

__all__ = ["REDACTED", "RedactingFilter", "redact_headers", "redact_text", "redact_url"]

REDACTED: Final = "[redacted]"

# Header names whose values are secrets in every protocol walletlink speaks.
_SECRET_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "cookie",
        "set-cookie",
        "signature",
        "x-jws-signature",
        "tpp-signature-certificate",
        "webhook-signature",
        "stripe-signature",
        "wechatpay-signature",
        "psu-id",
        "consent-id",
    }
)

_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # Bearer/Basic credentials and JSON/form fields that carry secrets.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (
        re.compile(
            r"(?i)([\"']?(?:api_key|apikey|access_token|refresh_token|client_secret|"
            r"private_key|secret|password|token|sign|signature)[\"']?\s*[:=]\s*[\"']?)"
            r"[^\"'&,\s}]+"
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"\b(sk|whsec|whsk|pk)_[A-Za-z0-9+/=_-]{6,}"), REDACTED),
    (re.compile(r"-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----"), REDACTED),
)

# IBANs: two letters, two check digits, 11-30 alphanumerics (optionally grouped by spaces).
_IBAN: Final = re.compile(r"\b([A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30})\b")
# PANs and long account numbers: 12-19 digits, optionally separated by spaces or dashes.
_LONG_DIGITS: Final = re.compile(r"(?<![\d.])(\d(?:[ -]?\d){11,18})(?![\d.])")


def _mask_match(match: re.Match[str]) -> str:
    compact = re.sub(r"[ -]", "", match.group(1))
    return "…" + compact[-4:]


def redact_text(text: str) -> str:
    """Mask secrets, IBANs and PANs in free text; IBANs and PANs keep their last 4."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = _IBAN.sub(_mask_match, text)
    return _LONG_DIGITS.sub(_mask_match, text)


def redact_url(url: str, sensitive: Iterable[str] = ()) -> str:
    """``url`` safe to log: each ``sensitive`` value (as given, percent- or form-encoded) is
    masked to its last four, then the text patterns run over the rest."""
    # Values under four characters would show in full anyway and could match innocent
    # parts of the URL. One pass, longest form first: a value containing another is masked
    # whole, and a mask already written is never matched again.
    masks: dict[str, str] = {}
    for value in (v for v in sensitive if len(v) >= 4):
        for form in (value, quote(value, safe=""), quote(value), quote_plus(value)):
            masks.setdefault(form, mask(value))
    if masks:
        pattern = "|".join(re.escape(form) for form in sorted(masks, key=len, reverse=True))
        url = re.sub(pattern, lambda match: masks[match.group(0)], url)
    return redact_text(url)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` safe to log: secret headers replaced, the rest text-redacted."""
    return {
        name: REDACTED if name.lower() in _SECRET_HEADERS else redact_text(value)
        for name, value in headers.items()
    }


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the fully formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string is the caller's bug, not ours
            return True
        record.msg = redact_text(message)
        record.args = None
        return True
