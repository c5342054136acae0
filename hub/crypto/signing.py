"""Ed25519 signatures for the hub's own statements (ledger checkpoints). Verification raises."""

from __future__ import annotations

import nacl.exceptions
import nacl.signing

from hub.crypto.errors import CryptoFailure
from hub.crypto.packet_format import signer
from hub.crypto.secrets import SecretBytes


def sign(private: SecretBytes, message: bytes) -> bytes:
    return bytes(signer(private).sign(message).signature)


def verify(public: bytes, message: bytes, signature: bytes) -> None:
    try:
        nacl.signing.VerifyKey(public).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError) as exc:
        raise CryptoFailure("signature does not verify") from exc
