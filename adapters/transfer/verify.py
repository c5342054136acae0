"""Checking a bundle before anything of it is believed: safe unpacking, the bag, its signature.

Unpacking refuses, before writing a byte outside a fresh directory: members that are not plain
files or directories (symlinks, hard links, devices), names that are absolute or climb out
(``..``), more than one top directory, more than ``MAX_MEMBERS`` members, and more than
``MAX_BYTES`` in all (counted as bytes are written, so a compressed bomb stops at the limit). A
truncated or damaged upload fails and its directory is removed: nothing half-read stays.
Then ``bagit`` validates the bag (every checksum, no missing or extra payload file), the tag
files are exactly the expected ones, and the hub signature over the tag manifest verifies
against a pinned key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import bagit

from adapters.transfer.bag import FORMAT, SIGNATURE_FILE, TAG_MANIFEST, VERSION
from hub.services.transfer_bundle import BundleRefused, TransferBundleService
from hub.services.transfer_bundle_import import BundlePacket, ParsedBundle

MAX_BYTES = 4 * 1024**3
MAX_MEMBERS = 200_000
_CHUNK = 1024 * 1024
TAG_FILES = {"bagit.txt", "bag-info.txt", "manifest-sha256.txt", TAG_MANIFEST, SIGNATURE_FILE}
_SAFE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SAFE_PART = re.compile(r"^(manifest|body|form|attachment-[0-9]{1,6})$")


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_members: int = MAX_MEMBERS


DEFAULT_LIMITS = Limits()


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or name.startswith("/") or "\\" in name:
        raise BundleRefused(f"member {name!r} has an absolute path")
    if any(part in ("..", "") for part in path.parts) or ".." in name.split("/"):
        raise BundleRefused(f"member {name!r} escapes the bag")
    return path


def _require_end_marker(tar: tarfile.TarFile) -> None:
    """A complete tar ends with two zero blocks after its last member; ``tarfile`` stops quietly
    at a cut that falls between members, so a truncated upload is told apart here."""
    fileobj = tar.fileobj
    if fileobj is None:
        raise BundleRefused("it is truncated (no end-of-archive marker)")
    fileobj.seek(tar.offset)
    if fileobj.read(2 * tarfile.BLOCKSIZE) != bytes(2 * tarfile.BLOCKSIZE):
        raise BundleRefused("it is truncated (no end-of-archive marker)")


def unpack(archive: Path, dest: Path, limits: Limits = DEFAULT_LIMITS) -> Path:
    """Unpack the tar at ``archive`` into the new directory ``dest``; the bag directory in it.

    Raises ``BundleRefused``, leaving nothing at ``dest``."""
    dest.mkdir(mode=0o700)
    try:
        return _unpack(archive, dest, limits)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _unpack(archive: Path, dest: Path, limits: Limits) -> Path:
    if archive.is_symlink() or not archive.is_file():
        raise BundleRefused("the bundle is not a regular file")
    written, members, top = 0, 0, None
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for member in tar:
                members += 1
                if members > limits.max_members:
                    raise BundleRefused(f"it has more than {limits.max_members} members")
                path = _safe_name(member.name)
                if top is None:
                    top = path.parts[0]
                if path.parts[0] != top:
                    raise BundleRefused("it holds more than one top directory")
                target = dest.joinpath(*path.parts)
                if member.isdir():
                    target.mkdir(mode=0o700, parents=True, exist_ok=True)
                    continue
                if not member.isreg():
                    raise BundleRefused(f"member {member.name!r} is a link or special file")
                if written + member.size > limits.max_bytes:
                    raise BundleRefused(f"it unpacks to more than {limits.max_bytes} bytes")
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise BundleRefused(f"member {member.name!r} cannot be read")
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        if written > limits.max_bytes:
                            raise BundleRefused(f"it unpacks to more than {limits.max_bytes} bytes")
                        out.write(chunk)
            _require_end_marker(tar)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        # ReadError, a short read of a member (truncated upload), or a name clash.
        raise BundleRefused(
            f"it is truncated or not a readable tar ({type(exc).__name__})"
        ) from None
    if top is None:
        raise BundleRefused("it is empty")
    return dest / top


def is_bag_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def check_tree(bag_dir: Path) -> None:
    """No links anywhere in the bag, and exactly the expected tag files beside ``data``."""
    for root, dirs, files in os.walk(bag_dir):
        for name in dirs + files:
            if os.path.islink(os.path.join(root, name)):
                raise BundleRefused(
                    f"{os.path.relpath(os.path.join(root, name), bag_dir)} is a link"
                )
    top = {p.name for p in bag_dir.iterdir()}
    extra = sorted(top - TAG_FILES - {"data"})
    if extra:
        raise BundleRefused(f"unexpected file {extra[0]} beside the payload")
    missing = sorted((TAG_FILES | {"data"}) - top)
    if missing:
        raise BundleRefused(f"{missing[0]} is missing")


def validate_bag(bag_dir: Path) -> bagit.Bag:
    try:
        bag = bagit.Bag(str(bag_dir))
        bag.validate(processes=1)
    except bagit.BagValidationError as exc:
        detail = exc.details[0] if exc.details else exc.message
        raise BundleRefused(f"the bag does not validate: {detail}") from None
    except bagit.BagError as exc:
        raise BundleRefused(f"the bag does not validate: {exc}") from None
    if set(bag.algorithms) != {"sha256"}:
        raise BundleRefused("the bag's manifests are not SHA-256")
    listed = {k for k in bag.entries if not k.startswith("data/")}
    if listed != {"bagit.txt", "bag-info.txt", "manifest-sha256.txt"}:
        raise BundleRefused("the tag manifest does not cover exactly the bag's tag files")
    return bag


async def check_signature(service: TransferBundleService, bag_dir: Path) -> tuple[bytes, str]:
    """(the signing hub's key, the digest it signed)."""
    tagmanifest = (bag_dir / TAG_MANIFEST).read_bytes()
    try:
        doc = json.loads((bag_dir / SIGNATURE_FILE).read_text())
        public = bytes.fromhex(doc["public_key"])
        signature = base64.b64decode(doc["signature"], validate=True)
        if doc.get("signed_file") != TAG_MANIFEST or doc.get("algorithm") != "ed25519":
            raise ValueError("signature document")
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BundleRefused("the hub signature file is malformed") from None
    await service.check_signature(tagmanifest, public, signature)
    return public, hashlib.sha256(tagmanifest).hexdigest()


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleRefused(f"{path.name} is not readable JSON ({type(exc).__name__})") from None


def parse(bag: bagit.Bag, bag_dir: Path, sender: bytes, digest: str) -> ParsedBundle:
    """The validated payload, as the import service takes it (part files are not read)."""
    data = bag_dir / "data"
    bundle = _json(data / "bundle.json")
    if bundle.get("format") != FORMAT or bundle.get("version") != VERSION:
        raise BundleRefused("it is not a transfer bundle of a known version")
    if bag.info.get("External-Identifier") != bundle.get("bundle_id"):
        raise BundleRefused("bag-info.txt and bundle.json name different bundles")
    digests = {k: v["sha256"] for k, v in bag.entries.items() if k.startswith("data/")}
    packets = []
    ids = bundle.get("packets")
    if not isinstance(ids, list) or not all(isinstance(i, str) and _SAFE_ID.match(i) for i in ids):
        raise BundleRefused("bundle.json lists packets badly")
    on_disk = (
        {p.name for p in (data / "packets").iterdir()} if (data / "packets").is_dir() else set()
    )
    if on_disk != set(ids):
        raise BundleRefused("the packets in the bag differ from those bundle.json lists")
    for pid in ids:
        where = data / "packets" / pid
        meta = _json(where / "packet.json")
        if meta.get("id") != pid:
            raise BundleRefused(f"packet {pid} is described as another")
        parts = {}
        for f in sorted((where / "parts").iterdir()):
            if not _SAFE_PART.match(f.name):
                raise BundleRefused(f"packet {pid} has an unexpected part {f.name}")
            parts[f.name] = (f, digests[f"data/packets/{pid}/parts/{f.name}"])
        header = (where / "header.json").read_bytes()
        packets.append(BundlePacket(meta, header, (where / "signature.bin").read_bytes(), parts))
    return ParsedBundle(
        bundle=bundle, case=_json(data / "case.json"),
        sealed_case=(data / "case.sealed").read_bytes(), register=_json(data / "register.json"),
        meetings=_json(data / "meetings.json"), ledger=_json(data / "ledger.json"),
        completeness=_json(data / "completeness.json"), packets=packets, sender_key=sender,
        digest=digest,
    )  # fmt: skip
