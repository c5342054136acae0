"""Set-up for ``python -m bench``: a hub with the demo directory, API tokens and N real packets.

Not a figure: the load is built as fast as this machine allows (sealing in one worker process per
core, rows inserted in large transactions). Every packet is real: sealed for the sender and one
recipient with the agencies' own keys, signed, with its log entry chained after the last, so that
listing and opening any of them does the same work as for a packet sent through the API.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update

from hub import ids
from hub.crypto import packet_format as fmt
from hub.crypto.secrets import SecretBytes, sha256_hex
from hub.ledger.entries import Action, Event, Record, chain
from hub.model.cases import Case
from hub.policy.model import ShareRequest
from hub.services.actor import Actor
from hub.store import ledger as ledger_store
from hub.store.packets import recipient_ids_text
from hub.store.schema import (
    ledger_entries,
    ledger_head,
    packet_keys,
    packet_parts,
    packet_recipients,
    packets,
)
from hub.wiring import Hub

CHUNK = 5_000
SENDER = "dby.police"
RECIPIENT = "DBY-HOUSING"
PURPOSE = "risk-management"
LAWFUL_BASIS = "cja2003-s325"
CATEGORIES = ("address", "risk-summary")
BODY_BYTES = 2048
YEAR_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True)
class Keys:
    """What a sealing worker needs: public keys to wrap for, and the sender's signing key."""

    sender_code: str
    recipient_code: str
    targets: tuple[tuple[str, str, bytes], ...]  # (agency code, key id, public key)
    signing_key: bytes
    signing_key_id: str
    policy_record: dict[str, Any]


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _seal_chunk(
    keys: Keys, cases: list[tuple[int, str]], start: int, count: int, base: float, step: float
) -> list[tuple[Any, ...]]:
    """Seal ``count`` packets (runs in a worker process); one tuple of row values per packet."""
    rng = random.Random(start)
    recipients = [fmt.Recipient(*t) for t in keys.targets]
    signing = SecretBytes(keys.signing_key)
    out = []
    for k in range(start, start + count):
        case_id, reference = cases[rng.randrange(len(cases))]
        created = datetime.fromtimestamp(base + k * step, UTC)
        packet_id = ids.packet_id(created)  # time-ordered, as the hub makes them
        header = {
            "packet_id": packet_id,
            "type": "note",
            "case": reference,
            "sender_user": SENDER,
            "sender_agency": keys.sender_code,
            "recipients": [keys.recipient_code],
            "purpose": PURPOSE,
            "lawful_basis": LAWFUL_BASIS,
            "data_categories": sorted(CATEGORIES),
            "classification": "OFFICIAL-SENSITIVE",
            "created_at": _iso(created),
            "policy": keys.policy_record,
        }
        content = fmt.PlainContent(
            subject=f"Address check {k}",
            body=f"Seeded packet {k}. ".ljust(BODY_BYTES, "x"),
            necessity={"why": "Housing must assess the proposed address against the plan."},
        )
        sealed = fmt.seal(header, content, recipients, signing, keys.signing_key_id)
        out.append(
            (
                packet_id,
                case_id,
                created,
                sealed.header_bytes,
                sealed.signature,
                tuple((w.agency, w.key_id, w.sealed) for w in sealed.wrapped_keys),
                dict(sealed.parts),
            )
        )
    return out


async def packet_keys_for(hub: Hub, sender: Actor, recipient_id: int) -> Keys:
    sender_keys = await hub.keyring.active(sender.agency.id)
    recipient = await hub.directory.agency(recipient_id)
    targets = []
    for agency in (sender.agency, recipient):
        enc = (await hub.keyring.active(agency.id)).encryption
        targets.append((agency.code, enc.key_id, enc.public_key))
    share = ShareRequest(
        sender_type=sender.agency.type.value,
        sender_role=sender.role.value,
        recipient_types=(recipient.type.value,),
        packet_type="note",
        data_categories=CATEGORIES,
        purpose=PURPOSE,
        lawful_basis=LAWFUL_BASIS,
        mappa_category=2,
        mappa_level=2,
        channel="hub",
        necessity={"why": "Housing must assess the proposed address against the plan."},
        schedule1_condition=None,
        restricted_reason=None,
    )
    # The decision the API would record on the header for this share.
    record = hub.policy.decide(share).record()
    return Keys(
        sender.agency.code,
        recipient.code,
        tuple(targets),
        hub.keyring.private(sender_keys.signing).reveal(),
        sender_keys.signing.key_id,
        record,
    )


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, CHUNK):
        yield start, min(CHUNK, total - start)


