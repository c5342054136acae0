"""Building a transfer bundle: a BagIt bag written part by part to disk, signed, and tarred.

The payload is written into a staging directory one encrypted part at a time (a 200 MB case is
never in memory), made a bag by ``bagit.make_bag`` (SHA-256 manifests), and signed: the hub's
Ed25519 signature over ``tagmanifest-sha256.txt`` (which covers ``bagit.txt``, ``bag-info.txt`` and
``manifest-sha256.txt``, and so every payload byte) goes in the tag file ``hub-signature.json``.
The artefact for transport is an uncompressed POSIX tar of the bag directory (ciphertext does
not compress); ``BUNDLE_FORMAT.md`` describes every file.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bagit

from adapters.transfer.manifest import Completeness, assess, required_items
from hub.services.checkpoints import pin_path
from hub.services.transfer_bundle import (
    CasePlan,
    Receiver,
    TransferBundleService,
    fingerprint,
)

if TYPE_CHECKING:
    from hub.wiring import Hub

FORMAT = "mappa-hub/transfer-bundle"
VERSION = 1
SIGNATURE_FILE = "hub-signature.json"
TAG_MANIFEST = "tagmanifest-sha256.txt"
CHECKSUMS = ["sha256"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Built:
    bundle_id: str
    path: Path
    digest: str
    completeness: Completeness
    payload_bytes: int
    packets: int


def bundle_service(hub: Hub) -> TransferBundleService:
    return TransferBundleService(
        hub.db, hub.keyring, hub.ledger, hub.kek, pin_path(hub.config.kek_path), hub.clock,
        hub.visor,
    )  # fmt: skip


def _new_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=False)


def _write_json(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False))


async def build_bag(
    hub: Hub,
    reference: str,
    to_area: str,
    bag_dir: Path,
    receivers: list[Receiver] | None = None,
    progress: Progress | None = None,
    transfer: Mapping[str, Any] | None = None,
) -> Built:
    """Write the bag for ``reference`` to ``to_area`` into ``bag_dir`` (which must not exist).

    ``receivers``: the receiving agencies' keys from a peer's directory document; by default
    the receiving area's agencies on this hub. ``transfer``: the workflow's description of the
    transfer (JSON values: its id on this hub, reason, dates, new lead agency), carried in
    bundle.json for the receiving side's ``record_received``.

    A case for another jurisdiction (the transfer's receiving jurisdiction, else the area's on
    this hub) carries the category and level it records there, mapped by this hub's transfer
    policy; a value with no mapping refuses the build before anything is written."""
    service = bundle_service(hub)
    if receivers is None:
        receivers = await service.receivers_here(to_area)
    jurisdiction = (transfer or {}).get("receiving_jurisdiction")
    plan = await service.plan(
        reference, to_area, receivers, policy=hub.policy.current,
        to_jurisdiction=str(jurisdiction) if jurisdiction else None,
    )  # fmt: skip
    _new_dir(bag_dir)
    total = len(plan.packet_ids)
    payload = 0
    for done, packet_id in enumerate(plan.packet_ids):
        packet = await service.packet(plan, packet_id, receivers)
        where = bag_dir / "packets" / packet_id
        (where / "parts").mkdir(parents=True)
        _write_json(where / "packet.json", packet.meta)
        (where / "header.json").write_bytes(packet.header)
        (where / "signature.bin").write_bytes(packet.signature)
        for name in packet.part_names:
            data = await service.part(packet_id, name)
            # Off the event loop: an attachment is up to 10 MB.
            await asyncio.to_thread((where / "parts" / name).write_bytes, data)
            payload += len(data)
            del data
        if progress:
            progress(done + 1, total)
    built = _finish(hub, plan, bag_dir, transfer)
    return Built(plan.bundle_id, bag_dir, await _sign(service, bag_dir), built, payload, total)


def _finish(
    hub: Hub, plan: CasePlan, bag_dir: Path, transfer: Mapping[str, Any] | None
) -> Completeness:
    complete = assess(plan.facts, required_items(hub.config.policy_dir), plan.not_rewrapped)
    now = hub.clock.now()
    _write_json(bag_dir / "bundle.json", {
        "format": FORMAT, "version": VERSION, "bundle_id": plan.bundle_id,
        "case_reference": plan.case.reference, "from_area": plan.from_area.code,
        "to_area": plan.to_area, "created_at": now.isoformat(),
        "packets": plan.packet_ids,
        "transfer": dict(transfer) if transfer else None,
        "jurisdiction_mapping": plan.mapping,
    })  # fmt: skip
    _write_json(bag_dir / "case.json", plan.case_doc)
    (bag_dir / "case.sealed").write_bytes(plan.sealed_case)
    _write_json(bag_dir / "register.json", plan.register)
    _write_json(bag_dir / "meetings.json", plan.meetings)
    _write_json(bag_dir / "ledger.json", plan.ledger)
    _write_json(bag_dir / "completeness.json", complete.to_json())
    bagit.make_bag(
        str(bag_dir),
        {
            "Source-Organization": f"MAPPA area {plan.from_area.code}",
            "External-Identifier": plan.bundle_id,
            "External-Description": f"MAPPA case transfer {plan.from_area.code} to {plan.to_area}",
            "Bagging-Date": now.date().isoformat(),
            "Bag-Software-Agent": "mappa-hub adapters/transfer",
        },
        checksums=CHECKSUMS,
    )
    return complete


async def _sign(service: TransferBundleService, bag_dir: Path) -> str:
    tagmanifest = (bag_dir / TAG_MANIFEST).read_bytes()
    sig = await service.sign(tagmanifest)
    _write_json(bag_dir / SIGNATURE_FILE, {
        "format": "mappa-hub/transfer-signature", "version": 1, "algorithm": "ed25519",
        "signed_file": TAG_MANIFEST, "key_id": sig.key_id, "public_key": sig.public_key.hex(),
        "fingerprint": fingerprint(sig.public_key),
        "signature": base64.b64encode(sig.signature).decode(),
    })  # fmt: skip
    (bag_dir / SIGNATURE_FILE).chmod(0o600)
    return hashlib.sha256(tagmanifest).hexdigest()


def tar_bag(bag_dir: Path, out: Path) -> None:
    """The bag as one uncompressed tar (0600), written beside ``out`` and renamed into place so
    that a reader never sees half a file."""
    partial = out.with_name(out.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with (
            os.fdopen(fd, "wb") as fh,
            tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            tar.add(bag_dir, arcname=bag_dir.name, recursive=True)
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


async def build_bundle(
    hub: Hub,
    reference: str,
    to_area: str,
    out: Path,
    receivers: list[Receiver] | None = None,
    progress: Progress | None = None,
    keep_dir: bool = False,
    transfer: Mapping[str, Any] | None = None,
) -> Built:
    """Build the bag in a work directory under the data directory, tar it to ``out``."""
    work = hub.config.data_dir / "transfer-work"
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    bag_dir = work / f"bundle-{os.urandom(8).hex()}"
    try:
        built = await build_bag(hub, reference, to_area, bag_dir, receivers, progress, transfer)
        final = work / f"bundle-{built.bundle_id}"
        bag_dir.rename(final)
        bag_dir = final
        await asyncio.to_thread(tar_bag, bag_dir, out)
    finally:
        if not keep_dir:
            shutil.rmtree(bag_dir, ignore_errors=True)
    return Built(built.bundle_id, out, built.digest, built.completeness, built.payload_bytes,
                 built.packets)  # fmt: skip
