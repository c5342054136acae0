"""This hub's cosigned checkpoints, where ``ledger verify`` finds them: in the database, and in a
file outside it beside the pinned hub key (``hub-cosigned.json``).

The file holds the newest checkpoint that any peer cosigned, with its cosignatures. A database
administrator who drops the tail of the log and the rows that recorded it cannot reach the file
(it lives with the KEK and the pins), nor the witnesses' own copies (``mappa-hub witness export``
on the peer). Only the newest is kept: every cosigned checkpoint was checked by its witness to be
consistent with the one before, so a log consistent with the newest is consistent with them all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hub.ledger.checkpoint import BadCheckpoint, Checkpoint
from hub.ledger.cosignature import Cosignature, CosignedCheckpoint
from hub.store import cosignatures as store
from hub.store.database import Database

COSIGNED_FILE = "hub-cosigned.json"


def cosigned_path(pins: Path) -> Path:
    """Beside the pin file, wherever the deployment put it ($MAPPA_HUB_KEY_PINS or the KEK's
    directory): the same custody as the key that signs the checkpoints it holds."""
    return pins.with_name(COSIGNED_FILE)


def read_cosigned(path: Path) -> CosignedCheckpoint | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return CosignedCheckpoint.from_json(json.loads(text))
    except (ValueError, UnicodeError):
        raise BadCheckpoint(f"{path} is not a cosigned checkpoint file") from None


def record_cosigned(path: Path, checkpoint: Checkpoint, cosignature: Cosignature) -> None:
    """Keep ``checkpoint`` with ``cosignature`` in the file if it is at least as new as what the
    file holds (one witness's newer cosignature of the same checkpoint replaces its older one).
    Written to a temporary file and renamed: a reader sees the old file or the new, never half."""
    held = read_cosigned(path)
    if held is not None and held.checkpoint.tree_size > checkpoint.tree_size:
        return
    if held is not None and held.checkpoint.body == checkpoint.body:
        others = tuple(c for c in held.cosignatures if c.witness_key != cosignature.witness_key)
        updated = CosignedCheckpoint(held.checkpoint, (*others, cosignature))
    else:
        updated = CosignedCheckpoint(checkpoint, (cosignature,))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(updated.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


async def held_checkpoints(db: Database, pins: Path) -> list[tuple[str, Checkpoint]]:
    """Each cosigned checkpoint of this hub, with words naming it for a failed verification."""
    async with db.read() as conn:
        received = await store.all_received(conn)
    held = [
        (
            f"checkpoint at size {r.checkpoint.tree_size} cosigned by peer {r.peer_name}",
            r.checkpoint,
        )
        for r in received
    ]
    path = cosigned_path(pins)
    kept = read_cosigned(path)
    if kept is not None:
        what = f"checkpoint at size {kept.checkpoint.tree_size} cosigned by peers (in {path})"
        try:
            kept.verify(kept.checkpoint.public_key)
        except BadCheckpoint as exc:
            raise BadCheckpoint(f"{what}: {exc.reason}") from None
        held.append((what, kept.checkpoint))
    return held
