"""ViSOR-style nominal records: one sealed row per case, and the case-row identifiers an import
sets. Nothing here decrypts; the service seals and opens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import case_events as event_store
from hub.store.schema import cases, visor_records


@dataclass(frozen=True)
class VisorRow:
    case_id: int
    version: int
    sealed: bytes
    size: int
    signer_agency_id: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CaseIdentity:
    """The case-row fields a nominal record carries, kept in clear as the case row keeps them."""

    family_name: str
    given_names: str
    date_of_birth: date | None
    pnc_ref: str | None
    visor_ref: str | None
    ndelius_crn: str | None
    category: int
    level: int
    lead_agency_id: int


async def record_of(conn: AsyncConnection, case_id: int) -> VisorRow | None:
    row = (
        (await conn.execute(select(visor_records).where(visor_records.c.case_id == case_id)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return VisorRow(**{name: row[name] for name in VisorRow.__dataclass_fields__})


async def cases_with_records(conn: AsyncConnection, case_ids: list[int]) -> set[int]:
    if not case_ids:
        return set()
    found = await conn.execute(
        select(visor_records.c.case_id).where(visor_records.c.case_id.in_(case_ids))
    )
    return {int(r[0]) for r in found}


async def insert_record(conn: AsyncConnection, row: VisorRow) -> None:
    await conn.execute(
        insert(visor_records).values(
            {name: getattr(row, name) for name in VisorRow.__dataclass_fields__}
        )
    )


async def replace_record(conn: AsyncConnection, row: VisorRow, expected_version: int) -> bool:
    """Overwrite the record if it is still at ``expected_version`` (no lost update)."""
    result = await conn.execute(
        update(visor_records)
        .where(
            visor_records.c.case_id == row.case_id,
            visor_records.c.version == expected_version,
        )
        .values(
            version=row.version,
            sealed=row.sealed,
            size=row.size,
            signer_agency_id=row.signer_agency_id,
            updated_at=row.updated_at,
        )
    )
    return result.rowcount == 1


async def set_identity(
    conn: AsyncConnection, case_id: int, identity: CaseIdentity, when: datetime
) -> None:
    await conn.execute(
        update(cases)
        .where(cases.c.id == case_id)
        .values(
            family_name=identity.family_name,
            given_names=identity.given_names,
            date_of_birth=identity.date_of_birth,
            pnc_ref=identity.pnc_ref,
            visor_ref=identity.visor_ref,
            ndelius_crn=identity.ndelius_crn,
            category=identity.category,
            level=identity.level,
            lead_agency_id=identity.lead_agency_id,
        )
    )
    await event_store.sync_grading(conn, case_id, when)


async def identifier_owners(
    conn: AsyncConnection, pnc_ref: str | None, visor_ref: str | None, ndelius_crn: str | None
) -> list[tuple[str, str, str]]:
    """(field, value, case reference) for each live case already holding one of these ids."""
    wanted = [
        (name, column, value)
        for name, column, value in (
            ("pnc_ref", cases.c.pnc_ref, pnc_ref),
            ("visor_ref", cases.c.visor_ref, visor_ref),
            ("ndelius_crn", cases.c.ndelius_crn, ndelius_crn),
        )
        if value
    ]
    if not wanted:
        return []
    rows = await conn.execute(
        select(cases.c.reference, cases.c.pnc_ref, cases.c.visor_ref, cases.c.ndelius_crn).where(
            cases.c.merged_into_id.is_(None), or_(*(col == value for _, col, value in wanted))
        )
    )
    out = []
    for row in rows.mappings():
        for name, _, value in wanted:
            if row[name] == value:
                out.append((name, value, str(row["reference"])))
    return out
