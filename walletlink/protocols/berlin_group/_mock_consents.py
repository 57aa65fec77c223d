"""AIS consents at the Berlin Group mock bank: created by a TPP, authorised by the PSU,
enforced on every account read.

The rules a real ASPSP applies, and this store too:

* only a ``valid`` consent reads accounts: ``received`` (not yet authorised), ``rejected``,
  ``revokedByPsu`` and ``terminatedByTpp`` answer 401 ``CONSENT_INVALID``; past its
  ``validUntil`` (on the bank's clock) 401 ``CONSENT_EXPIRED``; an id the TPP does not own,
  403 ``CONSENT_UNKNOWN``;
* only accounts in scope: ``allPsd2``/``availableAccounts`` cover every account, otherwise the
  account must be listed under the accessed service (``balances``, ``transactions``);
* without the PSU present (no ``PSU-IP-Address``) a consent reads each account endpoint at
  most ``frequencyPerDay`` times per day, and a one-off consent (``recurringIndicator``
  false) that many times in all; beyond that 429 ``ACCESS_EXCEEDED``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Final

import attrs

from walletlink.protocols.berlin_group._mock_security import TppRefusal

__all__ = ["ConsentStore", "StoredConsent"]

_SERVICES: Final = ("accounts", "balances", "transactions")
_ALL: Final = frozenset({"allAccounts", "allAccountsWithOwnerName"})


@attrs.define
class StoredConsent:
    id: str
    tpp: str
    status: str
    all_accounts: bool
    scope: dict[str, frozenset[str]]
    recurring: bool
    frequency: int
    valid_until: date
    uses: Counter[tuple[str, str, date | None]] = attrs.field(factory=Counter)

    def covers(self, account: str, service: str) -> bool:
        if self.all_accounts:
            return True
        # Balances or transactions access implies the account itself is listed (BG IG §6.4).
        if service == "accounts":
            return any(account in accounts for accounts in self.scope.values())
        return account in self.scope.get(service, frozenset())

    def to_json(self, now: datetime) -> dict[str, Any]:
        access: dict[str, Any]
        if self.all_accounts:
            access = {"allPsd2": "allAccounts"}
        else:
            access = {k: [{"iban": a} for a in sorted(v)] for k, v in self.scope.items()}
        return {
            "access": access,
            "recurringIndicator": self.recurring,
            "validUntil": self.valid_until.isoformat(),
            "frequencyPerDay": self.frequency,
            "consentStatus": self.status,
            "lastActionDate": now.date().isoformat(),
        }


def _seconds_to_midnight(now: datetime) -> int:
    midnight = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=now.tzinfo)
    return max(1, int((midnight - now).total_seconds()))


def _format(text: str) -> TppRefusal:
    return TppRefusal(400, "FORMAT_ERROR", text)


def _scope(access: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    scope: dict[str, frozenset[str]] = {}
    for service in _SERVICES:
        refs = access.get(service)
        if refs is None:
            continue
        if not isinstance(refs, list) or not all(
            isinstance(ref, dict) and isinstance(ref.get("iban"), str) for ref in refs
        ):
            raise _format(f"access.{service} must be a list of {{'iban': …}} references")
        scope[service] = frozenset(ref["iban"] for ref in refs)
    if not scope:
        raise _format("access names no account: list accounts or use allPsd2")
    return scope


def _valid_until(body: Mapping[str, Any], today: date) -> date:
    try:
        until = date.fromisoformat(str(body.get("validUntil")))
    except ValueError:
        raise _format("validUntil must be a date YYYY-MM-DD") from None
    if until < today:
        raise _format("validUntil is in the past")
    return until


class ConsentStore:
    """The consents of one mock bank; thread-safe."""

    def __init__(self) -> None:
        self._consents: dict[str, StoredConsent] = {}
        self._lock = threading.Lock()

    def create(self, body: Mapping[str, Any], tpp: str, now: datetime) -> StoredConsent:
        """Validate a ``POST /v1/consents`` body; the consent starts ``received``."""
        access = body.get("access")
        if not isinstance(access, dict):
            raise _format("access is required and must be an object")
        recurring = body.get("recurringIndicator")
        frequency = body.get("frequencyPerDay")
        if not isinstance(recurring, bool):
            raise _format("recurringIndicator is required and must be a boolean")
        if isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 1:
            raise _format("frequencyPerDay must be an integer of at least 1")
        if not recurring and frequency != 1:
            raise _format("a one-off consent (recurringIndicator false) has frequencyPerDay 1")
        everything = access.get("allPsd2") in _ALL or access.get("availableAccounts") in _ALL
        with self._lock:
            consent = StoredConsent(
                id=f"consent-{len(self._consents) + 1:04d}",
                tpp=tpp,
                status="received",
                all_accounts=everything,
                scope={} if everything else _scope(access),
                recurring=recurring,
                frequency=frequency,
                valid_until=_valid_until(body, now.date()),
            )
            self._consents[consent.id] = consent
        return consent

    def get(self, consent_id: str, tpp: str | None) -> StoredConsent:
        """The consent, for its own TPP (``None``: the PSU side, any TPP)."""
        with self._lock:
            consent = self._consents.get(consent_id)
        if consent is None or (tpp is not None and consent.tpp != tpp):
            raise TppRefusal(403, "CONSENT_UNKNOWN", "no such consent for this TPP")
        return consent

    def decide(self, consent_id: str, approve: bool) -> StoredConsent:
        """The PSU's answer at the SCA redirect: ``valid`` or ``rejected``."""
        consent = self.get(consent_id, None)
        with self._lock:
            if consent.status != "received":
                raise TppRefusal(409, "STATUS_INVALID", f"consent is {consent.status}")
            consent.status = "valid" if approve else "rejected"
        return consent

    def terminate(self, consent_id: str, tpp: str) -> None:
        consent = self.get(consent_id, tpp)
        with self._lock:
            consent.status = "terminatedByTpp"

    def refresh(self, consent: StoredConsent, now: datetime) -> StoredConsent:
        """Expire a consent whose ``validUntil`` has passed on the bank's clock."""
        with self._lock:
            if consent.status == "valid" and now.date() > consent.valid_until:
                consent.status = "expired"
        return consent

    def usable(self, consent_id: str | None, tpp: str, now: datetime) -> StoredConsent:
        """The TPP's consent if it may read accounts now, else the refusal a bank sends."""
        if not consent_id:
            raise _format("the Consent-ID header is missing")
        consent = self.refresh(self.get(consent_id, tpp), now)
        if consent.status == "expired":
            raise TppRefusal(401, "CONSENT_EXPIRED", "the consent has expired")
        if consent.status != "valid":
            raise TppRefusal(401, "CONSENT_INVALID", f"the consent is {consent.status}")
        return consent

    def check(
        self,
        consent_id: str | None,
        tpp: str,
        account: str,
        service: str,
        now: datetime,
        *,
        count: bool,
    ) -> StoredConsent:
        """Allow one read of ``account``'s ``service`` or raise the refusal a bank sends.

        ``count`` is false for reads with the PSU present and for the next pages of one read.
        """
        consent = self.usable(consent_id, tpp, now)
        if not consent.covers(account, service):
            raise TppRefusal(401, "CONSENT_INVALID", f"the consent does not cover {service}")
        if count:
            # A one-off consent's allowance is for its whole life, a recurring one's per day.
            key = (account, service, now.date() if consent.recurring else None)
            with self._lock:
                if consent.uses[key] >= consent.frequency:
                    raise TppRefusal(
                        429,
                        "ACCESS_EXCEEDED",
                        "frequencyPerDay used up without the PSU",
                        # Until tomorrow (or for ever): no use retrying within a call.
                        {"Retry-After": str(_seconds_to_midnight(now))},
                    )
                consent.uses[key] += 1
        return consent
