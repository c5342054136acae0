"""The receiving hub's signed acknowledgement of a transfer bundle, and its check by the sender.

Version 1, canonical JSON::

    {"ack": {"format": "mappa-hub-transfer-ack", "version": 1, "bundle_id": STR,
             "digest": "sha-256:" HEX (of the bundle file as received),
             "received_at": ISO, "receiver": FINGERPRINT},
     "signature": BASE64 (Ed25519 by the receiver's hub key over the canonical JSON of "ack")}

The sender keeps the bytes as its evidence that the peer received exactly this bundle.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from hub.clock import utc_text
from hub.crypto import signing
from hub.crypto.canonical import canonical_json
from hub.crypto.errors import CryptoFailure
from hub.crypto.http_signatures import fingerprint
from hub.crypto.secrets import SecretBytes, constant_time_equals
from hub.errors import IntegrityFailure

FORMAT = "mappa-hub-transfer-ack"
VERSION = 1


class AckRefused(IntegrityFailure):
    code = "ack_refused"

    def __init__(self, reason: str) -> None:
        super().__init__("The peer hub's acknowledgement was refused.", reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class Ack:
    bundle_id: str
    digest: str
    received_at: datetime
    receiver: str
    # The signed acknowledgement as received, to keep as evidence.
    data: bytes


def digest_label(sha256_hex: str) -> str:
    return f"sha-256:{sha256_hex}"


def make(bundle_id: str, sha256_hex: str, received_at: datetime, hub_key: bytes,
         private: SecretBytes) -> bytes:  # fmt: skip
    ack = {
        "format": FORMAT,
        "version": VERSION,
        "bundle_id": bundle_id,
        "digest": digest_label(sha256_hex),
        "received_at": utc_text(received_at),
        "receiver": fingerprint(hub_key),
    }
    signature = signing.sign(private, canonical_json(ack))
    return canonical_json({"ack": ack, "signature": base64.b64encode(signature).decode()})


def verify(data: bytes, pinned_key: bytes, sha256_hex: str) -> Ack:
    """An acknowledgement signed by the peer's pinned key for the bundle with this digest."""
    try:
        outer = json.loads(data)
        ack = outer["ack"]
        signature = base64.b64decode(outer["signature"], validate=True)
        body = canonical_json(ack)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise AckRefused("not an acknowledgement") from None
    try:
        signing.verify(pinned_key, body, signature)
    except CryptoFailure:
        raise AckRefused("not signed by the pinned hub key") from None
    try:
        if ack["format"] != FORMAT or ack["version"] != VERSION:
            raise AckRefused("unknown format or version")
        if ack["receiver"] != fingerprint(pinned_key):
            raise AckRefused("names another receiving hub")
        if not constant_time_equals(str(ack["digest"]), digest_label(sha256_hex)):
            raise AckRefused("acknowledges another bundle")
        received = datetime.fromisoformat(str(ack["received_at"]).replace("Z", "+00:00"))
        return Ack(str(ack["bundle_id"]), str(ack["digest"]), received, str(ack["receiver"]), data)
    except (KeyError, TypeError, ValueError):
        raise AckRefused("malformed acknowledgement") from None
