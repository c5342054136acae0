"""A case transferred between two hubs (separate processes, databases, KEKs) over HTTP on loopback.

North (the demo's Derbyshire) proposes a transfer to Leicestershire on south; the proposal
travels to south as a signed call, south's coordinator accepts it there and the decision travels
back; ``mappa-hub transfer send`` then uploads the signed bundle. The first attempt finds the
peer unreachable (the transfer stays sent, its bundle kept); an upload whose answer is then lost
imports the bundle on south; the command run again sends the same file and south answers with
its original acknowledgement, which completes the transfer on north. Declines, cancellations,
an unreachable peer and a peer that refuses a proposal are tried too.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from adapters.transfer.importer import import_bundle
from adapters.transfer.peer_messages import complete_interrupted, deliver_owed
from adapters.transfer.peer_send import bundle_path, send_to_peer
from hub.client.peer import PeerClient, PeerRefused, PeerUnreachable
from hub.errors import Conflict
from hub.model.directory import AgencyType, Jurisdiction, Role
from hub.model.packets import Draft, PacketType
from hub.model.transfers import TransferState
from hub.services.transfers import Proposal
from hub.store.schema import ledger_entries, peers, transfer_imports, transfers
from hub.wiring import Hub, initialise
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, make_config
from tests.integration.test_federation import Side, _cli, _free_port, _pin, _prepare, serving
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
    with serving(sides):
        # North holds south's signed directory (each test may run alone, in any worker).
        fetched = _cli("peer", "fetch-directory", "south", "--data-dir", str(a.data))
        assert fetched.returncode == 0, fetched.stderr
        yield a, b


async def _told(hub: Hub, transfer_id: int) -> None:
    """Deliver what the transfer owes its peer now. The server's own delivery job may get there
    first: either way the message is delivered once, and nothing is owed after."""
    for d in await deliver_owed(hub, transfer_id):
        assert d.delivered, d.error
    assert (await hub.transfers.transfer_by_id(transfer_id)).peer_owed is None


async def _events(hub: Hub, case_id: int | None) -> set[str]:
    where = ledger_entries.c.case_id.is_(None) if case_id is None else (
        ledger_entries.c.case_id == case_id
    )  # fmt: skip
    async with hub.db.read() as conn:
        rows = await conn.execute(select(ledger_entries.c.event).where(where))
        return {r[0] for r in rows}


async def _proposed(hub: Hub, name: str, area: str = "LEI") -> tuple[int, int]:
    """A new case of north's with a MAPPA meeting, proposed to ``area`` on south."""
    dby = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, name)
    await hub.casework.record_meeting(dby, case, date.today() - timedelta(days=2), 2)
    made = await hub.transfers.propose(dby, Proposal(
        case, f"{name} is moving.", date.today(), area, "south", "england-and-wales"
    ))  # fmt: skip
    return case, made.id


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
        assert proposed.peer_owed == "proposal"
        await _told(north, proposed.id)
        told = await north.transfers.transfer_by_id(proposed.id)
        assert told.peer_owed is None and told.remote_id is not None
    finally:
        await north.close()

    # South: the proposal is there for its coordinator, who accepts it; the decision goes back.
    south = await Hub.open(b.config)
    try:
        lei = await actor_for(south, "lei.coordinator")
        incoming = await south.transfers.get(lei, int(told.remote_id or 0))
        assert (incoming.state, incoming.peer_name, incoming.remote_id, incoming.case_id) == (
            TransferState.PROPOSED, "north", str(proposed.id), None,
        )  # fmt: skip
        assert incoming.reason == "Moving to Leicester."
        accepted = await south.transfers.accept(
            lei, incoming.id, "Hostel place confirmed.", "LEI-PROBATION"
        )
        assert accepted.peer_owed == "decision"
        await _told(south, incoming.id)
    finally:
        await south.close()

    north = await Hub.open(a.config)
    try:
        decided = await north.transfers.transfer_by_id(proposed.id)
        assert (decided.state, decided.decided_by_name, decided.new_lead_agency_code) == (
            TransferState.ACCEPTED, "Kim Lowe", "LEI-PROBATION",
        )  # fmt: skip
        assert decided.decision_reasons == "Hostel place confirmed."
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
        # The transfer proposed and accepted on south is the one the bundle completed.
        (received,) = [
            t for t in await south.transfers.for_area(coordinator)
            if t.remote_id == str(proposed.id)
        ]  # fmt: skip
        assert (received.id, received.state, received.peer_name, received.case_reference) == (
            incoming.id, TransferState.COMPLETED, "north", reference,
        )  # fmt: skip
        assert received.bundle_digest == done.bundle_digest
        # The receiving area's new lead agency took the case over, and its practitioner opens
        # the packet through the services (verified, logged, decrypted with south's own key).
        (moved,) = [c for c in await south.cases.visible_to(None) if c.reference == reference]
        assert moved.lead_agency_id == await agency_id(south, "LEI-PROBATION")
        opened = await south.packets.open(await actor_for(south, "lei.probation"), shared.id)
        assert opened.body == "Proposed address near a school."
        # Every step on the ledger of both hubs.
        assert await _events(north, case) >= {
            "transfer-proposed", "transfer-accepted", "transfer-sent", "transfer-completed",
        }  # fmt: skip
        # On south the proposal and the decision came before the case did (no case row yet).
        assert await _events(south, None) >= {"transfer-proposed", "transfer-accepted"}
        assert await _events(south, moved.id) >= {"transfer-received", "transfer-completed"}
        await north.ledger.verify()
        await south.ledger.verify()
    finally:
        await north.close()
        await south.close()


