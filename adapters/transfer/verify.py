"""Checking a bundle before anything of it is believed: safe unpacking, the bag, its signature.

Unpacking refuses, before writing a byte outside a fresh directory: members that are not plain
files or directories (symlinks, hard links, devices), names that are absolute or climb out
(``..``), more than one top directory, more than ``MAX_MEMBERS`` members, and more than
``MAX_BYTES`` in all (counted as bytes are written, so a compressed bomb stops at the limit). A
truncated or damaged upload fails and its directory is removed: nothing half-read stays.
Then ``bagit`` validates the bag (every checksum, no missing or extra payload file), the tag
files are exactly the expected ones, and the hub signature over the tag manifest verifies
against a pinned key.

A tar is read once: the SHA-256 of every member is computed as it is unpacked (in a second
thread, beside the write), and compared with the manifests ``bagit`` parsed, after ``bagit`` has
checked the bag's structure, its Payload-Oxum and that no payload file is missing or extra
(``validate(completeness_only=True)``). That is the check ``bagit``'s full validation makes,
without reading every byte a second time (issue 15 asks 400 MB/s of verification). A bag
directory given as it is, which nobody hashed on the way in, gets ``bagit``'s full validation.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import hmac
import json
import mmap
import os
import re
import shutil
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

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


@dataclass(frozen=True)
class Unpacked:
    bag_dir: Path
    # Each file's SHA-256 (hex) as it was written, by its path in the bag ("data/case.json").
    sha256: dict[str, str]


def unpack(archive: Path, dest: Path, limits: Limits = DEFAULT_LIMITS) -> Unpacked:
    """Unpack the tar at ``archive`` into the new directory ``dest``: the bag directory in it and
    the SHA-256 of every file written.

    Raises ``BundleRefused``, leaving nothing at ``dest``."""
    dest.mkdir(mode=0o700)
    try:
        # hashlib lets go of the GIL on large buffers: one chunk is hashed while it is written.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bundle-hash") as hasher:
            return _unpack(archive, dest, limits, hasher)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


# A compressed tar is read as a stream (and a bomb stops at the limit as it inflates); a plain
# one, as build_bundle writes, is mapped and each member's bytes hashed and written in place.
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def _unpack(archive: Path, dest: Path, limits: Limits, hasher: ThreadPoolExecutor) -> Unpacked:
    if archive.is_symlink() or not archive.is_file():
        raise BundleRefused("the bundle is not a regular file")
    try:
        with archive.open("rb") as raw:
            compressed = raw.read(6).startswith(_COMPRESSED)
            raw.seek(0)
            if compressed:
                with tarfile.open(fileobj=raw, mode="r:*") as tar:
                    return _extract(tar, dest, limits, _Streamed(tar, hasher))
            size = os.fstat(raw.fileno()).st_size
            if size == 0:
                raise BundleRefused("it is empty")
            with (
                mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ) as whole,
                tarfile.open(fileobj=raw, mode="r:") as tar,
            ):
                mapped = _Mapped(raw, whole, hasher)
                try:
                    return _extract(tar, dest, limits, mapped)
                finally:
                    mapped.release()  # before the mapping closes
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        # ReadError, a short read of a member (truncated upload), or a name clash.
        raise BundleRefused(
            f"it is truncated or not a readable tar ({type(exc).__name__})"
        ) from None


class _Streamed:
    """Member bytes read from the tar stream in chunks, each hashed while it is written."""

    def __init__(self, tar: tarfile.TarFile, hasher: ThreadPoolExecutor) -> None:
        self._tar, self._hasher = tar, hasher

    def copy(self, member: tarfile.TarInfo, fd: int, sha256: Any, room: int, limit: int) -> int:
        source = self._tar.extractfile(member)
        if source is None:
            raise BundleRefused(f"member {member.name!r} cannot be read")
        copied = 0
        with os.fdopen(fd, "wb", closefd=False) as out:
            while chunk := source.read(_CHUNK):
                copied += len(chunk)
                if copied > room:  # more than the header said: counted as it inflates
                    raise BundleRefused(f"it unpacks to more than {limit} bytes")
                hashed = self._hasher.submit(sha256.update, chunk)
                out.write(chunk)
                hashed.result()
        return copied


class _Mapped:
    """A plain tar, mapped: each member's bytes are hashed from the mapping in the other
    thread (hashlib lets go of the GIL) while the kernel copies them to their file
    (``copy_file_range``: no pass through Python, the slowest part on a virtual disk)."""

    def __init__(self, raw: BinaryIO, whole: mmap.mmap, hasher: ThreadPoolExecutor) -> None:
        self._fd, self._view, self._hasher = raw.fileno(), memoryview(whole), hasher

    def release(self) -> None:
        self._view.release()

    def copy(self, member: tarfile.TarInfo, fd: int, sha256: Any, room: int, limit: int) -> int:
        if member.issparse():
            raise BundleRefused(f"member {member.name!r} is a sparse file")
        begin, end = member.offset_data, member.offset_data + member.size
        if end > len(self._view):
            raise BundleRefused("it is truncated (a member ends past the end of the file)")
        if member.size > room:
            raise BundleRefused(f"it unpacks to more than {limit} bytes")
        hashed = self._hasher.submit(_hash_range, sha256, self._view, begin, end)
        try:
            _copy_range(self._fd, fd, self._view, begin, end)
        finally:
            hashed.result()
        return member.size


def _hash_range(sha256: Any, view: memoryview, begin: int, end: int) -> None:
    for at in range(begin, end, _CHUNK):
        with view[at : min(at + _CHUNK, end)] as chunk:
            sha256.update(chunk)


def _copy_range(src: int, dst: int, view: memoryview, begin: int, end: int) -> None:
    at = begin
    try:
        while at < end:
            copied = os.copy_file_range(src, dst, end - at, offset_src=at)
            if copied == 0:
                raise BundleRefused("it is truncated (a member ends past the end of the file)")
            at += copied
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            raise
        # A file system that cannot copy in the kernel: write the mapped bytes.
        while at < end:
            with view[at : min(at + _CHUNK, end)] as chunk:
                at += os.write(dst, chunk)


def _extract(
    tar: tarfile.TarFile, dest: Path, limits: Limits, data: _Streamed | _Mapped
) -> Unpacked:
    written, members, top = 0, 0, None
    digests: dict[str, str] = {}
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
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        sha256 = hashlib.sha256()
        try:
            written += data.copy(member, fd, sha256, limits.max_bytes - written, limits.max_bytes)
        finally:
            os.close(fd)
        digests[PurePosixPath(*path.parts[1:]).as_posix()] = sha256.hexdigest()
    _require_end_marker(tar)
    if top is None:
        raise BundleRefused("it is empty")
    return Unpacked(dest / top, digests)


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


def validate_bag(bag_dir: Path, sha256: dict[str, str] | None = None) -> bagit.Bag:
    """``bagit`` validates the bag: in full, or given the SHA-256 of every file as it was
    unpacked, its structure and completeness, the checksums compared here with its manifests."""
    try:
        bag = bagit.Bag(str(bag_dir))
        bag.validate(processes=1, completeness_only=sha256 is not None)
        if sha256 is not None:
            _compare_checksums(bag, sha256)
    except bagit.BagValidationError as exc:
        detail = exc.details[0] if exc.details else exc.message
        raise BundleRefused(f"the bag does not validate: {detail}") from None
    except bagit.BagError as exc:
        raise BundleRefused(f"the bag does not validate: {exc}") from None
    except (UnicodeError, LookupError, ValueError) as exc:
        # bagit reads the tag files as text in the encoding bagit.txt names: a file that is not
        # in it, or an encoding Python does not know, is a bad bag (found by fuzzing).
        raise BundleRefused(
            f"the bag does not validate: a tag file cannot be read ({type(exc).__name__})"
        ) from None
    if set(bag.algorithms) != {"sha256"}:
        raise BundleRefused("the bag's manifests are not SHA-256")
    listed = {k for k in bag.entries if not k.startswith("data/")}
    if listed != {"bagit.txt", "bag-info.txt", "manifest-sha256.txt"}:
        raise BundleRefused("the tag manifest does not cover exactly the bag's tag files")
    return bag


def _compare_checksums(bag: bagit.Bag, sha256: dict[str, str]) -> None:
    """Every entry of the bag's manifests (payload and tag) against the file's SHA-256 as it was
    unpacked, as ``bagit``'s full validation compares them."""
    errors = []
    for path, hashes in bag.entries.items():
        stored = str(hashes.get("sha256", "")).lower()
        computed = sha256.get(path)
        if computed is None:
            errors.append(bagit.FileMissing(path))
        elif not hmac.compare_digest(stored, computed):
            errors.append(bagit.ChecksumMismatch(path, "sha256", stored, computed))
    if errors:
        raise bagit.BagValidationError("Bag validation failed", errors)


