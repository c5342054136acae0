"""Cosignatures: a peer hub's witness statement that it saw one of this hub's checkpoints and found it
consistent with every earlier one it saw. The wire forms of the witness exchange live here too.

This is the C2SP tlog-witness protocol (https://c2sp.org/tlog-witness) adapted to the hub's own
checkpoint format (``hub.ledger.checkpoint``), which is not a C2SP signed note. A cosignature is an
Ed25519 signature by the *witness* hub's signing key over this statement (UTF-8, each line ending
in a newline)::

    mappa-hub/cosignature/v1
    log <the log hub's Ed25519 signing key, 64 hex digits>
    time <when the witness cosigned, UTC ISO 8601>
    <the checkpoint body, verbatim: mappa-hub/ledger/v1, tree size, root in base64, signing time>

The first line keeps a cosignature apart from a checkpoint signature by the same key (a checkpoint
body starts ``mappa-hub/ledger/v1``); the log key names whose log it is (checkpoint bodies carry no
per-hub origin); the body binds tree size, root and the log's signing time. As in C2SP's
cosignature/v1 the witness's time is signed, so a holder knows the log was consistent at least up
to then.

``AddCheckpoint`` is the request (tlog-witness ``add-checkpoint``): the witness's last size for
this log, an RFC 9162 consistency proof from it to the new checkpoint, and the checkpoint.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.crypto import signing
from hub.crypto.errors import CryptoFailure
from hub.ledger.checkpoint import BadCheckpoint, Checkpoint
from hub.ledger.merkle import HASH_SIZE

COSIGNATURE_ORIGIN = "mappa-hub/cosignature/v1"
COSIGNATURE_FORMAT = "mappa-hub/cosignature"
ADD_CHECKPOINT_FORMAT = "mappa-hub/add-checkpoint"
# A consistency proof has at most about 2 log2(n) hashes; 128 covers any log that fits a BigInteger.
MAX_PROOF_HASHES = 128
_TIME = "%Y-%m-%dT%H:%M:%SZ"


def cosignature_body(log_key: bytes, cosigned_at: datetime, checkpoint_body: bytes) -> bytes:
    """The statement a witness signs (see the module docstring)."""
    when = cosigned_at.astimezone(UTC).strftime(_TIME)
    head = f"{COSIGNATURE_ORIGIN}\nlog {log_key.hex()}\ntime {when}\n".encode()
    return head + checkpoint_body


def _seconds(when: datetime) -> datetime:
    """The signed time has whole seconds; keep the object equal to what is signed."""
    return when.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Cosignature:
    """One witness's signature over one checkpoint of one log."""

    witness_key: bytes
    cosigned_at: datetime
    signature: bytes

    def body(self, checkpoint: Checkpoint) -> bytes:
        return cosignature_body(checkpoint.public_key, self.cosigned_at, checkpoint.body)

    def verify(self, checkpoint: Checkpoint, witness_key: bytes) -> None:
        """Check that ``witness_key`` (the pinned key of the witness) cosigned ``checkpoint``."""
        if witness_key != self.witness_key:
            raise BadCheckpoint("cosigned by a key other than the witness's pinned key")
        try:
            signing.verify(witness_key, self.body(checkpoint), self.signature)
        except CryptoFailure:
            raise BadCheckpoint("cosignature does not verify") from None

    @classmethod
    def sign(
        cls,
        checkpoint: Checkpoint,
        witness_key: bytes,
        cosigned_at: datetime,
        signer: Callable[[bytes], bytes],
    ) -> Cosignature:
        """``signer`` makes the Ed25519 signature of ``witness_key`` over a statement."""
        when = _seconds(cosigned_at)
        body = cosignature_body(checkpoint.public_key, when, checkpoint.body)
        return cls(witness_key, when, signer(body))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": COSIGNATURE_FORMAT,
            "version": 1,
            "witness_key": self.witness_key.hex(),
            "time": self.cosigned_at.astimezone(UTC).strftime(_TIME),
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_json(cls, doc: Any) -> Cosignature:
        try:
            if doc["format"] != COSIGNATURE_FORMAT or doc["version"] != 1:
                raise BadCheckpoint("unknown cosignature format")
            key = bytes.fromhex(doc["witness_key"])
            signature = base64.b64decode(doc["signature"], validate=True)
            when = datetime.strptime(doc["time"], _TIME).replace(tzinfo=UTC)
        except BadCheckpoint:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise BadCheckpoint(f"malformed cosignature: {type(exc).__name__}") from None
        if len(key) != 32 or len(signature) != 64:
            raise BadCheckpoint("malformed cosignature: key or signature length")
        return cls(key, when, signature)


@dataclass(frozen=True)
class CosignedCheckpoint:
    """A checkpoint with the cosignatures it gathered, as kept outside a database.

    Its JSON is the checkpoint's own (``Checkpoint.to_json``) plus a ``cosignatures`` list, so
    ``mappa-hub ledger verify --checkpoint FILE`` reads such a file as a held checkpoint."""

    checkpoint: Checkpoint
    cosignatures: tuple[Cosignature, ...]

    def verify(self, log_key: bytes) -> None:
        """The log's signature by ``log_key`` and every cosignature by the key it names."""
        self.checkpoint.verify(log_key)
        for cosignature in self.cosignatures:
            cosignature.verify(self.checkpoint, cosignature.witness_key)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.checkpoint.to_json(),
            "cosignatures": [c.to_json() for c in self.cosignatures],
        }

    @classmethod
    def from_json(cls, doc: Any) -> CosignedCheckpoint:
        checkpoint = Checkpoint.from_json(doc)
        found = doc.get("cosignatures", []) if isinstance(doc, dict) else []
        if not isinstance(found, list):
            raise BadCheckpoint("malformed cosignatures")
        return cls(checkpoint, tuple(Cosignature.from_json(c) for c in found))


@dataclass(frozen=True)
class AddCheckpoint:
    """A log's request that a witness cosign ``checkpoint`` (tlog-witness ``add-checkpoint``)."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: Checkpoint

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ADD_CHECKPOINT_FORMAT,
            "version": 1,
            "old_size": self.old_size,
            "consistency_proof": [p.hex() for p in self.proof],
            "checkpoint": self.checkpoint.to_json(),
        }

    @classmethod
    def from_json(cls, doc: Any) -> AddCheckpoint:
        try:
            if doc["format"] != ADD_CHECKPOINT_FORMAT or doc["version"] != 1:
                raise BadCheckpoint("unknown request format")
            old_size = doc["old_size"]
            hashes = doc["consistency_proof"]
            if not isinstance(old_size, int) or isinstance(old_size, bool) or old_size < 0:
                raise BadCheckpoint("old size is not a whole number")
            if not isinstance(hashes, list) or len(hashes) > MAX_PROOF_HASHES:
                raise BadCheckpoint("consistency proof is not a list of at most 128 hashes")
            proof = tuple(bytes.fromhex(h) for h in hashes)
            checkpoint = Checkpoint.from_json(doc["checkpoint"])
        except BadCheckpoint:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise BadCheckpoint(f"malformed request: {type(exc).__name__}") from None
        if any(len(p) != HASH_SIZE for p in proof):
            raise BadCheckpoint("a proof hash is not 32 bytes")
        return cls(old_size, proof, checkpoint)
