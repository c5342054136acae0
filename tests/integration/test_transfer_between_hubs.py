"""A case transferred between two hubs (separate processes, databases, KEKs) over HTTP on loopback.

North (the demo's Derbyshire) proposes a transfer to Leicestershire on south, south's decision is
recorded, and ``mappa-hub transfer send`` uploads the signed bundle. The first attempt finds the
peer unreachable (the transfer stays sent, its bundle kept); an upload whose answer is then lost
imports the bundle on south; the command run again sends the same file and south answers with
its original acknowledgement, which completes the transfer on north.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from adapters.transfer.peer_send import bundle_path, send_to_peer
from hub.client.peer import PeerClient, PeerUnreachable
from hub.model.directory import AgencyType, Jurisdiction, Role
from hub.model.packets import Draft, PacketType
from hub.model.transfers import TransferState
from hub.services.transfers import Proposal
from hub.store.schema import peers, transfer_imports, transfers
from hub.wiring import Hub, initialise
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, make_config
from tests.integration.test_federation import ENV, Side, _cli, _free_port, _pin, _prepare, _wait_for
from tests.integration.workflow_support import new_case


async def _prepare_south(side: Side) -> None:
    """A hub with one area the demo does not have, its agencies and a practitioner."""
    await initialise(side.config)
    hub = await Hub.open(side.config)
    try:
        await hub.directory.add_area("LEI", "Leicestershire", Jurisdiction.ENGLAND_AND_WALES)
        await hub.directory.add_agency("LEI-POLICE", "Leics Police", AgencyType.POLICE, "LEI")
        await hub.directory.add_agency(
            "LEI-PROBATION", "Probation LEI", AgencyType.PROBATION, "LEI"
        )
        await hub.directory.add_user("lei.probation", "Sam Patel", "LEI-PROBATION",
                                     Role.PRACTITIONER, "a long test passphrase 42")  # fmt: skip
        await hub.directory.add_user("lei.coordinator", "Kim Lowe", "LEI-POLICE",
                                     Role.COORDINATOR, "a long test passphrase 43")  # fmt: skip
    finally:
        await hub.close()


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Side, Side]]:
    sides = []
    for name in ("north", "south"):
        data = tmp_path_factory.mktemp(name) / "data"
        config = make_config(data, f"sqlite:///{data / 'hub.sqlite3'}")
        sides.append(Side(name, data, _free_port(), config))
    a, b = sides
    asyncio.run(_prepare(a))
    asyncio.run(_prepare_south(b))
    asyncio.run(_pin(a, "south", b))
    asyncio.run(_pin(b, "north", a))
    servers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hub",
                "serve",
                "--data-dir",
                str(s.data),
                "--port",
                str(s.port),
            ],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in sides
    ]
    try:
        for side, server in zip(sides, servers, strict=True):
            _wait_for(side.port, server)
        yield a, b
    finally:
        for server in servers:
            server.terminate()
            server.communicate(timeout=30)


async def _set_peer_url(hub: Hub, name: str, url: str) -> None:
    async with hub.db.write() as conn:
        await conn.execute(update(peers).where(peers.c.name == name).values(url=url))


async def test_a_case_moves_to_a_peer_hub_and_the_ack_closes_it(
    hubs: tuple[Side, Side],
) -> None:
    a, b = hubs
    fetched = _cli("peer", "fetch-directory", "south", "--data-dir", str(a.data))
    assert fetched.returncode == 0, fetched.stderr
    today = date.today()
    north = await Hub.open(a.config)
    try:
        dby = await actor_for(north, "dby.coordinator")
        police = await actor_for(north, "dby.police")
        case = await new_case(north, "Ashdown")
        reference = (await north.cases.get(None, case)).reference
        await north.cases.involve(None, reference, "DBY-POLICE")
        shared = await north.packets.send(police, Draft(
            case_id=case, recipient_agency_ids=(await agency_id(north, "DBY-PROBATION"),),
            subject="Address check", body="Proposed address near a school.",
            purpose="risk-management", lawful_basis="cja2003-s325", packet_type=PacketType.NOTE,
            data_categories=SHARE_CATEGORIES, necessity=NECESSITY,
        ))  # fmt: skip
        await north.casework.record_meeting(dby, case, today - timedelta(days=3), 2)
        proposed = await north.transfers.propose(dby, Proposal(
            case, "Moving to Leicester.", today, "LEI", "south", "england-and-wales"
        ))  # fmt: skip
        await north.transfers.record_peer_decision(
            proposed.id, peer_name="south", accepted=True, reasons="Hostel place confirmed.",
            decided_by="Kim Lowe", new_lead_agency_code="LEI-PROBATION",
        )  # fmt: skip
        # The peer cannot be reached: the transfer stays sent, its bundle kept to send again.
        await _set_peer_url(north, "south", f"http://127.0.0.1:{_free_port()}")
        with pytest.raises(PeerUnreachable):
            await send_to_peer(north, proposed.id, dby)
        sent = await north.transfers.transfer_by_id(proposed.id)
        assert sent.state is TransferState.SENT and sent.bundle_digest
        kept = bundle_path(north, proposed.id)
        await _set_peer_url(north, "south", b.url)
        # An upload whose answer is lost: south imports it; north never sees the ack.
        async with PeerClient(await north.peers.hub_key(), north.clock) as client:
            lost = await client.send_bundle(await north.peers.get("south"), kept)
    finally:
        await north.close()

    again = _cli("transfer", "send", str(proposed.id), "--as", "dby.coordinator",
                 "--data-dir", str(a.data))  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "acknowledged" in again.stdout

    north, south = await Hub.open(a.config), await Hub.open(b.config)
    try:
        done = await north.transfers.transfer_by_id(proposed.id)
        assert done.state is TransferState.COMPLETED
        async with north.db.read() as conn:
            ack = (await conn.execute(
                select(transfers.c.ack).where(transfers.c.id == proposed.id)
            )).scalar_one()  # fmt: skip
        # The retry got the original acknowledgement, kept as the evidence.
        assert bytes(ack) == lost.data
        assert done.ack_digest == hashlib.sha256(lost.data).hexdigest()
        assert not kept.exists()

        found = [c for c in await south.cases.visible_to(None) if c.reference == reference]
        assert len(found) == 1
        async with south.db.read() as conn:
            imports = (await conn.execute(select(transfer_imports.c.ack))).all()
        assert [bytes(r[0]) for r in imports] == [lost.data]  # imported once
        coordinator = await actor_for(south, "lei.coordinator")
        (received,) = await south.transfers.for_area(coordinator)
        assert (received.state, received.peer_name, received.case_reference) == (
            TransferState.COMPLETED, "north", reference,
        )  # fmt: skip
        assert received.bundle_digest == done.bundle_digest
        # The receiving area's new lead agency took the case over, and its practitioner opens
        # the packet through the services (verified, logged, decrypted with south's own key).
        (moved,) = [c for c in await south.cases.visible_to(None) if c.reference == reference]
        assert moved.lead_agency_id == await agency_id(south, "LEI-PROBATION")
        opened = await south.packets.open(await actor_for(south, "lei.probation"), shared.id)
        assert opened.body == "Proposed address near a school."
        await north.ledger.verify()
        await south.ledger.verify()
    finally:
        await north.close()
        await south.close()
