"""Checkpoints (signed tree heads) and receipts: the portable, offline-checkable forms.

A checkpoint body is plain text in the manner of a C2SP signed note:

    mappa-hub/ledger/v1
    <tree size, decimal>
    <Merkle root, base64>
    <signing time, UTC ISO 8601>

signed with the hub's Ed25519 key. A receipt carries one log entry's bytes, the checkpoint, and the
inclusion proof that ties the entry to the checkpoint's root: anyone holding the hub's public key
can check it without the database (``mappa-hub ledger check-receipt``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.crypto import signing
from hub.crypto.canonical import canonical_json
from hub.crypto.errors import CryptoFailure
from hub.errors import IntegrityFailure
from hub.ledger.entries import leaf_hash
from hub.ledger.merkle import verify_inclusion

ORIGIN = "mappa-hub/ledger/v1"
CHECKPOINT_FORMAT = "mappa-hub/checkpoint"
RECEIPT_FORMAT = "mappa-hub/receipt"


class BadCheckpoint(IntegrityFailure):
    def __init__(self, reason: str) -> None:
        # The reason is safe to show: it names positions and checks, never content.
        super().__init__(f"The checkpoint or receipt does not verify: {reason}.", reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root: bytes
    signed_at: datetime
    key_id: str
    public_key: bytes
    signature: bytes

    @property
    def body(self) -> bytes:
        return checkpoint_body(self.tree_size, self.root, self.signed_at)

    def verify(self, trusted_key: bytes | None = None) -> None:
        """Check the signature; with ``trusted_key``, also that it is that key's."""
        if trusted_key is not None and trusted_key != self.public_key:
            raise BadCheckpoint("signed by a key other than the trusted hub key")
        try:
            signing.verify(self.public_key, self.body, self.signature)
        except CryptoFailure:
            raise BadCheckpoint("checkpoint signature does not verify") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": 1,
            "body": self.body.decode("ascii"),
            "key_id": self.key_id,
            "public_key": base64.b64encode(self.public_key).decode(),
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_json(cls, doc: Any) -> Checkpoint:
        try:
            if doc["format"] != CHECKPOINT_FORMAT or doc["version"] != 1:
                raise BadCheckpoint("unknown checkpoint format")
            size, root, when = parse_body(str(doc["body"]).encode("ascii"))
            return cls(
                tree_size=size,
                root=root,
                signed_at=when,
                key_id=str(doc["key_id"]),
                public_key=base64.b64decode(doc["public_key"], validate=True),
                signature=base64.b64decode(doc["signature"], validate=True),
            )
        except BadCheckpoint:
            raise
        except (KeyError, TypeError, ValueError, UnicodeError) as exc:
            raise BadCheckpoint(f"malformed checkpoint: {type(exc).__name__}") from None


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def checkpoint_body(tree_size: int, root: bytes, signed_at: datetime) -> bytes:
    return f"{ORIGIN}\n{tree_size}\n{base64.b64encode(root).decode()}\n{_iso(signed_at)}\n".encode()


def parse_body(body: bytes) -> tuple[int, bytes, datetime]:
    lines = body.decode("ascii").split("\n")
    if len(lines) != 5 or lines[0] != ORIGIN or lines[4] != "":
        raise BadCheckpoint("checkpoint body is not in the expected form")
    size = int(lines[1])
    root = base64.b64decode(lines[2], validate=True)
    if size < 0 or len(root) != 32:
        raise BadCheckpoint("checkpoint size or root is invalid")
    when = datetime.strptime(lines[3], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return size, root, when


@dataclass(frozen=True)
class Receipt:
    seq: int
    entry: bytes
    checkpoint: Checkpoint
    proof: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": RECEIPT_FORMAT,
                "version": 1,
                "seq": self.seq,
                "entry": base64.b64encode(self.entry).decode(),
                "checkpoint": self.checkpoint.to_json(),
                "inclusion_proof": [p.hex() for p in self.proof],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Receipt:
        try:
            doc = json.loads(data)
            if doc["format"] != RECEIPT_FORMAT or doc["version"] != 1:
                raise BadCheckpoint("unknown receipt format")
            return cls(
                seq=int(doc["seq"]),
                entry=base64.b64decode(doc["entry"], validate=True),
                checkpoint=Checkpoint.from_json(doc["checkpoint"]),
                proof=tuple(bytes.fromhex(p) for p in doc["inclusion_proof"]),
            )
        except BadCheckpoint:
            raise
        except (KeyError, TypeError, ValueError, UnicodeError) as exc:
            raise BadCheckpoint(f"malformed receipt: {type(exc).__name__}") from None

    def verify(self, trusted_key: bytes | None = None) -> dict[str, Any]:
        """Check signature, position and inclusion; return the entry. Raises on any failure."""
        self.checkpoint.verify(trusted_key)
        try:
            entry = json.loads(self.entry)
        except ValueError:
            raise BadCheckpoint("entry is not JSON") from None
        if not isinstance(entry, dict) or entry.get("seq") != self.seq:
            raise BadCheckpoint("entry does not carry the receipt's sequence number")
        verify_inclusion(
            bytes.fromhex(leaf_hash(self.entry)),
            self.seq - 1,
            self.checkpoint.tree_size,
            list(self.proof),
            self.checkpoint.root,
        )
        return entry
