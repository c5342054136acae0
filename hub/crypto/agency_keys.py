"""Agency key pairs: X25519 for receiving content keys, Ed25519 for signing packet headers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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
