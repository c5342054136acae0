"""What case-transfer bundles read and write: a case's log entries, packet parts one at a time,
pinned peers' keys, and the bundles imported (replay protection and the sender's evidence)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import (
    cases,
    ledger_entries,
    packet_keys,
    packet_parts,
    peers,
    transfer_imports,
)


async def case_entries(conn: AsyncConnection, case_id: int, upto: int) -> list[tuple[int, bytes]]:
    """The case's log entries (seq, bytes) up to ``upto``, oldest first (ix_ledger_entries_case)."""
    stmt = (
        select(ledger_entries.c.seq, ledger_entries.c.entry)
        .where(ledger_entries.c.case_id == case_id, ledger_entries.c.seq <= upto)
        .order_by(ledger_entries.c.seq)
    )
    return [(int(s), bytes(e)) for s, e in (await conn.execute(stmt)).all()]


async def part_names(conn: AsyncConnection, packet_id: str) -> list[str]:
    stmt = select(packet_parts.c.name).where(packet_parts.c.packet_id == packet_id)
    return sorted(str(n) for (n,) in (await conn.execute(stmt)).all())


async def part(conn: AsyncConnection, packet_id: str, name: str) -> bytes:
    """One encrypted part: a case's parts are read one by one, never all at once."""
    stmt = select(packet_parts.c.data).where(
        packet_parts.c.packet_id == packet_id, packet_parts.c.name == name
    )
    return bytes((await conn.execute(stmt)).scalar_one())


async def peer_keys(conn: AsyncConnection) -> dict[bytes, str]:
    """Active pinned peers' signing keys and their names."""
    stmt = select(peers.c.signing_key, peers.c.name).where(peers.c.active.is_(True))
    return {bytes.fromhex(k): str(n) for k, n in (await conn.execute(stmt)).all()}


async def already_imported(conn: AsyncConnection, bundle_id: str, digest: str) -> bool:
    stmt = select(transfer_imports.c.id).where(
        or_(transfer_imports.c.bundle_id == bundle_id, transfer_imports.c.digest == digest)
    )
    return (await conn.execute(stmt.limit(1))).first() is not None


async def imported_digest(conn: AsyncConnection, digest: str) -> bool:
    """Whether a bundle with this signed digest was verified and imported on this hub."""
    stmt = select(transfer_imports.c.id).where(transfer_imports.c.digest == digest)
    return (await conn.execute(stmt.limit(1))).first() is not None


@dataclass(frozen=True)
class ImportRow:
    bundle_id: str
    digest: str
    case_id: int
    from_area: str
    to_area: str
    sender_key: str
    evidence: bytes
    completeness: str
    imported_at: datetime
    # From a peer over HTTP: the uploaded file's SHA-256 and the signed acknowledgement.
    upload_sha256: str | None = None
    ack: bytes | None = None


async def record_import(conn: AsyncConnection, row: ImportRow) -> None:
    await conn.execute(insert(transfer_imports).values(**row.__dict__))


async def import_of(conn: AsyncConnection, bundle_id: str) -> ImportRow | None:
    stmt = select(transfer_imports).where(transfer_imports.c.bundle_id == bundle_id)
    return _import_row((await conn.execute(stmt)).mappings().first())


async def peer_import_since(
    conn: AsyncConnection, *, reference: str, sender_key: str, to_area: str, since: datetime
) -> ImportRow | None:
    """The newest bundle of case ``reference`` for ``to_area`` that the peer holding
    ``sender_key`` uploaded (so acknowledged) since ``since``."""
    stmt = (
        select(transfer_imports)
        .join(cases, cases.c.id == transfer_imports.c.case_id)
        .where(
            cases.c.reference == reference,
            transfer_imports.c.sender_key == sender_key,
            transfer_imports.c.to_area == to_area,
            transfer_imports.c.imported_at >= since,
            transfer_imports.c.ack.is_not(None),
        )
        .order_by(transfer_imports.c.imported_at.desc())
        .limit(1)
    )
    return _import_row((await conn.execute(stmt)).mappings().first())


def _import_row(r: Any) -> ImportRow | None:
    if r is None:
        return None
    values = {k: r[k] for k in ImportRow.__dataclass_fields__}
    values["evidence"] = bytes(values["evidence"])
    values["ack"] = bytes(values["ack"]) if values["ack"] is not None else None
    return ImportRow(**values)


async def ack_for_upload(
    conn: AsyncConnection, upload_sha256: str, sender_key: str
) -> bytes | None:
    """The acknowledgement already given for exactly this file from this sender, if any."""
    stmt = select(transfer_imports.c.ack).where(
        transfer_imports.c.upload_sha256 == upload_sha256,
        transfer_imports.c.sender_key == sender_key,
        transfer_imports.c.ack.is_not(None),
    )
    found = (await conn.execute(stmt.limit(1))).scalar_one_or_none()
    return bytes(found) if found is not None else None


async def add_wrapped_keys(
    conn: AsyncConnection, packet_id: str, keys: list[tuple[int, str, bytes]]
) -> None:
    """More wrapped content keys for a packet already here (a transfer between this hub's areas);
    a key it already has is left as it is."""
    have = {
        str(k)
        for (k,) in (
            await conn.execute(
                select(packet_keys.c.key_id).where(packet_keys.c.packet_id == packet_id)
            )
        ).all()
    }
    new = [
        {"packet_id": packet_id, "agency_id": a, "key_id": k, "sealed": s}
        for a, k, s in keys
        if k not in have
    ]
    if new:
        await conn.execute(insert(packet_keys), new)
