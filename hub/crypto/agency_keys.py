"""Agency key pairs: X25519 for receiving content keys, Ed25519 for signing packet headers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import nacl.bindings
import nacl.public
import nacl.signing

from hub.crypto.kek import KeyEncryptionKey
from hub.crypto.secrets import SecretBytes, sha256_hex


class KeyPurpose(StrEnum):
    ENCRYPTION = "x25519"
    SIGNING = "ed25519"


def key_id(purpose: KeyPurpose, public_key: bytes) -> str:
    """A stable identifier for a public key: a truncated SHA-256 over purpose and key."""
    return sha256_hex(f"mappa-hub/key/{purpose.value}/".encode() + public_key)[:32]


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    purpose: KeyPurpose
    public: bytes


@dataclass(frozen=True)
class NewKeyPair:
    """A freshly generated pair, its private half already wrapped under the KEK."""

    key_id: str
    purpose: KeyPurpose
    public: bytes
    wrapped_private: bytes


def generate_key_pair(purpose: KeyPurpose, kek: KeyEncryptionKey) -> NewKeyPair:
    if purpose is KeyPurpose.ENCRYPTION:
        enc = nacl.public.PrivateKey.generate()
        public, private = bytes(enc.public_key), bytes(enc)
    else:
        sig = nacl.signing.SigningKey.generate()
        public, private = bytes(sig.verify_key), bytes(sig)
    kid = key_id(purpose, public)
    return NewKeyPair(kid, purpose, public, kek.wrap(private, kid))


def unwrap_private(kek: KeyEncryptionKey, kid: str, wrapped: bytes) -> SecretBytes:
    return kek.unwrap(wrapped, kid)


# -- keys an agency's own system holds (end-to-end mode) -------------------------------------


@dataclass(frozen=True)
class LocalKeyPair:
    """A key pair generated and kept by an agency's own system: the hub only ever sees ``public``."""

    key_id: str
    purpose: KeyPurpose
    public: bytes
    private: SecretBytes


def generate_local_pair(purpose: KeyPurpose) -> LocalKeyPair:
    """A fresh pair for an agency system to keep; register its public half with the hub."""
    if purpose is KeyPurpose.ENCRYPTION:
        enc = nacl.public.PrivateKey.generate()
        public, private = bytes(enc.public_key), bytes(enc)
    else:
        sig = nacl.signing.SigningKey.generate()
        public, private = bytes(sig.verify_key), bytes(sig)
    return LocalKeyPair(key_id(purpose, public), purpose, public, SecretBytes(private))


def checked_public_key(purpose: KeyPurpose, public: bytes) -> PublicKey:
    """A public key someone hands the hub: 32 bytes, and for Ed25519 a valid curve point.

    Raises ``ValueError`` with a reason a person can act on.
    """
    if len(public) != 32:
        raise ValueError(f"an {purpose.value} public key is 32 bytes, not {len(public)}")
    if public == bytes(32):
        raise ValueError("the all-zero key is not a public key")
    if purpose is KeyPurpose.SIGNING and not nacl.bindings.crypto_core_ed25519_is_valid_point(
        public
    ):
        raise ValueError("not a valid Ed25519 public key")
    return PublicKey(key_id(purpose, public), purpose, public)
