"""Importing a bundle: unpack safely, validate the bag, check the signature against a pinned key,
then hand the payload to the import service, which checks every proof and header and writes all
or nothing. Any refusal is a ``BundleRefused`` naming the reason; its work directory is removed."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.transfer import verify
from adapters.transfer.bag import bundle_service
from hub.crypto.secrets import constant_time_equals
from hub.services import peer_ack
from hub.services.transfer_bundle import BundleRefused
from hub.services.transfer_bundle_import import ImportResult, TransferImporter

if TYPE_CHECKING:
    from hub.wiring import Hub

Progress = Callable[[int, int], None]


def _work_dir(data_dir: Path) -> Path:
    work = data_dir / "transfer-work"
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    return work


async def import_bundle(
    hub: Hub,
    path: Path,
    limits: verify.Limits = verify.DEFAULT_LIMITS,
    progress: Progress | None = None,
    *,
    sender: bytes | None = None,
    upload_sha256: str | None = None,
) -> ImportResult:
    """Import the bundle at ``path``: a tar as ``build_bundle`` writes it, or a bag directory.

    ``sender``: the pinned key of the peer that uploaded it, which must be the key that signed
    the bag (any pinned peer's otherwise: a file the operator imports). ``upload_sha256``: the
    uploaded file's SHA-256; the signed acknowledgement of it is made and kept with the import,
    returned as ``ImportResult.ack``."""
    service = bundle_service(hub)
    scratch = _work_dir(hub.config.data_dir) / f"in-{os.urandom(8).hex()}"
    report = progress or (lambda done, total: None)
    try:
        # A bag directory is checked where it is; a tar is unpacked under the limits first.
        # Off the event loop: a large bundle takes a second or so to read and hash.
        if verify.is_bag_dir(path):
            bag_dir, sha256 = path, None
        else:
            unpacked = await asyncio.to_thread(verify.unpack, path, scratch, limits)
            bag_dir, sha256 = unpacked.bag_dir, unpacked.sha256
        report(1, 4)
        verify.check_tree(bag_dir)
        bag = await asyncio.to_thread(verify.validate_bag, bag_dir, sha256)
        report(2, 4)
        signer, digest = await verify.check_signature(service, bag_dir)
        if sender is not None and not constant_time_equals(signer, sender):
            raise BundleRefused("it is signed by another hub than the peer that sent it")
        parsed = verify.parse(bag, bag_dir, signer, digest)
        if upload_sha256 is not None:
            own = await hub.peers.hub_key()
            ack = peer_ack.make(str(parsed.bundle["bundle_id"]), upload_sha256, hub.clock.now(),
                                own.public, own.private)  # fmt: skip
            parsed = dataclasses.replace(parsed, upload_sha256=upload_sha256, ack=ack)
        report(3, 4)
        result = await TransferImporter(service, hub.policy.current).import_bundle(parsed)
        report(4, 4)
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
