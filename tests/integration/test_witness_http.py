"""Witnessing over the signed hub-to-hub HTTP: two hubs (own databases, KEKs and hub keys), each
served on loopback by aiohttp, pinned to each other, cosign through
``POST /federation/v1/witness/checkpoints`` with the wired ``HttpWitnessTransport``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import delete, select, update

from hub.services.checkpoints import pin_path
from hub.services.cosigned import cosigned_path
from hub.services.witness import LogTruncated
from hub.store.schema import (
    checkpoint_cosignatures,
    ledger_checkpoints,
    ledger_entries,
    ledger_head,
)
from hub.web.app import build_app
from hub.wiring import Hub, initialise
from tests.conftest import make_config
from tests.integration.test_witness import Side, _grow


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Side, Side]]:
    sides: list[Side] = []
    servers: list[TestServer] = []
    try:
        for name in ("hub-a", "hub-b"):
            data = tmp_path / name
            config = make_config(data, f"sqlite:///{data / 'hub.sqlite3'}")
            await initialise(config)
            hub = await Hub.open(config)
            sides.append(Side(name, hub, hub.witness, data))
            server = TestServer(build_app(hub), host="127.0.0.1")
            await server.start_server()
            servers.append(server)
        for me, other, server in (
            (sides[0], sides[1], servers[1]),
            (sides[1], sides[0], servers[0]),
        ):
            key, _ = await other.hub.ledger.hub_signing_key()
            url = f"http://127.0.0.1:{server.port}"
            await me.hub.peers.add(None, other.name, url, key.public_key)
        yield sides[0], sides[1]
    finally:
        for server in servers:
            await server.close()
        for side in sides:
            await side.hub.close()


async def test_cosigned_over_signed_http(served: tuple[Side, Side]) -> None:
    a, b = served
    await _grow(a, 3)  # after the peer-pinned entry: 4 entries
    [first] = await a.witness.run()
    assert (first.peer, first.tree_size, first.error) == ("hub-b", 4, None)
    [held] = await b.witness.witnessed()
    assert (held.peer_name, held.checkpoint.tree_size) == ("hub-a", 4)

    # a loses its record of what b holds: b's 409 names its checkpoint, a proves from there.
    await _grow(a, 2)
    async with a.hub.db.write() as conn:
        await conn.execute(delete(checkpoint_cosignatures))
    [second] = await a.witness.run()
    assert (second.tree_size, second.error) == (6, None)
    [held] = await b.witness.witnessed()
    assert held.checkpoint.tree_size == 6
    assert [r.checkpoint.tree_size for r in await a.witness.received()] == [6]

    # Unsigned, the route refuses (401, signed refusal).
    url = f"{(await a.hub.peers.get('hub-b')).url}/federation/v1/witness/checkpoints"
    async with aiohttp.ClientSession() as session, session.post(url, json={}) as resp:
        assert resp.status == 401

    # The tail dropped, with every row and the file that recorded it: b's copy catches it.
    async with a.hub.db.write() as conn:
        await conn.execute(delete(ledger_entries).where(ledger_entries.c.seq > 5))
        last = (
            await conn.execute(select(ledger_entries.c.entry_hash).where(ledger_entries.c.seq == 5))
        ).scalar_one()
        await conn.execute(update(ledger_head).values(seq=5, entry_hash=last))
        await conn.execute(delete(ledger_checkpoints).where(ledger_checkpoints.c.tree_size > 5))
        await conn.execute(delete(checkpoint_cosignatures))
    cosigned_path(pin_path(a.hub.config.kek_path)).unlink()
    with pytest.raises(LogTruncated, match="Peer hub-b holds this hub's checkpoint at size 6"):
        await a.witness.run()
