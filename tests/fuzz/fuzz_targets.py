"""The coverage-guided fuzzer's targets: each takes the fuzzer's bytes, calls one parser the way the
hub does, swallows that parser's documented refusal and lets anything else escape (a crash).

``atheris_targets`` runs them under atheris (instrumented); ``test_atheris`` also replays every
seed in ``corpus/<target>/`` and every crash kept in ``regressions/<target>/`` through them in the
test process, so a crash once found stays a failing test until it is fixed. Inputs are plain bytes
with a documented layout, so a seed can be written by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import nacl.bindings as sodium
import nacl.signing

from adapters.visor import format as visor_format
from hub.crypto import packet_format as fmt
from hub.crypto.canonical import canonical_json
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes, sha256_hex
from hub.errors import HubError, InvalidInput
from hub.model.packets import PacketType
from hub.policy.casetable import load_cases, run_case
from hub.policy.loader import FILES, PolicyError, PolicySet, _build, _File, load_policy
from hub.web import formfields
from hub.workflows.forms import FORMS, validate_form

Target = Callable[[bytes], None]
POLICIES = Path(__file__).resolve().parents[2] / "policies"
SIGNER = nacl.signing.SigningKey(bytes(range(32)))
PACKET_ID = "3f0c8a52-2a41-4d0e-9b7e-6c1d2f4e5a60"
CONTENT_KEY = bytes(range(32, 64))
FORM_KINDS = sorted(FORMS, key=lambda k: k.value)
BUNDLE_DOCS = ("bundle", "case", "packet")


@cache
def _policy() -> PolicySet:
    return load_policy(POLICIES)


@cache
def _policy_files() -> tuple[dict[str, _File], dict[str, bytes]]:
    raw = {name: (POLICIES / name).read_bytes() for name in FILES}
    return {name: _File(name, data) for name, data in raw.items()}, raw


@cache
def _scratch() -> Path:
    """One directory for the targets that read files; removed when the process ends."""
    import atexit

    where = Path(tempfile.mkdtemp(prefix="mappa-fuzz-"))
    atexit.register(shutil.rmtree, where, True)
    return where


def envelope(data: bytes) -> None:
    """Bytes as an agency system submits them: the envelope, parsed (PACKET_FORMAT.md 7)."""
    try:
        packet = fmt.SealedPacket.from_envelope(data)
        fmt.verify_header(packet, bytes(SIGNER.verify_key))
    except CryptoFailure:
        pass


@cache
def _sealed_service() -> Any:
    # Imported here, not above: the services layer brings SQLAlchemy, a second of start-up that
    # the targets without it need not pay (the runner imports it, instrumented, for this one).
    from hub.config import Limits
    from hub.services.policy import PolicyService
    from hub.services.sealed import SealedService

    policy = PolicyService(None, None, POLICIES, _policy())  # type: ignore[arg-type]
    return SealedService(None, None, policy, None, None, Limits())  # type: ignore[arg-type]


@cache
def _police() -> Any:
    from hub.model.directory import Agency, AgencyType

    return Agency(1, "DBY-POLICE", "Derbyshire Police", AgencyType.POLICE, 1)


_PARTS = {fmt.MANIFEST: b"m" * 48, fmt.BODY: b"b" * 48}


def header(data: bytes) -> None:
    """Bytes as a header its sender signed: verified, then checked as the hub checks a sealed
    submission's header before it looks anything up (``SealedService._check_shape``)."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict):
        if doc.get("parts") == "*":  # a seed's way to say "the real parts' digests"
            doc["parts"] = {name: sha256_hex(blob) for name, blob in _PARTS.items()}
        # Re-written canonical (PACKET_FORMAT.md 3.1) where it can be, so that the fuzzer gets
        # past that check to the ones behind it; what cannot be (floats) is sent as it is.
        with contextlib.suppress(TypeError, ValueError, RecursionError):
            data = canonical_json(doc)
    packet = fmt.SealedPacket(data, SIGNER.sign(data).signature, "k", (), _PARTS)
    try:
        checked = fmt.verify_header(packet, bytes(SIGNER.verify_key))
        _sealed_service()._check_shape(_police(), packet, checked)
    except (CryptoFailure, HubError):
        pass


def manifest(data: bytes) -> None:
    """Bytes its sender encrypted as a packet's manifest or form (authenticated: only a sender
    can), read by a recipient. The first byte chooses which."""
    if not data:
        return
    name = fmt.MANIFEST if data[0] % 2 == 0 else fmt.FORM
    nonce = bytes(24)
    aad = f"mappa-hub/packet/v1/{PACKET_ID}/{name}".encode()
    part = nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        data[1:], aad, nonce, CONTENT_KEY
    )
    packet = fmt.SealedPacket(b"", b"", "", (), {name: part})
    try:
        if name == fmt.MANIFEST:
            fmt.decrypt_manifest(packet, PACKET_ID, SecretBytes(CONTENT_KEY))
        else:
            fmt.decrypt_form(packet, PACKET_ID, SecretBytes(CONTENT_KEY))
    except CryptoFailure:
        pass


