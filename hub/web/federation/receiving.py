"""The one place the federation transport hands a received bundle to the transfer adapter.

``adapters.transfer.importer.import_bundle(hub, path)`` unpacks the tar under its limits, validates
the bag, checks the hub signature over the tag manifest against the pinned peers' keys, every
checksum and every proof, and imports all or nothing, raising a ``HubError`` (``BundleRefused``)
with nothing imported otherwise. The transport deletes the received file afterwards either way.
"""

from __future__ import annotations

import logging
from pathlib import Path

from adapters.transfer.importer import import_bundle as _import_bundle
from hub.services.peers import Peer
from hub.services.transfer_bundle_import import ImportResult
from hub.wiring import Hub

log = logging.getLogger("hub.federation")


async def import_bundle(hub: Hub, peer: Peer, path: Path) -> ImportResult:
    """Import a bundle ``peer`` sent. The bag's own signature is what is checked (any pinned
    peer's key); ``peer`` is the authenticated sender of the HTTP call, named in the log."""
    log.info("importing a bundle received from peer %s", peer.name)
    result = await _import_bundle(hub, path)
    log.info("bundle %s from peer %s imported", result.bundle_id, peer.name)
    return result