async def load_packets(
    hub: Hub,
    sender: Actor,
    recipient_id: int,
    cases: list[Case],
    total: int,
    progress: Callable[[str], None],
    sample: int = 2000,
) -> tuple[float, list[str]]:
    """Seal and store ``total`` packets with their log entries.

    Returns the seconds it took and the ids of about ``sample`` of them, picked at random."""
    keys = await packet_keys_for(hub, sender, recipient_id)
    codes = {sender.agency.code: sender.agency.id, keys.recipient_code: recipient_id}
    case_list = [(c.id, c.reference) for c in cases]
    # Packets are spread over the year before now (a year of an area's traffic), so that pages
    # further back are real pages and new sends sort first.
    step = YEAR_SECONDS / max(total, 1)
    base = time.time() - YEAR_SECONDS - 3600
    t0 = time.perf_counter()
    done = 0
    picked: list[str] = []
    pick = random.Random(11)
    chance = min(1.0, sample / max(total, 1))
    workers = max(1, os.cpu_count() or 1)
    async with hub.db.write() as conn:
        seq, prev = await ledger_store.lock_head(conn)
    with ProcessPoolExecutor(workers) as pool:
        futures = [
            pool.submit(_seal_chunk, keys, case_list, start, count, base, step)
            for start, count in _chunks(total)
        ]
        for future in futures:
            sealed = future.result()
            rows: dict[str, list[dict[str, Any]]] = {
                "packets": [],
                "recipients": [],
                "keys": [],
                "parts": [],
                "ledger": [],
            }
            for packet_id, case_id, created, header, signature, wrapped, parts in sealed:
                if pick.random() < chance:
                    picked.append(packet_id)
                rows["packets"].append(
                    {
                        "id": packet_id,
                        "packet_type": "note",
                        "case_id": case_id,
                        "sender_agency_id": sender.agency.id,
                        "sender_user_id": sender.user.id,
                        "purpose": PURPOSE,
                        "lawful_basis": LAWFUL_BASIS,
                        "created_at": created,
                        "header": header,
                        "signature": signature,
                        "signer_key_id": keys.signing_key_id,
                        "reply_to": None,
                        "recipient_ids": recipient_ids_text((recipient_id,)),
                        "manifest": parts.get(fmt.MANIFEST),
                    }
                )
                rows["recipients"].append(
                    {"packet_id": packet_id, "agency_id": recipient_id, "created_at": created}
                )
                for code, key_id, blob in wrapped:
                    rows["keys"].append(
                        {"packet_id": packet_id, "agency_id": codes[code], "key_id": key_id,
                         "sealed": blob}
                    )  # fmt: skip
                for name, data in parts.items():
                    rows["parts"].append({"packet_id": packet_id, "name": name, "data": data})
                seq += 1
                entry = chain(
                    seq,
                    prev,
                    Record(
                        action=Action.DISCLOSURE,
                        event=Event.PACKET_SENT,
                        recorded_at=created,
                        actor_user_id=sender.user.id,
                        actor_agency_id=sender.agency.id,
                        case_id=case_id,
                        packet_id=packet_id,
                        recipients=(recipient_id,),
                        purpose=PURPOSE,
                        lawful_basis=LAWFUL_BASIS,
                        content_digest=sha256_hex(header),
                        policy_version=keys.policy_record.get("policy_version"),
                        decision="permit",
                    ),
                )
                prev = entry.entry_hash
                rows["ledger"].append(entry.columns())
            async with hub.db.write() as conn:
                await conn.execute(insert(packets), rows["packets"])
                await conn.execute(insert(packet_recipients), rows["recipients"])
                await conn.execute(insert(packet_keys), rows["keys"])
                await conn.execute(insert(packet_parts), rows["parts"])
                await conn.execute(insert(ledger_entries), rows["ledger"])
                await conn.execute(
                    update(ledger_head)
                    .where(ledger_head.c.id == 1)
                    .values(seq=seq, entry_hash=prev)
                )
            done += len(sealed)
            if done % (10 * CHUNK) == 0 or done == total:
                elapsed = time.perf_counter() - t0
                progress(f"seeded {done:,}/{total:,} packets ({done / elapsed:,.0f}/s)")
    # Fresh statistics, as after any bulk import (autovacuum would get there later): without
    # them PostgreSQL plans a page of the inbox as if the tables were still empty.
    async with hub.db.write() as conn:
        await conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - t0, picked
