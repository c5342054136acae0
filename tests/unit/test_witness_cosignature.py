"""The witness formats (hub.ledger.cosignature): what is signed, round trips, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hub.crypto import signing
from hub.crypto.agency_keys import KeyPurpose, generate_local_pair
from hub.ledger.checkpoint import BadCheckpoint, Checkpoint
from hub.ledger.cosignature import AddCheckpoint, Cosignature, CosignedCheckpoint, cosignature_body

WHEN = datetime(2026, 12, 6, 10, 30, 15, 123456, tzinfo=UTC)
SIGNED = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)  # a checkpoint body has whole seconds


def _checkpoint(size: int = 5, root: bytes = b"\x07" * 32) -> tuple[Checkpoint, Any]:
    log = generate_local_pair(KeyPurpose.SIGNING)
    cp = Checkpoint(size, root, SIGNED, log.key_id, log.public, b"")
    signature = signing.sign(log.private, cp.body)
    return Checkpoint(size, root, SIGNED, log.key_id, log.public, signature), log


def _cosigned(cp: Checkpoint) -> tuple[Cosignature, bytes]:
    witness = generate_local_pair(KeyPurpose.SIGNING)
    cos = Cosignature.sign(cp, witness.public, WHEN, lambda b: signing.sign(witness.private, b))
    return cos, witness.public


def test_the_statement_binds_log_key_time_and_checkpoint_body() -> None:
    cp, log = _checkpoint()
    body = cosignature_body(log.public, WHEN, cp.body)
    assert body == (
        f"mappa-hub/cosignature/v1\nlog {log.public.hex()}\ntime 2026-12-06T10:30:15Z\n".encode()
        + cp.body
    )
    assert body.startswith(b"mappa-hub/cosignature/v1\n") and not cp.body.startswith(body[:20])


def test_cosignature_round_trip_and_verification() -> None:
    cp, _ = _checkpoint()
    cos, witness_key = _cosigned(cp)
    assert cos.cosigned_at == WHEN.replace(microsecond=0)  # what is signed: whole seconds
    again = Cosignature.from_json(cos.to_json())
    assert again == cos
    again.verify(cp, witness_key)
    with pytest.raises(BadCheckpoint, match="other than the witness's pinned key"):
        cos.verify(cp, bytes(32))
    other, _ = _checkpoint(size=6)
    with pytest.raises(BadCheckpoint, match="cosignature does not verify"):
        cos.verify(other, witness_key)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"format": "x"}, "unknown cosignature format"),
        ({"version": 2}, "unknown cosignature format"),
        ({"witness_key": "zz"}, "malformed cosignature"),
        ({"witness_key": "ab"}, "key or signature length"),
        ({"time": "yesterday"}, "malformed cosignature"),
        ({"signature": "!!"}, "malformed cosignature"),
    ],
)
def test_malformed_cosignatures_are_refused(change: dict[str, Any], reason: str) -> None:
    cp, _ = _checkpoint()
    cos, _ = _cosigned(cp)
    with pytest.raises(BadCheckpoint, match=reason):
        Cosignature.from_json({**cos.to_json(), **change})


def test_a_cosigned_checkpoint_file_is_also_a_held_checkpoint() -> None:
    cp, log = _checkpoint()
    cos, _ = _cosigned(cp)
    doc = CosignedCheckpoint(cp, (cos,)).to_json()
    assert Checkpoint.from_json(doc) == cp  # what `ledger verify --checkpoint FILE` reads
    read = CosignedCheckpoint.from_json(doc)
    read.verify(log.public)
    assert CosignedCheckpoint.from_json(cp.to_json()).cosignatures == ()
    with pytest.raises(BadCheckpoint, match="malformed cosignatures"):
        CosignedCheckpoint.from_json({**doc, "cosignatures": "none"})


def test_add_checkpoint_round_trip_and_bounds() -> None:
    cp, _ = _checkpoint()
    request = AddCheckpoint(3, (b"\x01" * 32, b"\x02" * 32), cp)
    assert AddCheckpoint.from_json(request.to_json()) == request
    doc = request.to_json()
    for change, reason in [
        ({"format": "x"}, "unknown request format"),
        ({"old_size": -1}, "not a whole number"),
        ({"old_size": True}, "not a whole number"),
        ({"old_size": "3"}, "not a whole number"),
        ({"consistency_proof": ["00" * 32] * 129}, "at most 128"),
        ({"consistency_proof": ["00" * 31]}, "not 32 bytes"),
        ({"consistency_proof": ["xyz"]}, "malformed request"),
        ({"checkpoint": {}}, "malformed checkpoint"),
    ]:
        with pytest.raises(BadCheckpoint, match=reason):
            AddCheckpoint.from_json({**doc, **change})
    with pytest.raises(BadCheckpoint, match="malformed request"):
        AddCheckpoint.from_json([])
