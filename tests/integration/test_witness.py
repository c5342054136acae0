"""Peers witness each other's logs (hub.services.witness): two hubs in one process, each on its own
database with its own KEK and pins, pinned to each other by their peers rows.

The add-checkpoint exchange goes through its JSON wire form (``AddCheckpoint`` and ``Cosignature``
to and from JSON) straight into the other hub's real witness service; the signed HTTP carriage
between hubs is the federation client's, outside these tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from hub.crypto import signing
from hub.crypto.http_signatures import fingerprint
from hub.errors import HubError
from hub.ledger.checkpoint import BadCheckpoint, Checkpoint
from hub.ledger.cosignature import AddCheckpoint, Cosignature, CosignedCheckpoint
from hub.ledger.entries import Action, Event, Record
from hub.services import ledger
from hub.services.checkpoints import pin_path
from hub.services.cosigned import cosigned_path
from hub.services.peers import Peer
from hub.services.witness import (
    LogTruncated,
    UnknownLog,
    WitnessConflict,
    WitnessRefused,
    WitnessService,
)
from hub.store import peers as peer_store
from hub.store.schema import (
    checkpoint_cosignatures,
    ledger_checkpoints,
    ledger_entries,
    ledger_head,
    peers,
)
from hub.wiring import Hub, initialise
from tests.cli_runner import run_command
from tests.conftest import START, TickingClock, make_config


class Loopback:
    """Hands each request, as JSON, to the named peer's witness service and the answer back as
    JSON; ``sent`` records what was asked (peer name, old size, new size)."""

    def __init__(self) -> None:
        self.witnesses: dict[str, WitnessService] = {}
        self.sent: list[tuple[str, int, int]] = []

    async def add_checkpoint(self, peer: Peer, request: AddCheckpoint) -> Cosignature:
        wire = json.loads(json.dumps(request.to_json()))
        self.sent.append((peer.name, request.old_size, request.checkpoint.tree_size))
        answer = await self.witnesses[peer.name].add_checkpoint(AddCheckpoint.from_json(wire))
        return Cosignature.from_json(json.loads(json.dumps(answer.to_json())))


@dataclass
class Side:
    name: str
    hub: Hub
    witness: WitnessService
    data: Path


async def _open(tmp_path: Path, name: str, url: str, transport: Loopback) -> Side:
    data = tmp_path / name
    config = make_config(data, url)
    await initialise(config)
    hub = await Hub.open(config, TickingClock(START))
    pins = pin_path(config.kek_path)
    return Side(
        name, hub, WitnessService(hub.db, hub.ledger, hub.peers, hub.clock, pins, transport), data
    )


async def _pin(side: Side, other: Side) -> None:
    """Pinned through the peers store (``mappa-hub peer add`` does the same and logs it)."""
    key, _ = await other.hub.ledger.hub_signing_key()
    url = f"http://127.0.0.1/{other.name}"
    async with side.hub.db.write() as conn:
        await peer_store.add_peer(
            conn, other.name, url, key.public_key, fingerprint(key.public_key), START
        )


async def _grow(side: Side, n: int) -> None:
    now = side.hub.clock.now()
    record = Record(
        action=Action.ALTERATION, event=Event.CASE_ALTERED, recorded_at=now,
        actor_user_id=None, actor_agency_id=None, purpose="risk-management",
        lawful_basis="cja2003-s325",
    )  # fmt: skip
    async with side.hub.db.write() as conn:
        await ledger.append_many(conn, [record] * n)


@pytest.fixture
async def pair(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Side, Side, Loopback]]:
    """Hubs a and b witnessing each other; on PostgreSQL b has a database of its own too."""
    transport = Loopback()
    if database_url.startswith("sqlite"):  # in its data directory, where the CLI looks
        database_url = f"sqlite:///{tmp_path / 'hub-a' / 'hub.sqlite3'}"
    a = await _open(tmp_path, "hub-a", database_url, transport)
    b_url = f"sqlite:///{tmp_path / 'hub-b' / 'hub.sqlite3'}"
    b = await _open(tmp_path, "hub-b", b_url, transport)
    try:
        await _pin(a, b)
        await _pin(b, a)
        transport.witnesses = {"hub-a": a.witness, "hub-b": b.witness}
        yield a, b, transport
    finally:
        await a.hub.close()
        await b.hub.close()


async def test_cosign_grow_and_cosign_again_with_a_consistency_proof(
    pair: tuple[Side, Side, Loopback],
) -> None:
    a, b, transport = pair
    b_key, _ = await b.hub.ledger.hub_signing_key()
    await _grow(a, 3)
    [first] = await a.witness.run()
    assert first.peer == "hub-b" and first.error is None and first.cosignature is not None
    cp3 = await a.hub.ledger.latest_checkpoint()
    assert cp3 is not None and cp3.tree_size == 3
    first.cosignature.verify(cp3, b_key.public_key)
    [held] = await b.witness.witnessed()
    assert (held.peer_name, held.checkpoint.tree_size) == ("hub-a", 3)

    await _grow(a, 4)
    [second] = await a.witness.run()
    assert second.tree_size == 7 and second.error is None
    # The second request proved consistency from the size the witness held.
    assert transport.sent == [("hub-b", 0, 3), ("hub-b", 3, 7)]
    [held] = await b.witness.witnessed()
    assert held.checkpoint.tree_size == 7
    assert [r.checkpoint.tree_size for r in await a.witness.received()] == [3, 7]
    # Asked again with nothing new, the peer is not called: it has cosigned this one.
    await a.witness.run()
    assert len(transport.sent) == 2

    # The witness's copy, as exported for a's operator, is the checkpoint b cosigned.
    exported = await b.witness.export_witnessed("hub-a")
    newest = await a.hub.ledger.latest_checkpoint()
    assert newest is not None and exported.checkpoint.body == newest.body
    exported.verify(exported.checkpoint.public_key)
    # The file beside a's pins holds the newest cosigned checkpoint with b's cosignature.
    kept = json.loads(cosigned_path(pin_path(a.hub.config.kek_path)).read_text())
    assert CosignedCheckpoint.from_json(kept).checkpoint.tree_size == 7
    report = await a.hub.ledger.verify()
    assert report.cosigned_checkpoints == 3  # two rows and the file

    # Both ways: b's log witnessed by a.
    await _grow(b, 2)
    [back] = await b.witness.run()
    assert back.peer == "hub-a" and back.error is None


async def _signed_by(side: Side, size: int, root: bytes) -> Checkpoint:
    key, private = await side.hub.ledger.hub_signing_key()
    cp = Checkpoint(size, root, side.hub.clock.now(), key.key_id, key.public_key, b"")
    return replace(cp, signature=signing.sign(private, cp.body))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_witness_refuses_and_keeps_its_state(pair: tuple[Side, Side, Loopback]) -> None:
    a, b, _ = pair
    await _grow(a, 5)
    await a.witness.run()
    cp5 = await a.hub.ledger.latest_checkpoint()
    assert cp5 is not None and cp5.tree_size == 5
    await _grow(a, 3)
    cp8 = await a.hub.ledger.checkpoint()
    proof = tuple(await a.hub.ledger.consistency_proof(5, 8))

    async def refused(request: AddCheckpoint) -> HubError:
        with pytest.raises(HubError) as caught:
            await b.witness.add_checkpoint(request)
        return caught.value

    bad_signature = replace(cp8, signature=bytes(64))
    err = await refused(AddCheckpoint(5, proof, bad_signature))
    assert isinstance(err, WitnessRefused) and err.reason == "signature"

    smaller = await _signed_by(a, 3, bytes(32))
    err = await refused(AddCheckpoint(5, (), smaller))
    assert isinstance(err, WitnessRefused) and err.reason == "smaller"

    fork = await _signed_by(a, 5, hashlib.sha256(b"another history").digest())
    err = await refused(AddCheckpoint(5, (), fork))
    assert isinstance(err, WitnessRefused) and err.reason == "fork"

    bent = (proof[0][::-1], *proof[1:])
    err = await refused(AddCheckpoint(5, bent, cp8))
    assert isinstance(err, WitnessRefused) and err.reason == "proof"
    err = await refused(AddCheckpoint(5, proof[:-1], cp8))
    assert isinstance(err, WitnessRefused) and err.reason == "proof"

    err = await refused(AddCheckpoint(0, tuple(await a.hub.ledger.consistency_proof(0, 8)), cp8))
    assert (
        isinstance(err, WitnessConflict)
        and err.known is not None
        and err.known.body == cp5.body
        and err.status == 409
    )

    # A checkpoint of a log whose key is not pinned, or whose peer was made inactive.
    own = await _signed_by(b, 1, bytes(32))
    assert isinstance(await refused(AddCheckpoint(0, (), own)), UnknownLog)
    async with b.hub.db.write() as conn:
        await conn.execute(update(peers).where(peers.c.name == "hub-a").values(active=False))
    assert isinstance(await refused(AddCheckpoint(5, proof, cp8)), UnknownLog)

    [held] = await b.witness.witnessed()
    assert held.checkpoint.body == cp5.body  # nothing refused moved the state
    async with b.hub.db.write() as conn:
        await conn.execute(update(peers).where(peers.c.name == "hub-a").values(active=True))
    assert (await b.witness.add_checkpoint(AddCheckpoint(5, proof, cp8))).signature


async def _drop_tail(side: Side, keep: int) -> None:
    """What a database administrator does to hide the newest entries: delete them, rewind the
    head, and delete every checkpoint and cosignature row that covered them."""
    async with side.hub.db.write() as conn:
        await conn.execute(delete(ledger_entries).where(ledger_entries.c.seq > keep))
        last = (
            await conn.execute(
                select(ledger_entries.c.entry_hash).where(ledger_entries.c.seq == keep)
            )
        ).scalar_one()
        await conn.execute(update(ledger_head).values(seq=keep, entry_hash=last))
        await conn.execute(delete(ledger_checkpoints).where(ledger_checkpoints.c.tree_size > keep))


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_command(["--data-dir", str(data), *args])


async def _main(data: Path, *args: str) -> tuple[int, str]:
    """``_cli`` off the event loop, which serves the peer the command may call; its status and
    everything it wrote."""
    r = await asyncio.to_thread(_cli, data, *args)
    return r.returncode, r.stdout + r.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_dropped_tail_fails_verification_against_the_cosignature(
    pair: tuple[Side, Side, Loopback], tmp_path: Path
) -> None:
    a, b, _ = pair
    await _grow(a, 6)
    await a.witness.run()
    await _grow(a, 1)  # written after the last cosignature: the window still open
    await a.hub.ledger.verify()

    await _drop_tail(a, 4)
    # The cosignature row a received still names the dropped entries.
    with pytest.raises(BadCheckpoint, match="size 6 cosigned by peer hub-b: the log is shorter"):
        await a.hub.ledger.verify()
    r = _cli(a.data, "ledger", "verify")
    assert r.returncode == 1
    assert "checkpoint at size 6 cosigned by peer hub-b" in r.stderr

    # A thorough administrator deletes those rows too; the file beside the pins still holds it.
    async with a.hub.db.write() as conn:
        await conn.execute(delete(checkpoint_cosignatures))
    with pytest.raises(BadCheckpoint, match=r"size 6 cosigned by peers \(in .*hub-cosigned.json"):
        await a.hub.ledger.verify()

    # Without the file as well, the witness's own copy catches it: exported by b, checked by a.
    cosigned_path(pin_path(a.hub.config.kek_path)).unlink()
    await a.hub.ledger.verify()  # nothing left on a's side remembers the tail
    held = tmp_path / "hub-a-as-witnessed-by-hub-b.json"
    code, said = await _main(b.data, "witness", "export", "hub-a", "--out", str(held))
    assert code == 0, said
    code, said = await _main(a.data, "ledger", "verify", "--checkpoint", str(held))
    assert code == 1
    assert "exported checkpoint at size 6: the log is shorter" in said
    # And at a's next witnessing round b says what it holds, which a's log no longer contains.
    with pytest.raises(LogTruncated, match="Peer hub-b holds this hub's checkpoint at size 6"):
        await a.witness.run()
    code, said = await _main(b.data, "witness", "list")
    assert code == 0 and "  hub-a\t6\t" in said
    # `witness run` over HTTP: hub-b's recorded URL answers nothing here, so it fails (exit 1).
    code, said = await _main(a.data, "witness", "run")
    assert code == 1 and "hub-b: not cosigned: Peer hub hub-b could not be reached" in said
