"""Importing a case-transfer bundle whose bag, checksums and hub signature adapters/transfer has
checked: every proof, header and wrapped key is checked here, then everything is written in one
transaction or nothing is.

Between two areas of this hub the case and its packets are already here: the import adds the
receivers' wrapped keys. From a peer hub it creates the case, the agencies and signing keys the
packets name (public halves only, retired, so nothing is ever sealed to them), the packets as
sealed, and the nominal record sealed afresh to this hub's readers. Either way the sender's log
entries are kept as evidence (``transfer_imports``), not appended to this log, which gets its own
``transfer-received`` collection entry.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.crypto import packet_format as fmt
from hub.crypto import signing
from hub.crypto.agency_keys import KeyPurpose
from hub.crypto.canonical import canonical_json
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes, constant_time_equals
from hub.errors import Forbidden, InvalidInput
from hub.ledger.checkpoint import BadCheckpoint, Checkpoint
from hub.ledger.entries import Action, Event, Record, leaf_hash
from hub.ledger.merkle import ProofError, verify_inclusion
from hub.model.cases import Case, MappaCategory, MappaLevel
from hub.model.directory import Agency, AgencyType, Jurisdiction
from hub.policy.policyset import PolicySet
from hub.services import ledger
from hub.services import visor_sealing as sealing
from hub.services.transfer_bundle import CASE_SCHEMA, CASE_SEAL_TYPE, BundleRefused
from hub.services.transfer_bundle_shape import check_bundle, check_content
from hub.services.transfer_rules import map_for_jurisdiction
from hub.services.visor import LAWFUL_BASIS, PURPOSE, SEALED_KEYS
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import keys as key_store
from hub.store import packet_writes
from hub.store import packets as packet_store
from hub.store import transfer_bundles as store
from hub.store import visor as visor_store
from hub.store.packet_writes import NewPacket
from hub.store.packets import PacketRow, StoredWrappedKey
from hub.store.transfer_bundles import ImportRow
from hub.store.visor import VisorRow

if TYPE_CHECKING:
    from hub.services.transfer_bundle import TransferBundleService


@dataclass(frozen=True)
class BundlePacket:
    meta: Mapping[str, Any]
    header: bytes
    signature: bytes
    # Each encrypted part's file in the checked bag and its SHA-256 from the bag's manifest.
    parts: Mapping[str, tuple[Path, str]]


@dataclass(frozen=True)
class ParsedBundle:
    bundle: Mapping[str, Any]
    case: Mapping[str, Any]
    sealed_case: bytes
    register: list[Any]
    meetings: list[Any]
    ledger: Mapping[str, Any]
    completeness: Mapping[str, Any]
    packets: list[BundlePacket]
    sender_key: bytes
    digest: str
    # From a peer over HTTP: the uploaded file's SHA-256 and the signed acknowledgement to
    # answer with, kept with the import (one transaction) so a retry gets the same one back.
    upload_sha256: str | None = None
    ack: bytes | None = None


@dataclass(frozen=True)
class ImportResult:
    bundle_id: str
    case: Case
    created_case: bool
    packets: int
    from_area: str
    to_area: str
    sender: str
    # The signed digest (what ``mark_sent`` recorded) and the workflow's description of the
    # transfer from bundle.json, for ``TransferService.record_received``.
    digest: str
    transfer: Mapping[str, Any] | None
    ack: bytes | None = None


class TransferImporter:
    def __init__(self, service: TransferBundleService, policy: PolicySet | None = None) -> None:
        self._s = service
        self._policy = policy
        self._db = service._db
        self._keyring = service._keyring
        self._clock = service._clock

    async def import_bundle(self, b: ParsedBundle) -> ImportResult:
        check_bundle(b)  # every member read below is there, of the type it is read as
        bundle_id, to_area = str(b.bundle["bundle_id"]), str(b.bundle["to_area"])
        from_area = str(b.case["area"]["code"])
        if str(b.bundle.get("from_area")) != from_area or from_area == to_area:
            raise BundleRefused("its areas are inconsistent")
        _check_ledger(b)
        signers = _signing_keys(b.case)
        for p in b.packets:
            _check_packet(p, signers, str(b.case["reference"]))
        async with self._db.read() as conn:
            area = await directory_store.area_by_code(conn, to_area)
            if area is None:
                raise BundleRefused(f"it is for area {to_area}, which is not an area of this hub")
            receivers = {
                a.code: a for a in await directory_store.list_agencies(conn) if a.area_id == area.id
            }
            if await store.already_imported(conn, bundle_id, b.digest):
                raise BundleRefused("this bundle has already been imported (a replay)")
        grading = self._grading(b, area.jurisdiction.value)
        opener = await self._check_keys(b, receivers)
        content = await self._open_case(b, signers, opener)
        try:
            async with self._db.write() as conn:
                if await store.already_imported(conn, bundle_id, b.digest):
                    raise BundleRefused("this bundle has already been imported (a replay)")
                case, created = await self._write(conn, b, receivers, content, opener, grading)
                await store.record_import(conn, ImportRow(
                    bundle_id=bundle_id, digest=b.digest, case_id=case.id, from_area=from_area,
                    to_area=to_area, sender_key=b.sender_key.hex(),
                    evidence=canonical_json({"ledger": dict(b.ledger), "register": b.register,
                                             "meetings": b.meetings}),
                    completeness=json.dumps(b.completeness, sort_keys=True),
                    imported_at=self._clock.now(), upload_sha256=b.upload_sha256, ack=b.ack,
                ))  # fmt: skip
                await ledger.append(conn, Record(
                    action=Action.COLLECTION, event=Event.TRANSFER_RECEIVED,
                    recorded_at=self._clock.now(), actor_user_id=None, actor_agency_id=None,
                    case_id=case.id, recipients=tuple(sorted(a.id for a in receivers.values())),
                    purpose=PURPOSE, lawful_basis=LAWFUL_BASIS, content_digest=b.digest,
                    channel="transfer",
                ))  # fmt: skip
        except IntegrityError:  # another process imported it meanwhile: the unique keys held
            raise BundleRefused("this bundle has already been imported (a replay)") from None
        who = (await self._s.trusted_signers()).get(b.sender_key, "?")
        return ImportResult(
            bundle_id,
            case,
            created,
            len(b.packets),
            from_area,
            to_area,
            who,
            b.digest,
            b.bundle.get("transfer"),
            b.ack,
        )

    def _grading(self, b: ParsedBundle, target: str) -> tuple[int, int]:
        """The category and level the case is recorded with here. Across a border this hub's
        own rules map the values as sent (``as_sent``, beside the sender's mapped ones), so both
        sides' rules apply; a value this hub cannot map refuses the bundle."""
        sent = b.case.get("as_sent") or b.case
        category, level = int(sent["category"]), int(sent["level"])
        source = str(b.case["area"]["jurisdiction"])
        if self._policy is None or source == target:
            return int(b.case["category"]), int(b.case["level"])
        try:
            mapped = map_for_jurisdiction(
                self._policy, source, target, category=category, level=level
            )
        except (Forbidden, InvalidInput) as exc:
            raise BundleRefused(str(exc).rstrip(".")) from None
        return mapped.category, mapped.level

    async def _check_keys(self, b: ParsedBundle, receivers: dict[str, Agency]) -> Agency:
        """Every wrapped key is for a receiving agency's key this hub holds; the agency whose
        private key opens the sealed case is returned."""
        opener: Agency | None = None
        for p in b.packets:
            for k in p.meta["keys"]:
                agency = receivers.get(str(k["agency"]))
                stored = await self._keyring.key(str(k["key_id"]))
                if agency is None or stored is None or stored.agency_id != agency.id:
                    raise BundleRefused(
                        f"packet {p.meta['id']} is wrapped for a key that is not a receiving "
                        "agency's on this hub"
                    )
        sealed = fmt.SealedPacket.from_envelope(b.sealed_case)
        for w in sealed.wrapped_keys:
            agency = receivers.get(w.agency)
            stored = await self._keyring.key(w.key_id)
            if agency and stored and stored.agency_id == agency.id and stored.held_by_hub:
                opener = agency
                break
        if opener is None:
            raise BundleRefused("the case record is not sealed to any agency of this hub's area")
        return opener

    async def _open_case(
        self, b: ParsedBundle, signers: dict[str, tuple[str, bytes]], opener: Agency
    ) -> dict[str, Any]:
        bound = f"{CASE_SEAL_TYPE}/{b.bundle['bundle_id']}"
        try:
            sealed = fmt.SealedPacket.from_envelope(b.sealed_case)
            signer = signers.get(sealed.signer_key_id)
            if signer is None:
                raise CryptoFailure("unknown signer")
            header = fmt.verify_header(sealed, signer[1])
            if header.get("packet_id") != bound or header.get("type") != CASE_SEAL_TYPE:
                raise CryptoFailure("bound to another bundle")
            privates: dict[str, SecretBytes] = {}
            for w in sealed.wrapped_keys:
                stored = await self._keyring.key(w.key_id)
                if w.agency == opener.code and stored is not None and stored.held_by_hub:
                    privates[w.key_id] = self._keyring.private(stored)
            key = fmt.unwrap_content_key(sealed, opener.code, privates.get)
            doc = fmt.decrypt_form(sealed, bound, key)
        except CryptoFailure:
            raise BundleRefused("the sealed case record does not verify or open") from None
        if doc is None or doc.get("schema") != CASE_SCHEMA:
            raise BundleRefused("the sealed case record has an unknown schema")
        return check_content(doc["fields"])

    async def _write(
        self,
        conn: AsyncConnection,
        b: ParsedBundle,
        receivers: dict[str, Agency],
        content: dict[str, Any],
        opener: Agency,
        grading: tuple[int, int],
    ) -> tuple[Case, bool]:
        reference = str(b.case["reference"])
        case = await case_store.case_by_reference(conn, reference)
        if case is not None:
            area = await directory_store.area_by_id(conn, case.area_id)
            if area is None or area.code != b.case["area"]["code"]:
                raise BundleRefused(f"a case {reference} of another area is already on this hub")
            await self._add_keys(conn, b, receivers)
            return case, False
        ids = await self._directory(conn, b.case)
        now = self._clock.now()
        ident = content["identity"]
        dob = ident.get("date_of_birth")
        case = await case_store.add_case(
            conn, reference=reference, family_name=ident["family_name"],
            given_names=ident["given_names"],
            date_of_birth=date.fromisoformat(dob) if dob else None,
            visor_ref=ident.get("visor_ref"), pnc_ref=ident.get("pnc_ref"),
            ndelius_crn=ident.get("ndelius_crn"), category=MappaCategory(grading[0]),
            level=MappaLevel(grading[1]), lead_agency_id=ids[b.case["lead_agency"]],
            area_id=ids["area:" + b.case["area"]["code"]], created_at=now,
        )  # fmt: skip
        for p in b.packets:
            m = p.meta
            row = PacketRow(
                id=str(m["id"]), packet_type=str(m["type"]), case_id=case.id,
                sender_agency_id=ids[m["sender_agency"]], sender_user_id=None,
                purpose=str(m["purpose"]), lawful_basis=str(m["lawful_basis"]),
                created_at=datetime.fromisoformat(m["created_at"]), header=p.header,
                signature=p.signature, signer_key_id=str(m["signer_key_id"]),
                recipient_agency_ids=tuple(ids[c] for c in m["recipients"]),
                reply_to=m.get("reply_to"),
            )  # fmt: skip
            keys = [
                StoredWrappedKey(receivers[k["agency"]].id, k["key_id"],
                                 base64.b64decode(k["sealed"], validate=True))
                for k in m["keys"]
            ]  # fmt: skip
            # One packet's parts in memory at a time, read from the checked bag.
            parts = {name: path.read_bytes() for name, (path, _) in p.parts.items()}
            await packet_writes.insert_packets(conn, [NewPacket(row, keys, parts)])
        if content.get("record"):
            await self._record(conn, case, content["record"], opener, receivers)
        return case, True

    async def _add_keys(
        self, conn: AsyncConnection, b: ParsedBundle, receivers: dict[str, Agency]
    ) -> None:
        for p in b.packets:
            row = await packet_store.packet_by_id(conn, str(p.meta["id"]))
            if row is None or not constant_time_equals(row.header, p.header):
                raise BundleRefused(f"packet {p.meta['id']} differs from the one on this hub")
            await store.add_wrapped_keys(conn, row.id, [
                (receivers[k["agency"]].id, str(k["key_id"]),
                 base64.b64decode(k["sealed"], validate=True))
                for k in p.meta["keys"]
            ])  # fmt: skip

    async def _directory(self, conn: AsyncConnection, doc: Mapping[str, Any]) -> dict[str, int]:
        """Local ids for the areas and agencies the bundle names, created (foreign, with their
        signing keys' public halves, retired) where this hub does not have them."""
        ids: dict[str, int] = {}
        now = self._clock.now()
        for a in doc["agencies"]:
            area = await directory_store.area_by_code(conn, a["area"])
            if area is None:
                area = await directory_store.add_area(
                    conn, a["area"], a["area_name"], Jurisdiction(a["jurisdiction"])
                )
            ids["area:" + area.code] = area.id
            agency = await directory_store.agency_by_code(conn, a["code"])
            if agency is None:
                agency = await directory_store.add_agency(
                    conn, a["code"], a["name"], AgencyType(a["type"]), area.id
                )
            elif agency.area_id != area.id:
                raise BundleRefused(f"agency {a['code']} is of another area on this hub")
            ids[agency.code] = agency.id
            # An agency of this hub's own (keys it holds) never takes signing keys from a bundle:
            # a peer could otherwise sign packets in its name.
            own = any(k.held_by_hub for k in await key_store.keys_for_agency(conn, agency.id))
            for k in a["signing_keys"]:
                stored = await key_store.key_by_id(conn, k["key_id"])
                if stored is None and own:
                    raise BundleRefused(f"it names {a['code']}, one of this hub's own agencies")
                if stored is None:
                    await key_store.add_key(
                        conn, key_id=k["key_id"], agency_id=agency.id,
                        purpose=KeyPurpose.SIGNING.value, public_key=bytes.fromhex(k["public"]),
                        wrapped_private=None, kek_id=None, created_at=now,
                    )  # fmt: skip
                    await key_store.retire_active(conn, agency.id, KeyPurpose.SIGNING.value, now)
                elif stored.agency_id != agency.id:
                    raise BundleRefused(f"a signing key of {a['code']} is another agency's here")
        area_code = doc["area"]["code"]
        if "area:" + area_code not in ids:
            raise BundleRefused("the case's area is not named with its agencies")
        return ids

    async def _record(
        self,
        conn: AsyncConnection,
        case: Case,
        record: Mapping[str, Any],
        opener: Agency,
        receivers: dict[str, Agency],
    ) -> None:
        """The nominal record, sealed afresh on this hub (bound to this hub's case id) to the
        receiving area's readers and the lead agency."""
        content = {k: record[k] for k in SEALED_KEYS if record.get(k)}
        aliases = record.get("person", {}).get("aliases")
        if aliases:
            content["aliases"] = aliases
        wrap_to = sealing.readers(list(receivers.values()), opener.area_id, opener.id, set())
        sealed = await sealing.seal(self._keyring, opener, wrap_to, case.id, 1, content)
        now = self._clock.now()
        await visor_store.insert_record(
            conn, VisorRow(case.id, 1, sealed, len(sealed), opener.id, now, now)
        )


def _signing_keys(case_doc: Mapping[str, Any]) -> dict[str, tuple[str, bytes]]:
    """key id -> (agency code, public key) for every signing key the bundle names."""
    out: dict[str, tuple[str, bytes]] = {}
    for a in case_doc["agencies"]:
        for k in a["signing_keys"]:
            out[str(k["key_id"])] = (str(a["code"]), bytes.fromhex(k["public"]))
    return out


def _check_ledger(b: ParsedBundle) -> None:
    """Every entry is included in the checkpoint, which the bundle's signing hub signed."""
    try:
        cp = Checkpoint.from_json(b.ledger["checkpoint"])
        cp.verify(trusted_key=b.sender_key)
        for e in b.ledger["entries"]:
            data = base64.b64decode(e["entry"], validate=True)
            seq = int(e["seq"])
            if json.loads(data).get("seq") != seq:
                raise BundleRefused(f"log entry {seq} is not at its place")
            verify_inclusion(bytes.fromhex(leaf_hash(data)), seq - 1, cp.tree_size,
                             [bytes.fromhex(h) for h in e["proof"]], cp.root)  # fmt: skip
    except BadCheckpoint:
        raise BundleRefused("the log checkpoint is not signed by the bundle's hub") from None
    except ProofError:
        raise BundleRefused("a log entry's inclusion proof does not verify") from None
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise BundleRefused(f"the log evidence is malformed ({type(exc).__name__})") from None


def _check_packet(p: BundlePacket, signers: dict[str, tuple[str, bytes]], reference: str) -> None:
    """The header is signed by its sender agency's key, agrees with the bundle's description,
    and lists exactly the part files present with the digests the bag's manifest checked."""
    m, pid = p.meta, p.meta.get("id")
    signer = signers.get(str(m.get("signer_key_id")))
    if signer is None or signer[0] != m.get("sender_agency"):
        raise BundleRefused(f"packet {pid} is signed by a key not of its sending agency")
    try:
        signing.verify(signer[1], p.header, p.signature)
        header = json.loads(p.header)
    except (CryptoFailure, ValueError):
        raise BundleRefused(f"packet {pid}'s header signature does not verify") from None
    expected = {"packet_id": pid, "sender_agency": m.get("sender_agency"), "case": reference,
                "recipients": m.get("recipients"), "type": m.get("type"),
                "purpose": m.get("purpose"), "lawful_basis": m.get("lawful_basis")}  # fmt: skip
    if not isinstance(header, dict) or any(header.get(k) != v for k, v in expected.items()):
        raise BundleRefused(f"packet {pid} disagrees with its signed header")
    declared = header.get("parts")
    if not isinstance(declared, dict) or set(declared) != set(p.parts):
        raise BundleRefused(f"packet {pid}'s parts differ from its signed header")
    for name, (_, digest) in p.parts.items():
        if not constant_time_equals(str(declared[name]), digest):
            raise BundleRefused(f"packet {pid} part {name} does not match its signed digest")