async def test_a_decline_and_a_cancellation_travel_between_hubs(hubs: tuple[Side, Side]) -> None:
    a, b = hubs
    north, south = await Hub.open(a.config), await Hub.open(b.config)
    try:
        dby = await actor_for(north, "dby.coordinator")
        lei = await actor_for(south, "lei.coordinator")
        _, declined_id = await _proposed(north, "Carver")
        _, cancelled_id = await _proposed(north, "Dunmore")
        await _told(north, declined_id)
        await _told(north, cancelled_id)
        there = {t.remote_id: t for t in await south.transfers.for_area(lei)}
        to_decline, to_cancel = there[str(declined_id)], there[str(cancelled_id)]
        assert to_decline.state is to_cancel.state is TransferState.PROPOSED

        await south.transfers.decline(lei, to_decline.id, "No approved premises place until May.")
        await _told(south, to_decline.id)
        back = await north.transfers.get(dby, declined_id)
        assert (back.state, back.decided_by_name) == (TransferState.DECLINED, "Kim Lowe")
        assert back.decision_reasons == "No approved premises place until May."

        await north.transfers.cancel(dby, cancelled_id, "He stays in Derby after all.")
        await _told(north, cancelled_id)
        gone = await south.transfers.get(lei, to_cancel.id)
        assert gone.state is TransferState.CANCELLED
        # South cannot decide on a withdrawn transfer.
        with pytest.raises(Conflict):
            await south.transfers.accept(lei, to_cancel.id, "Too late.", "LEI-PROBATION")
    finally:
        await north.close()
        await south.close()


async def test_a_proposal_resent_after_a_lost_answer_is_taken_once(
    hubs: tuple[Side, Side],
) -> None:
    a, b = hubs
    north, south = await Hub.open(a.config), await Hub.open(b.config)
    try:
        _, transfer_id = await _proposed(north, "Ellery")
        message, body = await north.transfers.message(
            await north.transfers.transfer_by_id(transfer_id)
        )
        async with PeerClient(await north.peers.hub_key(), north.clock) as client:
            peer = await north.peers.get("south")
            first = (await client.post_json(peer, message.path, body)).json()
            again = (await client.post_json(peer, message.path, body)).json()
            assert first == again  # the same transfer on south, not a second one
            # Types are checked, not coerced: a transfer id sent as a string is refused.
            with pytest.raises(PeerRefused) as refused:
                await client.post_json(peer, message.path, {**body, "transfer": str(transfer_id)})
            assert refused.value.peer_status == 400
        lei = await actor_for(south, "lei.coordinator")
        mine = [t for t in await south.transfers.for_area(lei) if t.remote_id == str(transfer_id)]
        assert len(mine) == 1
    finally:
        await north.close()
        await south.close()


