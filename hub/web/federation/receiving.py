"""The one place the federation transport hands a received bundle to the transfer adapter.

``adapters.transfer.importer.import_bundle`` unpacks the tar under its limits, validates the bag,
checks the hub signature over the tag manifest, which must be the calling peer's pinned key (a
bag another pinned peer signed is refused), every checksum and every proof, and imports all or
nothing with the signed acknowledgement in the same transaction, raising a ``HubError``
(``BundleRefused``) with nothing imported otherwise. The bundle's transfer (bundle.json) is then
recorded as received here, for the receiving area's coordinator to see in /transfers.

A sender whose connection dropped after the import but before the answer arrived sends the same
file again: it is recognised by its SHA-256 and its sender, and gets the original
acknowledgement back, with nothing imported twice. (Were this hub to stop between the import and
recording the transfer, the retry is acknowledged but the transfer row is not made: the case
is here, and the log names the import.)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from adapters.transfer.importer import import_bundle as _import_bundle
from adapters.transfer.peer_messages import complete_interrupted
from hub.crypto.secrets import sha256_hex
from hub.errors import Conflict
from hub.model.transfers import Transfer
from hub.services.peers import Peer
from hub.services.transfer_bundle_import import ImportResult
from hub.services.transfers import ReceivedBundle
from hub.store import transfer_bundles as bundle_store
from hub.wiring import Hub

log = logging.getLogger("hub.federation")

# bundle.json carries no free text (the bag's tag files are not encrypted): the reason stays on
# the sending hub, and the receiving coordinator reads it in the case file.
PEER_REASON = "Given on the sending hub (peer {peer}); see the case file."


async def receive_bundle(hub: Hub, peer: Peer, path: Path, upload_sha256: str) -> bytes:
    """Import a bundle ``peer`` uploaded (the file's SHA-256 already checked against its signed
    Content-Digest) and answer with the signed acknowledgement: the original one if this very
    file from this peer was imported before."""
    async with hub.db.read() as conn:
        earlier = await bundle_store.ack_for_upload(conn, upload_sha256, peer.signing_key.hex())
    if earlier is not None:
        log.info("bundle from peer %s already imported: acknowledged again", peer.name)
        await complete_interrupted(hub)  # in case this hub stopped before recording it
        return earlier
    log.info("importing a bundle received from peer %s", peer.name)
    result = await _import_bundle(hub, path, sender=peer.signing_key, upload_sha256=upload_sha256)
    log.info("bundle %s from peer %s imported", result.bundle_id, peer.name)
    assert result.ack is not None  # noqa: S101 - made by the import when upload_sha256 is given
    if result.transfer is not None:
        received = await _record_received(hub, peer, result, result.transfer)
        if received is not None:
            # Verified and imported whole: the transfer is complete on this side, and the
            # receiving area's new lead agency takes the case over.
            await hub.transfers.complete(received.id, sha256_hex(result.ack), ack=result.ack)
    return result.ack


async def _record_received(
    hub: Hub, peer: Peer, result: ImportResult, transfer: Mapping[str, Any]
) -> Transfer | None:
    held = transfer.get("meeting_held_on")
    try:
        bundle = ReceivedBundle(
            sending_transfer_id=int(transfer["id"]),
            bundle_digest=result.digest,
            case_reference=result.case.reference,
            sending_area_code=str(transfer.get("sending_area") or result.from_area),
            sending_jurisdiction=str(transfer["sending_jurisdiction"]),
            receiving_area_code=result.to_area,
            reason=PEER_REASON.format(peer=peer.name),
            proposed_date=date.fromisoformat(str(transfer["proposed_date"])),
            meeting_held_on=date.fromisoformat(str(held)) if held else None,
            new_lead_agency_code=transfer.get("new_lead_agency"),
            peer_name=peer.name,
        )
    except (KeyError, TypeError, ValueError):
        # The bag verified, so the import stands; its description of the transfer did not.
        log.warning("bundle %s from peer %s describes its transfer badly", result.bundle_id,
                    peer.name)  # fmt: skip
        return None
    try:
        return await hub.transfers.record_received(bundle, case_id=result.case.id)
    except Conflict:  # the same transfer's bundle recorded before (a rebuilt bundle)
        log.info("transfer %s from peer %s was already recorded", transfer["id"], peer.name)
        return None
