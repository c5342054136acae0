"""What a case-transfer bundle carries, gathered for adapters/transfer, and the hub's signature.

The hub never writes plaintext into a bundle:
- packets stay exactly as sealed (signed header, encrypted parts); only their content key is
  unwrapped, with a key the hub holds for an agency that was sent it, and wrapped again to each
  receiving agency's X25519 key (``Receiver``: from this hub's directory, or from a peer's signed
  directory document);
- the case's identity (the clear columns of the case row) and its nominal record are sealed
  together in the packet format, signed by the lead agency, bound to the bundle id, for the
  receivers alone;
- the log entries (no personal data beyond s62's) travel in clear with their inclusion proofs to
  a checkpoint signed by this hub.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from hub.clock import Clock
from hub.crypto import packet_format as fmt
from hub.crypto import signing
from hub.crypto.agency_keys import KeyPurpose
from hub.crypto.errors import CryptoFailure
from hub.crypto.kek import KeyEncryptionKey
from hub.crypto.secrets import SecretBytes, sha256_hex
from hub.errors import ConfigError, IntegrityFailure, InvalidInput, NotFound
from hub.ledger.merkle import MerkleTree
from hub.model.cases import Case
from hub.model.directory import Agency, AgencyKind, AgencyType, Area
from hub.policy.policyset import PolicySet
from hub.services.checkpoints import LedgerService, read_pins
from hub.services.keyring import KeyRing
from hub.services.transfer_rules import Mapped, map_for_jurisdiction
from hub.services.visor import VisorRecordService
from hub.store import cases as case_store
from hub.store import checkpoints as checkpoint_store
from hub.store import directory as directory_store
from hub.store import disclosures as disclosure_store
from hub.store import packets as packet_store
from hub.store import transfer_bundles as store
from hub.store import workflows as workflow_store
from hub.store.database import Database

CASE_SEAL_TYPE = "transfer-case"
CASE_SCHEMA = "mappa-hub/transfer-case"
SIGNATURE_CONTEXT = b"mappa-hub/transfer-bundle/v1\n"


class BundleRefused(IntegrityFailure):
    """A bundle that is not imported, with the reason (safe to show: it names files and checks,
    never content). Nothing of it was written."""

    code = "bundle_refused"

    def __init__(self, reason: str) -> None:
        super().__init__(f"The transfer bundle was refused: {reason}.", reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class Receiver:
    """A receiving agency and the X25519 key its content keys are wrapped to."""

    agency: str
    name: str
    type: str
    key_id: str
    public: bytes


@dataclass(frozen=True)
class HubSignature:
    key_id: str
    public_key: bytes
    signature: bytes


@dataclass(frozen=True)
class CaseFacts:
    """What the completeness manifest is decided from (no content beyond presence)."""

    has_record: bool
    record_sections: frozenset[str]
    on_licence: bool
    last_meeting: date | None
    last_minutes_packet: str | None
    register_rows: int


@dataclass
class CasePlan:
    """Everything of a bundle but its packets, which are fetched one at a time."""

    bundle_id: str
    case: Case
    from_area: Area
    to_area: str
    case_doc: dict[str, Any]
    sealed_case: bytes
    register: list[dict[str, Any]]
    meetings: list[dict[str, Any]]
    packet_ids: list[str]
    ledger: dict[str, Any]
    facts: CaseFacts
    not_rewrapped: list[str] = field(default_factory=list)
    # Across a border: what was mapped and why (bundle.json's "jurisdiction_mapping").
    mapping: dict[str, Any] | None = None


@dataclass(frozen=True)
class ExportedPacket:
    meta: dict[str, Any]
    header: bytes
    signature: bytes
    part_names: list[str]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _ra(agency: Agency) -> bool:
    return (
        agency.kind is AgencyKind.RESPONSIBLE_AUTHORITY
        and agency.type is not AgencyType.VICTIM_LIAISON
    )


class TransferBundleService:
    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        ledger: LedgerService,
        kek: KeyEncryptionKey,
        pins: Path,
        clock: Clock,
        visor: VisorRecordService,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._ledger = ledger
        self._kek = kek
        self._pins = pins
        self._clock = clock
        self._visor = visor

    # -- who receives ----------------------------------------------------------------------

    async def receivers_here(self, area_code: str) -> list[Receiver]:
        """The receiving area's Responsible Authority agencies on this hub (not victim liaison,
        as for the nominal record): they take over the case and share onward under policy."""
        async with self._db.read() as conn:
            area = await directory_store.area_by_code(conn, area_code)
            if area is None:
                raise InvalidInput(f"No area {area_code} on this hub.", field="to_area")
            agencies = [
                a for a in await directory_store.list_agencies(conn) if a.area_id == area.id
            ]
        out = []
        for a in agencies:
            if not _ra(a):
                continue
            enc = (await self._keyring.active(a.id)).encryption
            out.append(Receiver(a.code, a.name, a.type.value, enc.key_id, enc.public_key))
        if not out:
            raise InvalidInput(f"Area {area_code} has no agency to receive a case.")
        return out

    # -- the case --------------------------------------------------------------------------

    async def facts(self, case_id: int) -> CaseFacts:
        async with self._db.read() as conn:
            case = await case_store.case_by_id(conn, case_id)
            if case is None:
                raise NotFound("No such case.")
            return (await self._gather(conn, case))[1]

    async def _gather(self, conn: Any, case: Case) -> tuple[dict[str, Any] | None, CaseFacts]:
        found = await self._visor.document(conn, case, None)
        doc = found[0] if found else None
        meetings = await workflow_store.case_meetings(conn, case.id)
        register = await disclosure_store.disclosure_register(conn, case_id=case.id, limit=10_000)
        last = max(meetings, key=lambda m: m.held_on, default=None)
        today = self._visor.today().isoformat()
        conditions = (doc or {}).get("licence_conditions") or []
        sentences = " ".join(str(o.get("sentence", "")) for o in (doc or {}).get("offences", []))
        on_licence = any(not c.get("to") or c["to"] >= today for c in conditions) or (
            "licence" in sentences.lower()
        )
        facts = CaseFacts(
            has_record=doc is not None,
            record_sections=frozenset(k for k, v in (doc or {}).items() if v),
            on_licence=on_licence,
            last_meeting=last.held_on if last else None,
            last_minutes_packet=last.minutes_packet_id if last else None,
            register_rows=len(register),
        )
        return doc, facts

    async def plan(
        self,
        reference: str,
        to_area: str,
        receivers: Sequence[Receiver],
        *,
        policy: PolicySet | None = None,
        to_jurisdiction: str | None = None,
    ) -> CasePlan:
        """Gather the case for a bundle to ``to_area``'s ``receivers``.

        With ``policy``, a case going to another jurisdiction (``to_jurisdiction``, else the
        area's on this hub) carries the category and level that jurisdiction records, mapped by
        policies/transfer.toml, with the values as sent beside them; a value with no mapping
        refuses the bundle (InvalidInput ``transfer_unmapped``) before anything is sealed."""
        if not receivers:
            raise InvalidInput("A bundle needs at least one receiving agency.")
        bundle_id = str(uuid.uuid4())
        async with self._db.read() as conn:
            case = await case_store.case_by_reference(conn, reference)
            if case is None:
                raise NotFound("No such case.")
            from_area = await directory_store.area_by_id(conn, case.area_id)
            if from_area is None:
                raise NotFound("No such area.")
            if from_area.code == to_area:
                raise InvalidInput("The case is already in that area.", field="to_area")
            doc, facts = await self._gather(conn, case)
            agencies = {a.id: a for a in await directory_store.list_agencies(conn)}
            areas = {a.id: a for a in await directory_store.list_areas(conn)}
            rows = await packet_store.case_packets(conn, case.id, limit=100_000)
            meetings = await workflow_store.case_meetings(conn, case.id)
            register = await disclosure_store.disclosure_register(
                conn, case_id=case.id, limit=10_000
            )
            if policy is not None and to_jurisdiction is None:
                target = await directory_store.area_by_code(conn, to_area)
                to_jurisdiction = target.jurisdiction.value if target else None
        lead = agencies[case.lead_agency_id]
        involved = {lead.id} | {r.sender_agency_id for r in rows}
        involved |= {a for r in rows for a in r.recipient_agency_ids}
        source = from_area.jurisdiction.value
        mapped = None
        if policy is not None and to_jurisdiction and to_jurisdiction != source:
            mapped = map_for_jurisdiction(
                policy, source, to_jurisdiction, category=int(case.category),
                level=int(case.level),
                # The sending jurisdiction's own agencies: their types are the ones it uses.
                agency_types=[agencies[i].type.value for i in involved
                              if areas[agencies[i].area_id].jurisdiction.value == source],
            )  # fmt: skip
        case_doc = {
            "reference": case.reference,
            "category": int(case.category),
            "level": int(case.level),
            "lead_agency": lead.code,
            "area": {"code": from_area.code, "name": from_area.name,
                     "jurisdiction": from_area.jurisdiction.value},
            "created_at": _jsonable(case.created_at),
            "agencies": [await self._agency_doc(agencies[i], areas) for i in sorted(involved)],
        }  # fmt: skip
        mapping = None
        if mapped is not None:
            mapping = _mapping_doc(mapped, case_doc)
            case_doc |= {"category": mapped.category, "level": mapped.level,
                         "as_sent": mapping["as_sent"]}  # fmt: skip
        identity = {
            k: _jsonable(getattr(case, k))
            for k in ("family_name", "given_names", "date_of_birth", "visor_ref", "pnc_ref",
                      "ndelius_crn")
        }  # fmt: skip
        sealed_case = await self._seal_case(
            bundle_id, lead, agencies, case.area_id, {"identity": identity, "record": doc},
            receivers,
        )  # fmt: skip
        return CasePlan(
            bundle_id=bundle_id,
            case=case,
            from_area=from_area,
            to_area=to_area,
            case_doc=case_doc,
            sealed_case=sealed_case,
            register=[
                {k: _jsonable(v) for k, v in r.__dict__.items() if k != "id"}
                | {"proposer_agency": agencies[r.proposer_agency_id].code}
                for r in register
            ],
            meetings=[
                {
                    "held_on": m.held_on.isoformat(),
                    "level": m.level,
                    "minutes_packet": m.minutes_packet_id,
                    "recorded_at": _jsonable(m.recorded_at),
                }
                for m in meetings
            ],
            packet_ids=[r.id for r in rows],
            ledger=await self._ledger_evidence(case.id),
            facts=facts,
            mapping=mapping,
        )

    async def _agency_doc(self, agency: Agency, areas: dict[int, Area]) -> dict[str, Any]:
        """An agency the bundle names, with the signing keys that verify its packets' headers."""
        area = areas[agency.area_id]
        keys = [
            {"key_id": k.key_id, "public": k.public_key.hex()}
            for k in await self._keyring.history(agency.id)
            if k.purpose == KeyPurpose.SIGNING.value
        ]
        return {"code": agency.code, "name": agency.name, "type": agency.type.value,
                "area": area.code, "area_name": area.name,
                "jurisdiction": area.jurisdiction.value, "signing_keys": keys}  # fmt: skip

    async def _seal_case(
        self,
        bundle_id: str,
        lead: Agency,
        agencies: dict[int, Agency],
        area_id: int,
        content: dict[str, Any],
        receivers: Sequence[Receiver],
    ) -> bytes:
        candidates = [lead] + [a for a in agencies.values() if a.area_id == area_id and _ra(a)]
        for signer in candidates:
            keys = await self._keyring.active(signer.id)
            if keys.signing.held_by_hub:
                break
        else:
            raise ConfigError("No agency of the sending area has a signing key the hub holds.")
        sealed = fmt.seal(
            {"packet_id": f"{CASE_SEAL_TYPE}/{bundle_id}", "type": CASE_SEAL_TYPE,
             "signer_agency": signer.code},
            fmt.PlainContent(subject="", body="", form={"schema": CASE_SCHEMA, "version": 1,
                                                         "fields": content}),
            [fmt.Recipient(r.agency, r.key_id, r.public) for r in receivers],
            self._keyring.private(keys.signing),
            keys.signing.key_id,
        )  # fmt: skip
        return sealed.to_envelope()

    async def _ledger_evidence(self, case_id: int) -> dict[str, Any]:
        """The case's log entries with inclusion proofs to a checkpoint signed now."""
        cp = await self._ledger.checkpoint()
        tree = MerkleTree()
        async with self._db.read() as conn:
            entries = await store.case_entries(conn, case_id, cp.tree_size)
            async for batch in checkpoint_store.leaf_hash_batches(conn, 0, cp.tree_size):
                tree.extend(batch)
        return {
            "checkpoint": cp.to_json(),
            "entries": [
                {"seq": seq, "entry": base64.b64encode(data).decode(),
                 "proof": [p.hex() for p in tree.inclusion_proof(seq - 1, cp.tree_size)]}
                for seq, data in entries
            ],
        }  # fmt: skip

    # -- packets, one at a time ---------------------------------------------------------------

    async def packet(
        self, plan: CasePlan, packet_id: str, receivers: Sequence[Receiver]
    ) -> ExportedPacket:
        """A packet as sealed, its content key wrapped to the receivers instead of its own
        recipients. A packet whose key the hub cannot unwrap (held by an agency's own system)
        goes as it is and is named in ``plan.not_rewrapped``."""
        async with self._db.read() as conn:
            row = await packet_store.packet_by_id(conn, packet_id)
            if row is None:
                raise NotFound("No such packet.")
            wrapped = await packet_store.wrapped_keys(conn, packet_id)
            names = await store.part_names(conn, packet_id)
            codes = await directory_store.agencies_by_ids(
                conn, [row.sender_agency_id, *row.recipient_agency_ids,
                       *(w.agency_id for w in wrapped)],
            )  # fmt: skip
        content_key = await self._content_key(wrapped, codes)
        keys = []
        if content_key is not None:
            sealed = fmt.SealedPacket(row.header, row.signature, row.signer_key_id, (), {})
            for r in receivers:
                w = fmt.rewrap_for(sealed, content_key, fmt.Recipient(r.agency, r.key_id, r.public))
                keys.append({"agency": w.agency, "key_id": w.key_id,
                             "sealed": base64.b64encode(w.sealed).decode()})  # fmt: skip
        else:
            plan.not_rewrapped.append(packet_id)
        meta = {
            "id": row.id,
            "type": row.packet_type,
            "sender_agency": codes[row.sender_agency_id].code,
            "recipients": sorted(codes[a].code for a in row.recipient_agency_ids),
            "purpose": row.purpose,
            "lawful_basis": row.lawful_basis,
            "created_at": _jsonable(row.created_at),
            "signer_key_id": row.signer_key_id,
            "reply_to": row.reply_to,
            "keys": keys,
        }
        return ExportedPacket(meta, row.header, row.signature, names)

    async def _content_key(
        self, wrapped: Sequence[packet_store.StoredWrappedKey], agencies: dict[int, Agency]
    ) -> SecretBytes | None:
        for w in wrapped:
            stored = await self._keyring.key(w.key_id)
            if stored is None or not stored.held_by_hub or stored.agency_id != w.agency_id:
                continue
            code = agencies[w.agency_id].code
            one = fmt.SealedPacket(b"", b"", "", (fmt.WrappedKey(code, w.key_id, w.sealed),), {})
            try:
                return fmt.unwrap_content_key(
                    one, code, {w.key_id: self._keyring.private(stored)}.get
                )
            except CryptoFailure:
                continue
        return None

    async def part(self, packet_id: str, name: str) -> bytes:
        async with self._db.read() as conn:
            return await store.part(conn, packet_id, name)

    # -- the hub's signature --------------------------------------------------------------------

    async def sign(self, message: bytes) -> HubSignature:
        """Sign with the hub's signing key (the pinned one in force), under the bundle context."""
        pins = read_pins(self._pins)
        async with self._db.read() as conn:
            keys = [
                k
                for k in await checkpoint_store.all_hub_keys(conn)
                if k.retired_at is None and (not pins or k.public_key in pins)
            ]
        if not keys:
            raise ConfigError("the hub has no signing key; run 'mappa-hub init'")
        key = keys[-1]
        private = self._kek.unwrap(key.wrapped_private, key.key_id)
        return HubSignature(
            key.key_id, key.public_key, signing.sign(private, SIGNATURE_CONTEXT + message)
        )

    async def trusted_signers(self) -> dict[bytes, str]:
        """The keys a bundle may be signed by: this hub's pinned keys and active pinned peers'."""
        async with self._db.read() as conn:
            trusted = await store.peer_keys(conn)
        for pin in read_pins(self._pins):
            trusted[pin] = "this hub"
        return trusted

    async def check_signature(self, message: bytes, public: bytes, signature: bytes) -> str:
        """Who signed: raises ``BundleRefused`` for an unpinned key or a bad signature."""
        who = (await self.trusted_signers()).get(public)
        if who is None:
            raise BundleRefused("it is signed by a hub key this hub has not pinned")
        try:
            signing.verify(public, SIGNATURE_CONTEXT + message, signature)
        except CryptoFailure:
            raise BundleRefused("the hub signature over the tag manifest does not verify") from None
        return who


def _mapping_doc(mapped: Mapped, case_doc: dict[str, Any]) -> dict[str, Any]:
    """The mapping as the bundle carries it: both sides' values, the changes in words and the
    lawful basis each side works under, so the receiving coordinator sees both."""
    return {
        "from_jurisdiction": mapped.source,
        "to_jurisdiction": mapped.target,
        "as_sent": {"category": case_doc["category"], "level": case_doc["level"],
                    "jurisdiction": mapped.source},
        "as_received": {"category": mapped.category, "level": mapped.level,
                        "jurisdiction": mapped.target},
        "agency_types": dict(mapped.agency_types),
        "changes": list(mapped.changes),
        "export_lawful_basis": mapped.export_basis,
        "import_lawful_basis": mapped.import_basis,
    }  # fmt: skip


def fingerprint(public: bytes) -> str:
    return sha256_hex(public)
