"""Pinning peers and remembering their nonces, on SQLite and PostgreSQL (savepoints differ)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hub.cli.peer import read_key_file
from hub.clock import ManualClock
from hub.crypto import http_signatures as hs
from hub.crypto.agency_keys import KeyPurpose, generate_local_pair
from hub.errors import Conflict, Forbidden, InvalidInput
from hub.ledger.entries import Event
from hub.model.directory import Agency, AgencyType, Role, User
from hub.services.actor import Actor
from hub.services.peers import PeerNotPinned
from hub.store.schema import ledger_entries
from hub.wiring import Hub


async def _events(hub: Hub) -> list[str]:
    async with hub.db.read() as conn:
        rows = await conn.execute(ledger_entries.select().order_by(ledger_entries.c.seq))
        return [r.event for r in rows]


async def test_pin_remove_and_pin_again_each_on_the_log(hub: Hub, clock: ManualClock) -> None:
    key = generate_local_pair(KeyPurpose.SIGNING).public
    peer = await hub.peers.add(None, "scotland", "https://hub.scot.example/", key)
    assert peer.url == "https://hub.scot.example" and peer.fingerprint == hs.fingerprint(key)
    assert await hub.peers.pinned_key(peer.fingerprint) == key
    with pytest.raises(Conflict):
        await hub.peers.add(None, "scotland", "https://other.example", key)
    with pytest.raises(Conflict):
        await hub.peers.add(None, "alba", "https://hub.scot.example", key)
    with pytest.raises(InvalidInput):  # plain http only to loopback
        await hub.peers.add(
            None, "ni", "http://hub.ni.example", generate_local_pair(KeyPurpose.SIGNING).public
        )
    with pytest.raises(InvalidInput):  # its own key
        await hub.peers.add(None, "me", "https://me.example", (await hub.peers.hub_key()).public)

    await hub.peers.remove(None, "scotland")
    with pytest.raises(PeerNotPinned):
        await hub.peers.pinned_key("scotland")
    with pytest.raises(hs.SignatureRefused):
        await hub.peers.for_key_id(peer.fingerprint)
    new_key = generate_local_pair(KeyPurpose.SIGNING).public
    again = await hub.peers.add(None, "scotland", "https://hub.scot.example", new_key)
    assert again.id == peer.id and await hub.peers.pinned_key("scotland") == new_key
    events = await _events(hub)
    assert [e for e in events if e.startswith("peer-")] == [
        Event.PEER_PINNED, Event.PEER_REMOVED, Event.PEER_PINNED,
    ]  # fmt: skip


async def test_only_the_operator_pins(hub: Hub) -> None:
    """A person signed in, even an administrator, cannot pin: only the console can."""
    agency = Agency(1, "DBY-POLICE", "Derbyshire Police", AgencyType.POLICE, 1)
    admin = Actor(User(1, "dby.admin", "Admin", 1, Role.AGENCY_ADMIN), agency)
    with pytest.raises(Forbidden):
        await hub.peers.add(admin, "scotland", "https://hub.scot.example", b"\x01" * 32)
    assert await hub.peers.list() == []


async def test_a_nonce_is_accepted_once_within_the_window(hub: Hub, clock: ManualClock) -> None:
    peer = await hub.peers.add(
        None, "ni", "https://hub.ni.example", generate_local_pair(KeyPurpose.SIGNING).public
    )
    await hub.peers.accept_nonce(peer, "n" * 32)
    with pytest.raises(hs.SignatureRefused, match="replayed"):
        await hub.peers.accept_nonce(peer, "n" * 32)
    # Long after the window, old nonces are forgotten as new ones arrive.
    clock.advance(2 * hs.MAX_SKEW + timedelta(seconds=1))
    await hub.peers.accept_nonce(peer, "m" * 32)
    await hub.peers.accept_nonce(peer, "n" * 32)


def test_a_key_file_must_agree_with_its_fingerprint(tmp_path: Path) -> None:
    key = generate_local_pair(KeyPurpose.SIGNING).public
    good = tmp_path / "good.key"
    good.write_text(
        f'{{"format":"mappa-hub-peer-key","key":"{key.hex()}","fingerprint":"{hs.fingerprint(key)}"}}'
    )
    assert read_key_file(good) == key
    bad = tmp_path / "bad.key"
    bad.write_text(
        f'{{"format":"mappa-hub-peer-key","key":"{key.hex()}","fingerprint":"{"0" * 64}"}}'
    )
    with pytest.raises(InvalidInput, match="does not match"):
        read_key_file(bad)
