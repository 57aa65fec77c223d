"""Signed checkpoints of a journal's hash chains: what proves nothing was cut off the end.

A hash chain shows every edit in its middle, but someone who deletes the newest entries
together with their rows leaves a shorter chain that still verifies. A checkpoint is the head
``(seq, hash)`` of every chain partition at one moment, signed with an Ed25519 key
(:mod:`walletlink.signing` keys). Kept somewhere the journal's database cannot reach (object
storage, another team's log), it lets :meth:`PostgresJournal.verify` prove that every entry
it covers is still there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from walletlink.errors import ConfigurationError, JournalIntegrityError
from walletlink.journal.base import utc_iso
from walletlink.signing._b64 import b64url_decode, b64url_encode
from walletlink.signing.keys import KeyType, SigningKey

__all__ = ["Checkpoint"]

_FORMAT = 1


def _require_ed25519(key: SigningKey) -> None:
    if key.key_type is not KeyType.ED25519:
        raise ConfigurationError(
            f"journal checkpoints are signed with Ed25519; key {key.kid!r} is {key.key_type.value}"
        )


@attrs.frozen(kw_only=True)
class Checkpoint:
    """The signed heads of a journal's chain partitions.

    ``body`` is canonical JSON (``{"v", "journal", "kind", "taken_at", "heads"}``, where
    ``heads`` maps each partition to ``[seq, hash]``); ``signature`` is the base64url Ed25519
    signature of its UTF-8 bytes under the key ``kid``.
    """

    body: str
    signature: str
    kid: str

    @classmethod
    def sign(
        cls,
        key: SigningKey,
        *,
        journal: str,
        kind: str,
        heads: Mapping[str, tuple[int, str]],
        taken_at: datetime,
    ) -> Checkpoint:
        _require_ed25519(key)
        private = key.require_private()
        assert isinstance(private, ed25519.Ed25519PrivateKey)  # checked by _require_ed25519
        body = json.dumps(
            {
                "v": _FORMAT,
                "journal": journal,
                "kind": kind,
                "taken_at": utc_iso(taken_at),
                "heads": {partition: [seq, digest] for partition, (seq, digest) in heads.items()},
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        signature = b64url_encode(private.sign(body.encode()))
        return cls(body=body, signature=signature, kid=key.kid)

    def verify(self, key: SigningKey) -> dict[str, tuple[int, str]]:
        """Check the signature with ``key`` (its public half suffices); return the heads.

        Raises :class:`~walletlink.errors.JournalIntegrityError` when it does not verify.
        """
        _require_ed25519(key)
        public = key.require_public()
        assert isinstance(public, ed25519.Ed25519PublicKey)
        try:
            raw = b64url_decode(self.signature)  # strict: one spelling per signature
            public.verify(raw, self.body.encode())
            parsed = json.loads(self.body)
            heads = parsed["heads"]
            return {str(p): (int(seq), str(digest)) for p, (seq, digest) in heads.items()}
        except (InvalidSignature, ValueError, KeyError, TypeError):
            raise JournalIntegrityError(
                f"journal checkpoint signed as {self.kid!r} does not verify"
            ) from None

    @property
    def journal(self) -> str:
        """The journal it was taken of (a PostgreSQL schema name)."""
        return str(json.loads(self.body)["journal"])

    @property
    def taken_at(self) -> datetime:
        """When it was taken (as signed: check :meth:`verify` before relying on it)."""
        try:
            return datetime.fromisoformat(str(json.loads(self.body)["taken_at"]))
        except (ValueError, KeyError, TypeError):
            raise JournalIntegrityError("the checkpoint has no readable taken_at") from None

    def to_json(self) -> str:
        """One line of JSON to keep elsewhere; :meth:`from_json` reads it back."""
        return json.dumps({"body": self.body, "signature": self.signature, "kid": self.kid})

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        try:
            raw: Any = json.loads(text)
            return cls(body=str(raw["body"]), signature=str(raw["signature"]), kid=str(raw["kid"]))
        except (ValueError, KeyError, TypeError):
            raise JournalIntegrityError("not a journal checkpoint") from None
