"""The key-encryption key (KEK): wraps agency private keys at rest.

The KEK lives outside the database, in a file readable only by the hub's service user
(``<data-dir>/keys/kek.key`` in a development install; in production a path provided by the
KMS/HSM integration, see keys/README.md). Losing it makes every private key, and so every
packet, unreadable: back it up apart from the database.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import nacl.bindings as sodium
import nacl.utils
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes, sha256_hex
from hub.errors import ConfigError

KEK_BYTES = 32
_WRAP_VERSION = 1
_NONCE = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES


class KeyEncryptionKey:
    def __init__(self, key: SecretBytes) -> None:
        if len(key) != KEK_BYTES:
            raise ConfigError("key-encryption key must be 32 bytes", key="kek_path")
        self._key = key
        self.kek_id = sha256_hex(b"mappa-hub/kek-id/" + key.reveal())[:16]

    def __repr__(self) -> str:
        return f"<KeyEncryptionKey id={self.kek_id}>"

    @classmethod
    def generate(cls) -> KeyEncryptionKey:
        return cls(SecretBytes(nacl.utils.random(KEK_BYTES)))

    @classmethod
    def load(cls, path: Path) -> KeyEncryptionKey:
        try:
            mode = path.stat().st_mode
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"key-encryption key not found at {path}; run 'mappa-hub init' first",
                key="kek_path",
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"key-encryption key {path} is readable by group or others; chmod 600 it",
                key="kek_path",
            )
        return cls(SecretBytes(raw))

    def save(self, path: Path) -> None:
        """Write the KEK with mode 0600, refusing to overwrite an existing one."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self._key.reveal())

    def wrap(self, secret: bytes, context: str) -> bytes:
        """Encrypt ``secret`` bound to ``context`` (e.g. the key id) with XChaCha20-Poly1305."""
        nonce = nacl.utils.random(_NONCE)
        aad = _aad(self.kek_id, context)
        ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
            secret, aad, nonce, self._key.reveal()
        )
        return bytes([_WRAP_VERSION]) + nonce + ct

    def derive(self, purpose: str) -> SecretBytes:
        """A 32-byte key for one named purpose (HKDF-Expand, RFC 5869, over the uniformly random
        KEK), e.g. the HMAC key for sign-in throttling: the same for every process sharing the
        KEK, never stored, and useless for unwrapping anything."""
        info = f"mappa-hub/derived-key/v1/{purpose}".encode()
        return SecretBytes(HKDFExpand(hashes.SHA256(), KEK_BYTES, info).derive(self._key.reveal()))

    def unwrap(self, blob: bytes, context: str) -> SecretBytes:
        if len(blob) < 1 + _NONCE + 16 or blob[0] != _WRAP_VERSION:
            raise CryptoFailure("wrapped key has an unknown format")
        nonce, ct = blob[1 : 1 + _NONCE], blob[1 + _NONCE :]
        try:
            plain = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
                ct, _aad(self.kek_id, context), nonce, self._key.reveal()
            )
        except Exception as exc:  # nacl raises CryptoError; anything else is the same to us
            raise CryptoFailure("private key does not decrypt under this KEK") from exc
        return SecretBytes(plain)


def _aad(kek_id: str, context: str) -> bytes:
    return f"mappa-hub/wrapped-key/v1/{kek_id}/{context}".encode()


def load_or_create_kek(path: Path) -> tuple[KeyEncryptionKey, bool]:
    """Return the KEK at ``path``, creating it on first use. The flag says whether it is new."""
    if path.exists():
        return KeyEncryptionKey.load(path), False
    kek = KeyEncryptionKey.generate()
    kek.save(path)
    return kek, True