async def check_signature(service: TransferBundleService, bag_dir: Path) -> tuple[bytes, str]:
    """(the signing hub's key, the digest it signed)."""
    tagmanifest = (bag_dir / TAG_MANIFEST).read_bytes()
    try:
        doc = json.loads((bag_dir / SIGNATURE_FILE).read_text())
        public = bytes.fromhex(doc["public_key"])
        signature = base64.b64decode(doc["signature"], validate=True)
        if doc.get("signed_file") != TAG_MANIFEST or doc.get("algorithm") != "ed25519":
            raise ValueError("signature document")
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise BundleRefused("the hub signature file is malformed") from None
    await service.check_signature(tagmanifest, public, signature)
    return public, hashlib.sha256(tagmanifest).hexdigest()


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise BundleRefused(f"{path.name} is not readable JSON ({type(exc).__name__})") from None


def parse(bag: bagit.Bag, bag_dir: Path, sender: bytes, digest: str) -> ParsedBundle:
    """The validated payload, as the import service takes it (part files are not read)."""
    try:
        return _parse(bag, bag_dir, sender, digest)
    except OSError as exc:  # a file the bundle should hold is not there (its signer left it out)
        raise BundleRefused(f"a file of the bundle is missing ({type(exc).__name__})") from None


def _object(path: Path) -> dict[str, Any]:
    doc = _json(path)
    if not isinstance(doc, dict):
        raise BundleRefused(f"{path.name} is not a JSON object")
    return doc


