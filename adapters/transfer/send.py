"""Sending a transfer between two areas of this hub: the case file travels as the signed bundle.

The inbox's "send" step and ``mappa-hub transfer send`` call ``send_within_hub``: the workflow
checks the sender first (``sendable_within_hub``), the bundle is built for the receiving area
(bundle.json names the transfer), verified and imported into this same hub as any bundle is
(signature, every checksum and proof; the import adds the receiving agencies' wrapped content
keys to the packets already here, and logs the collection), and only then is the transfer marked
sent with the bundle's signed digest. A refused import leaves the transfer accepted, to be sent
again. The receiving coordinator's confirmation (``confirm_received``) then checks that digest
was verified here and completes the transfer.

``bagit.make_bag`` changes the working directory while it writes the manifests. It is safe in
the web server's process: it runs synchronously on the event loop's thread, so no coroutine runs
until it has changed the directory back, and every path the hub's threads use (data directory,
database, keys, policies) is absolute (``load_config`` resolves them), so a database thread that
touches a file meanwhile is not misled. Two sends at once cannot interleave their changes of
directory for the same reason (``make_bag`` never awaits).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.transfer.bag import build_bundle
from adapters.transfer.importer import import_bundle
from adapters.transfer.manifest import Completeness, completeness
from hub.errors import NotFound
from hub.model.transfers import Transfer
from hub.services.actor import Actor
from hub.services.transfer_bundle_import import ImportResult

if TYPE_CHECKING:
    from hub.wiring import Hub


@dataclass(frozen=True)
class Sent:
    transfer: Transfer
    digest: str
    completeness: Completeness
    imported: ImportResult


def describe(t: Transfer) -> dict[str, Any]:
    """The transfer as bundle.json carries it: ids, dates and codes; no free text (the reason
    may name people, and the bag's tag files are not encrypted)."""
    return {
        "id": t.id,
        "case_reference": t.case_reference,
        "sending_area": t.sending_area_code,
        "receiving_area": t.receiving_area_code,
        "sending_jurisdiction": t.sending_jurisdiction,
        "receiving_jurisdiction": t.receiving_jurisdiction,
        "proposed_date": t.proposed_date.isoformat(),
        "meeting_held_on": t.meeting_held_on.isoformat() if t.meeting_held_on else None,
        "new_lead_agency": t.new_lead_agency_code,
    }


async def gaps(hub: Hub, transfer: Transfer) -> Completeness | None:
    """What a bundle of the transfer's case would hold and lack, for the coordinator to see
    before sending; None when the case is not on this hub."""
    if transfer.case_id is None:
        return None
    try:
        return await completeness(hub, transfer.case_id)
    except NotFound:
        return None


async def send_within_hub(hub: Hub, actor: Actor, transfer_id: int) -> Sent:
    transfer = await hub.transfers.sendable_within_hub(actor, transfer_id)
    work = hub.config.data_dir / "transfer-work"
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    out = work / f"send-{transfer.id}-{os.urandom(8).hex()}.tar"
    try:
        built = await build_bundle(
            hub,
            transfer.case_reference,
            transfer.receiving_area_code,
            out,
            transfer=describe(transfer),
        )
        imported = await import_bundle(hub, Path(out))
        done = await hub.transfers.mark_sent(transfer.id, imported.digest, actor)
    finally:
        out.unlink(missing_ok=True)
    return Sent(done, imported.digest, built.completeness, imported)