def policy(data: bytes) -> None:
    """The first byte chooses a policy file (``FILES``, by index); the rest replaces it. The
    others are as shipped."""
    if not data:
        return
    parsed, raw = _policy_files()
    name = FILES[data[0] % len(FILES)]
    try:
        # As load_policy reads a file (its UnicodeDecodeError is a PolicyError there).
        one = _File(name, data[1:])
        _build({**parsed, name: one}, {**raw, name: data[1:]})
    except (PolicyError, UnicodeDecodeError):
        pass


def casetable(data: bytes) -> None:
    """A case table (``policies/tests/*.toml``) as ``mappa-hub policy test`` reads and runs it."""
    where = _scratch() / "tables"
    where.mkdir(exist_ok=True)
    (where / "table.toml").write_bytes(data)
    try:
        for case in load_cases(where):
            run_case(_policy(), case)
    except PolicyError:
        pass


def visor(data: bytes) -> None:
    """A nominal record file, parsed and checked as the import page does (problems, not
    exceptions: nothing is raised for a bad file)."""
    doc, problems = visor_format.parse(data)
    if not problems:
        visor_format.check(
            doc, today=dt.date(2026, 11, 23), agencies={"DBY-POLICE", "DBY-PROBATION"}
        )


def form(data: bytes) -> None:
    """The first byte chooses a packet type with a form; the rest is the posted form,
    URL-encoded (``f.due_on-day=4&f.due_on-month=12``), parsed and checked as compose does."""
    if not data:
        return
    kind: PacketType = FORM_KINDS[data[0] % len(FORM_KINDS)]
    posted = dict(parse_qsl(data[1:].decode("utf-8", "replace"), keep_blank_values=True))
    doc = formfields.parse(posted, FORMS[kind])
    formfields.flatten(doc)
    with contextlib.suppress(InvalidInput):
        validate_form(kind, doc)


def bundle_tar(data: bytes) -> None:
    """An uploaded bundle: unpacked under the limits, its tree and bag checked (everything done
    before its signature is looked at)."""
    from adapters.transfer import verify
    from hub.services.transfer_bundle import BundleRefused

    scratch = _scratch()
    archive, dest = scratch / "upload.tar", scratch / "unpacked"
    archive.write_bytes(data)
    shutil.rmtree(dest, ignore_errors=True)
    try:
        unpacked = verify.unpack(
            archive, dest, verify.Limits(max_bytes=4 * 1024 * 1024, max_members=200)
        )
        verify.check_tree(unpacked.bag_dir)
        verify.validate_bag(unpacked.bag_dir, unpacked.sha256)
    except BundleRefused:
        pass
    finally:
        shutil.rmtree(dest, ignore_errors=True)


_SEEDS = Path(__file__).resolve().parent / "corpus" / "bundle_docs"


@cache
def _bundle_docs() -> dict[str, Any]:
    """A real bundle's bundle.json, case.json and one packet.json (the seeds of this target)."""
    return {
        name: json.loads((_SEEDS / f"{i}-{name}.bin").read_bytes()[1:])
        for i, name in enumerate(BUNDLE_DOCS)
    }


def bundle_docs(data: bytes) -> None:
    """The first byte chooses bundle.json, case.json or a packet.json (as signed by a pinned hub);
    the rest replaces it; the shape check must refuse it or let it through, never crash."""
    if not data:
        return
    from hub.services.transfer_bundle import BundleRefused
    from hub.services.transfer_bundle_import import ParsedBundle
    from hub.services.transfer_bundle_shape import check_bundle

    docs = dict(_bundle_docs())
    which = BUNDLE_DOCS[data[0] % len(BUNDLE_DOCS)]
    try:
        docs[which] = json.loads(data[1:])
    except (ValueError, RecursionError):
        return
    parsed = ParsedBundle(
        bundle=docs["bundle"], case=docs["case"], sealed_case=b"", register=[], meetings=[],
        ledger={}, completeness={}, packets=[_packet(docs["packet"])], sender_key=b"",
        digest="",
    )  # fmt: skip
    with contextlib.suppress(BundleRefused):
        check_bundle(parsed)


def _packet(meta: Any) -> Any:
    from hub.services.transfer_bundle_import import BundlePacket

    return BundlePacket(meta, b"", b"", {})


TARGETS: dict[str, Target] = {
    "envelope": envelope,
    "header": header,
    "manifest": manifest,
    "policy": policy,
    "casetable": casetable,
    "visor": visor,
    "form": form,
    "bundle_tar": bundle_tar,
    "bundle_docs": bundle_docs,
}