def _parse(bag: bagit.Bag, bag_dir: Path, sender: bytes, digest: str) -> ParsedBundle:
    data = bag_dir / "data"
    bundle = _object(data / "bundle.json")
    if bundle.get("format") != FORMAT or bundle.get("version") != VERSION:
        raise BundleRefused("it is not a transfer bundle of a known version")
    if bag.info.get("External-Identifier") != bundle.get("bundle_id"):
        raise BundleRefused("bag-info.txt and bundle.json name different bundles")
    digests = {k: v["sha256"] for k, v in bag.entries.items() if k.startswith("data/")}
    packets = []
    ids = bundle.get("packets")
    if not isinstance(ids, list) or not all(
        isinstance(i, str) and _SAFE_ID.fullmatch(i) for i in ids
    ):
        raise BundleRefused("bundle.json lists packets badly")
    on_disk = (
        {p.name for p in (data / "packets").iterdir()} if (data / "packets").is_dir() else set()
    )
    if on_disk != set(ids):
        raise BundleRefused("the packets in the bag differ from those bundle.json lists")
    for pid in ids:
        where = data / "packets" / pid
        meta = _object(where / "packet.json")
        if meta.get("id") != pid:
            raise BundleRefused(f"packet {pid} is described as another")
        parts = {}
        for f in sorted((where / "parts").iterdir()):
            if not _SAFE_PART.fullmatch(f.name):
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
