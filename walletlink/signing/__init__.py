"""Signing and verification toolkit: keys, RFC 9421, RFC 9530 digests, draft-cavage.

Each scheme lives in its own module; this package re-exports their public names.
"""

from walletlink.signing.cavage import (
    BerlinGroupSigner,
    BerlinGroupVerifier,
    CavageSigner,
    CavageVerifier,
    berlin_group_key_id,
    check_key_id,
)
from walletlink.signing.digest import (
    content_digest,
    legacy_digest,
    parse_want_digest,
    repr_digest,
    verify_content_digest,
    verify_legacy_digest,
    verify_repr_digest,
)
from walletlink.signing.keys import (
    KeyRing,
    KeyType,
    SigningKey,
    TestCA,
    generate_ec_key,
    generate_ed25519_key,
    generate_hmac_key,
    generate_rsa_key,
    hmac_key,
    load_der,
    load_jwk,
    load_jwks,
    load_pem,
    load_pkcs12,
    self_signed,
)
from walletlink.signing.rfc9421 import (
    Component,
    HttpMessage,
    Rfc9421Signer,
    Rfc9421Verifier,
    VerifiedSignature,
    signature_base,
)

__all__ = [
    "BerlinGroupSigner",
    "BerlinGroupVerifier",
    "CavageSigner",
    "CavageVerifier",
    "Component",
    "HttpMessage",
    "KeyRing",
    "KeyType",
    "Rfc9421Signer",
    "Rfc9421Verifier",
    "SigningKey",
    "TestCA",
    "VerifiedSignature",
    "berlin_group_key_id",
    "check_key_id",
    "content_digest",
    "generate_ec_key",
    "generate_ed25519_key",
    "generate_hmac_key",
    "generate_rsa_key",
    "hmac_key",
    "legacy_digest",
    "load_der",
    "load_jwk",
    "load_jwks",
    "load_pem",
    "load_pkcs12",
    "parse_want_digest",
    "repr_digest",
    "self_signed",
    "signature_base",
    "verify_content_digest",
    "verify_legacy_digest",
    "verify_repr_digest",
]
