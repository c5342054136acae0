"""Importing a bundle: unpack safely, validate the bag, check the signature against a pinned key,
then hand the payload to the import service, which checks every proof and header and writes all
or nothing. Any refusal is a ``BundleRefused`` naming the reason; its work directory is removed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.transfer import verify
from adapters.transfer.bag import bundle_service
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
) -> ImportResult:
    """Import the bundle at ``path``: a tar as ``build_bundle`` writes it, or a bag directory."""
    service = bundle_service(hub)
    scratch = _work_dir(hub.config.data_dir) / f"in-{os.urandom(8).hex()}"
    report = progress or (lambda done, total: None)
    try:
        # A bag directory is checked where it is; a tar is unpacked under the limits first.
        bag_dir = path if verify.is_bag_dir(path) else verify.unpack(path, scratch, limits)
        report(1, 4)
        verify.check_tree(bag_dir)
        bag = verify.validate_bag(bag_dir)
        report(2, 4)
        sender, digest = await verify.check_signature(service, bag_dir)
        parsed = verify.parse(bag, bag_dir, sender, digest)
        report(3, 4)
        result = await TransferImporter(service).import_bundle(parsed)
        report(4, 4)
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
