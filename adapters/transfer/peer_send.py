"""Sending an accepted transfer to a pinned peer hub: ``mappa-hub transfer send TRANSFER_ID``.

The bundle is built for the receiving area's agencies as the peer's signed directory document
lists them (their content keys wrapped to the keys published there), kept in the data directory
and the transfer marked sent with its signed digest; it is then uploaded, signed, to the peer
(``PeerClient.send_bundle``), which verifies and imports it and answers with a signed
acknowledgement. The acknowledgement is checked against the peer's pinned key, the file's digest
and the bundle's id, and closes the transfer (``complete``, its SHA-256 and the bytes kept).

A connection that drops leaves the transfer sent with its bundle kept; running the command again
sends that same file, and the peer, which imports a bundle once, answers with the acknowledgement
it made the first time.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import tarfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from adapters.transfer.bag import TAG_MANIFEST, build_bundle
from adapters.transfer.send import describe
from hub.client.peer import PeerClient
from hub.crypto.secrets import sha256_hex
from hub.errors import Conflict, Forbidden, IntegrityFailure, InvalidInput
from hub.model.directory import AgencyKind, AgencyType
from hub.model.transfers import Transfer, TransferState
from hub.services.actor import Actor
from hub.services.transfer_bundle import Receiver
from hub.services.transfer_exchange import coordinator

if TYPE_CHECKING:
    from hub.wiring import Hub


def bundle_path(hub: Hub, transfer_id: int) -> Path:
    """Where the bundle of a transfer to a peer is kept from building until it is acknowledged."""
    work = hub.config.data_dir / "transfer-work"
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    return work / f"peer-transfer-{transfer_id}.tar"


async def receivers_on_peer(hub: Hub, peer_name: str, area_code: str) -> list[Receiver]:
    """The receiving area's Responsible Authority agencies (not victim liaison) as the peer's
    verified directory document lists them."""
    out = [
        Receiver(a.code, a.name, a.type.value, a.encryption.key_id, a.encryption.public)
        for a in await hub.peers.receiving_agencies(peer_name)
        if a.area_code == area_code
        and a.kind is AgencyKind.RESPONSIBLE_AUTHORITY
        and a.type is not AgencyType.VICTIM_LIAISON
    ]
    if not out:
        raise InvalidInput(
            f"Peer {peer_name}'s directory lists no agency of area {area_code} to receive the "
            "case: fetch its directory again ('mappa-hub peer fetch-directory')."
        )
    return out


def _identity(path: Path) -> tuple[str, str]:
    """(bundle id, SHA-256 of the signed tag manifest) of a kept bundle file."""
    bundle_id = digest = None
    with tarfile.open(path, mode="r:") as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            source = tar.extractfile(member) if member.isreg() else None
            if source is None:
                continue
            if parts[1:] == (TAG_MANIFEST,):
                digest = sha256_hex(source.read())
            elif parts[1:] == ("data", "bundle.json"):
                bundle_id = str(json.loads(source.read())["bundle_id"])
    if bundle_id is None or digest is None:
        raise IntegrityFailure("The kept bundle is not a transfer bundle.")
    return bundle_id, digest


async def _sendable(hub: Hub, transfer_id: int, actor: Actor | None) -> Transfer:
    if actor is not None:
        coordinator(actor, "send a transfer")
    transfer = await hub.transfers.transfer_by_id(transfer_id)
    if transfer.peer_name is None or transfer.sending_area_id is None:
        raise Conflict("This transfer is not one this hub sends to a peer hub.")
    if actor is not None and transfer.sending_area_id != actor.agency.area_id:
        raise Forbidden("Only the sending area sends the case file.")
    if transfer.state not in (TransferState.ACCEPTED, TransferState.SENT):
        raise Conflict("Only an accepted transfer, or one sent but not acknowledged, is sent.")
    return transfer


async def send_to_peer(hub: Hub, transfer_id: int, actor: Actor | None) -> Transfer:
    transfer = await _sendable(hub, transfer_id, actor)
    peer_name = transfer.peer_name or ""
    peer = await hub.peers.get(peer_name)
    kept = bundle_path(hub, transfer.id)
    if transfer.state is TransferState.ACCEPTED:
        receivers = await receivers_on_peer(hub, peer_name, transfer.receiving_area_code)
        part = kept.with_suffix(f".{os.urandom(4).hex()}.part")
        try:
            built = await build_bundle(hub, transfer.case_reference, transfer.receiving_area_code,
                                       part, receivers, transfer=describe(transfer))  # fmt: skip
            # Kept before it is marked sent: a sent transfer always has its bundle to resend.
            part.replace(kept)
        finally:
            part.unlink(missing_ok=True)
        transfer = await hub.transfers.mark_sent(transfer.id, built.digest, actor)
        bundle_id = built.bundle_id
    else:
        if not kept.is_file():
            raise IntegrityFailure(
                f"The bundle sent for transfer {transfer.id} is no longer at {kept}."
            )
        bundle_id, digest = await asyncio.to_thread(_identity, kept)
        if not hmac.compare_digest(digest, transfer.bundle_digest or ""):
            raise IntegrityFailure("The kept bundle is not the one the transfer was sent with.")
    async with PeerClient(await hub.peers.hub_key(), hub.clock) as client:
        ack = await client.send_bundle(peer, kept)  # checked: the pinned key, the file's digest
    if not hmac.compare_digest(ack.bundle_id, bundle_id):
        raise IntegrityFailure("The peer acknowledged another bundle.")
    done = await hub.transfers.complete(transfer.id, sha256_hex(ack.data), actor, ack=ack.data)
    kept.unlink(missing_ok=True)
    return done