async def test_an_unreachable_or_refusing_peer_leaves_the_message_owed_with_the_reason(
    hubs: tuple[Side, Side],
) -> None:
    a, b = hubs
    north = await Hub.open(a.config)
    try:
        dby = await actor_for(north, "dby.coordinator")
        # A proposal for an area south does not have: south refuses it, in words kept here.
        _, wrong_area = await _proposed(north, "Fenwick", area="NOT")
        (result,) = await deliver_owed(north, wrong_area)
        assert not result.delivered and "NOT is not on this hub" in result.error
        kept = await north.transfers.get(dby, wrong_area)
        assert kept.peer_owed == "proposal" and kept.peer_attempts >= 1
        assert kept.peer_error and "NOT is not on this hub" in kept.peer_error
        assert kept.peer_next_at is not None and kept.peer_next_at > north.clock.now()
        assert wrong_area not in [t.id for t in await north.transfers.owed_to_peers()]

        # South unreachable: the proposal stays owed, and goes once south answers again.
        await _set_peer_url(north, "south", f"http://127.0.0.1:{_free_port()}")
        try:
            _, later = await _proposed(north, "Gorton")
            (result,) = await deliver_owed(north, later)
            assert not result.delivered
            assert (await north.transfers.get(dby, later)).peer_owed == "proposal"
        finally:
            await _set_peer_url(north, "south", b.url)
        await _told(north, later)
        assert (await north.transfers.get(dby, later)).remote_id is not None
        await north.ledger.verify()
    finally:
        await north.close()


async def test_an_import_cut_short_before_its_transfer_was_recorded_completes_later(
    hubs: tuple[Side, Side],
) -> None:
    """South imports the bundle and stops before recording the transfer (here: the import run
    alone, as the upload handler would before its next step). South's delivery job, or the
    repeated upload, records and completes it from the import's row; north completes on the
    original acknowledgement."""
    a, b = hubs
    north, south = await Hub.open(a.config), await Hub.open(b.config)
    try:
        dby = await actor_for(north, "dby.coordinator")
        lei = await actor_for(south, "lei.coordinator")
        _, transfer_id = await _proposed(north, "Hollins")
        await _told(north, transfer_id)
        there = next(
            t for t in await south.transfers.for_area(lei) if t.remote_id == str(transfer_id)
        )
        await south.transfers.accept(lei, there.id, "Place at Leicester AP.", "LEI-PROBATION")
        await _told(south, there.id)

        await _set_peer_url(north, "south", f"http://127.0.0.1:{_free_port()}")
        try:
            with pytest.raises(PeerUnreachable):
                await send_to_peer(north, transfer_id, dby)
        finally:
            await _set_peer_url(north, "south", b.url)
        kept = bundle_path(north, transfer_id)
        north_key = (await north.peers.hub_key()).public
        imported = await import_bundle(south, kept, sender=north_key,
                                       upload_sha256=hashlib.sha256(kept.read_bytes()).hexdigest())  # fmt: skip
        assert imported.ack is not None

        await complete_interrupted(south)  # the job may have got there first: either way, once
        done_there = await south.transfers.get(lei, there.id)
        assert done_there.state is TransferState.COMPLETED
        moved = await south.cases.get(None, imported.case.id)
        assert moved.lead_agency_id == await agency_id(south, "LEI-PROBATION")

        # North sends again and gets the acknowledgement south made at the import.
        done = await send_to_peer(north, transfer_id, dby)
        assert done.state is TransferState.COMPLETED
        assert done.ack_digest == hashlib.sha256(imported.ack).hexdigest()
        await north.ledger.verify()
        await south.ledger.verify()
    finally:
        await north.close()
        await south.close()
