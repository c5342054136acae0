"""Telling peer hubs what they are owed about transfers between hubs: the sending hub's proposal
and cancellation, the receiving hub's decision (``hub.services.transfer_peer``).

Each owed message goes as one signed call; the peer's signed answer clears it. A peer that
cannot be reached, or refuses, leaves it owed with the reason in words and a later attempt
(doubling backoff with jitter): the coordinator sees it on the transfer's page, and the server's
delivery job (``run_delivery``) or ``mappa-hub transfer deliver`` tries again. Nothing is lost
if this hub stops meanwhile: what is owed is a column of the transfer row, written with the step.
The same job completes a transfer whose bundle this hub imported but had no time to record
(``complete_interrupted``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.client.peer import PeerClient, PeerRefused
from hub.crypto.secrets import sha256_hex
from hub.errors import Conflict, HubError, NotFound
from hub.model.transfers import PeerMessage
from hub.services.transfer_exchange import ReceivedBundle

if TYPE_CHECKING:
    from hub.wiring import Hub

log = logging.getLogger("hub.transfer.peers")
DELIVERY_INTERVAL_SECONDS = 10.0
# A step in the inbox waits this long for its message before the page answers; the job goes on.
INLINE_TIMEOUT_SECONDS = 5.0
CALL_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Delivery:
    transfer_id: int
    message: PeerMessage
    peer_name: str
    delivered: bool
    error: str = ""


async def deliver_owed(hub: Hub, transfer_id: int | None = None) -> list[Delivery]:
    """Send what is due (or what one transfer owes, due or not); one result per message."""
    due = await hub.transfers.owed_to_peers(transfer_id)
    if not due:
        return []
    out = []
    async with PeerClient(await hub.peers.hub_key(), hub.clock,
                          timeout=CALL_TIMEOUT_SECONDS) as client:  # fmt: skip
        for transfer in due:
            message, body = await hub.transfers.message(transfer)
            peer_name = transfer.peer_name or ""
            try:
                peer = await hub.peers.get(peer_name)
                answer = await client.post_json(peer, message.path, body)
            except PeerRefused as exc:
                if message is PeerMessage.CANCELLATION and exc.peer_status == 404:
                    # The peer never had the proposal: there is nothing to withdraw there.
                    await hub.transfers.delivered(transfer.id, message, {})
                    out.append(Delivery(transfer.id, message, peer_name, True))
                    continue
                out.append(await _failed(hub, transfer.id, message, peer_name, exc))
                continue
            except HubError as exc:  # unreachable, a bad signature on the answer, no such peer
                out.append(await _failed(hub, transfer.id, message, peer_name, exc))
                continue
            await hub.transfers.delivered(transfer.id, message, answer.json())
            log.info("transfer %s: %s delivered to peer %s", transfer.id, message.value, peer_name)
            out.append(Delivery(transfer.id, message, peer_name, True))
    return out


async def _failed(
    hub: Hub, transfer_id: int, message: PeerMessage, peer_name: str, exc: HubError
) -> Delivery:
    when = await hub.transfers.failed(transfer_id, message, exc.public_message)
    # The peer's words may quote what was sent: the log keeps the code only.
    log.warning("transfer %s: %s not delivered to peer %s (%s); next try after %s",
                transfer_id, message.value, peer_name, exc.code, when.isoformat())  # fmt: skip
    return Delivery(transfer_id, message, peer_name, False, exc.public_message)


async def deliver_now(hub: Hub, transfer_id: int) -> None:
    """After a step in the inbox, the API or the CLI: try its message at once, briefly. A peer
    that is slow or down is left to the delivery job; the step itself is already recorded."""
    try:
        await asyncio.wait_for(deliver_owed(hub, transfer_id), INLINE_TIMEOUT_SECONDS)
    except TimeoutError:
        log.info("transfer %s: peer slow to answer; the delivery job will try again", transfer_id)
    except Exception:  # the step is recorded and its message owed: never fail the step for it
        log.exception("transfer %s: delivery to the peer failed; the job will try again",
                      transfer_id)  # fmt: skip


async def complete_interrupted(hub: Hub) -> int:
    """Transfers a peer proposed and this hub accepted whose bundle was imported (and
    acknowledged) but not recorded, because this hub stopped between the two: recorded as
    received and completed now, from the import's own row. Run by the delivery job and before
    a repeated upload is answered. Returns how many."""
    done = 0
    for t in await hub.transfers.accepted_from_peers():
        try:
            peer = await hub.peers.get(t.peer_name or "")
        except NotFound:
            continue
        found = await hub.transfers.import_after_acceptance(t, peer.signing_key)
        if found is None or found.ack is None:
            continue
        bundle = ReceivedBundle(
            sending_transfer_id=int(t.remote_id or 0), bundle_digest=found.digest,
            case_reference=t.case_reference, sending_area_code=t.sending_area_code,
            sending_jurisdiction=t.sending_jurisdiction, receiving_area_code=t.receiving_area_code,
            reason=t.reason, proposed_date=t.proposed_date, meeting_held_on=t.meeting_held_on,
            new_lead_agency_code=t.new_lead_agency_code, peer_name=peer.name,
        )  # fmt: skip
        try:
            received = await hub.transfers.record_received(bundle, case_id=found.case_id)
        except Conflict:  # recorded meanwhile by another path
            continue
        await hub.transfers.complete(received.id, sha256_hex(found.ack), ack=found.ack)
        log.warning("transfer %s from peer %s: import found unrecorded; completed now", t.id,
                    peer.name)  # fmt: skip
        done += 1
    return done


async def run_delivery(hub: Hub) -> None:
    """The server's delivery job (the background worker only: one sender per hub)."""
    while True:
        try:
            await deliver_owed(hub)
            await complete_interrupted(hub)
        except Exception:  # a failed round must not stop the server; the next one retries
            log.exception("peer delivery round failed")
        await asyncio.sleep(DELIVERY_INTERVAL_SECONDS)
