"""MAPPA cases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, func, insert, literal_column, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model.cases import Case, MappaCategory, MappaLevel
from hub.store import case_events as event_store
from hub.store.hot import HotRead, HotReadIn
from hub.store.schema import case_agencies, cases

# Built once, read on the driver (hub.store.hot): on every share's and every listing's path.
_CASE_BY_ID = HotRead(select(cases).where(cases.c.id == bindparam("id")))
# Case references for a packet's summary, or a page of held shares, notifications or e-mails
# (on the driver: hub.store.hot); a listing page joins them itself (hub.store.box_pages).
_REFERENCES = HotReadIn(
    lambda ids: select(cases.c.id, cases.c.reference).where(cases.c.id.in_(ids))
)


def _case(row: Mapping[str, Any] | RowMapping) -> Case:
    return Case(
        id=row["id"],
        reference=row["reference"],
        family_name=row["family_name"],
        given_names=row["given_names"],
        date_of_birth=row["date_of_birth"],
        visor_ref=row["visor_ref"],
        pnc_ref=row["pnc_ref"],
        ndelius_crn=row["ndelius_crn"],
        category=MappaCategory(row["category"]),
        level=MappaLevel(row["level"]),
        lead_agency_id=row["lead_agency_id"],
        area_id=row["area_id"],
        created_at=row["created_at"],
        merged_into_id=row["merged_into_id"],
    )


async def add_case(
    conn: AsyncConnection,
    *,
    reference: str,
    family_name: str,
    given_names: str,
    date_of_birth: date | None,
    visor_ref: str | None,
    pnc_ref: str | None,
    ndelius_crn: str | None,
    category: MappaCategory,
    level: MappaLevel,
    lead_agency_id: int,
    area_id: int,
    created_at: datetime,
) -> Case:
    result = await conn.execute(
        insert(cases)
        .values(
            reference=reference,
            family_name=family_name,
            given_names=given_names,
            date_of_birth=date_of_birth,
            visor_ref=visor_ref,
            pnc_ref=pnc_ref,
            ndelius_crn=ndelius_crn,
            category=int(category),
            level=int(level),
            lead_agency_id=lead_agency_id,
            area_id=area_id,
            created_at=created_at,
        )
        .returning(cases)
    )
    case = _case(result.mappings().one())
    await event_store.sync_grading(conn, case.id, created_at)
    return case


# The separator in the text: a bound one would be post-compiled, which ``HotRead`` does not do.
_COMMA: Any = literal_column("','")
_ACTIVE_AGENCY_IDS = (
    select(func.aggregate_strings(cast(case_agencies.c.agency_id, String), _COMMA))
    .where(case_agencies.c.case_id == cases.c.id)
    .scalar_subquery()
    .label("active_agency_ids")
)
# A case by "id" with the agencies active on it, in one statement: what every share reads first
# (through the API, with its token's read, in one round trip on PostgreSQL: hub.web.api.first_read).
CASE_WITH_AGENCIES = HotRead(
    select(*cases.columns, _ACTIVE_AGENCY_IDS).where(cases.c.id == bindparam("id"))
)


async def case_with_agencies(conn: AsyncConnection, case_id: int) -> tuple[Case, set[int]] | None:
    """A case and the ids of the agencies active on it (``case_agencies``), or None."""
    return case_with_agencies_of(await CASE_WITH_AGENCIES.first(conn, {"id": case_id}))


def case_with_agencies_of(row: Mapping[str, Any] | None) -> tuple[Case, set[int]] | None:
    """``case_with_agencies`` from a row of ``CASE_WITH_AGENCIES`` read elsewhere (None: none)."""
    if row is None:
        return None
    active = row["active_agency_ids"]
    return _case(row), {int(i) for i in active.split(",")} if active else set()


async def case_by_id(conn: AsyncConnection, case_id: int) -> Case | None:
    row = await _CASE_BY_ID.first(conn, {"id": case_id})
    return _case(row) if row else None


async def references_by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, str]:
    """Case references for a page of packets, in one query."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {int(i): str(r) for i, r in await _REFERENCES.all(conn, wanted)}


async def case_by_reference(conn: AsyncConnection, reference: str) -> Case | None:
    stmt = select(cases).where(cases.c.reference == reference)
    row = (await conn.execute(stmt)).mappings().first()
    return _case(row) if row else None


async def list_cases(conn: AsyncConnection, area_id: int | None = None) -> list[Case]:
    stmt = select(cases).where(cases.c.merged_into_id.is_(None)).order_by(cases.c.reference)
    if area_id is not None:
        stmt = stmt.where(cases.c.area_id == area_id)
    return [_case(r) for r in (await conn.execute(stmt)).mappings()]


async def count_cases_in_area(conn: AsyncConnection, area_id: int) -> int:
    stmt = select(func.count()).select_from(cases).where(cases.c.area_id == area_id)
    return int((await conn.execute(stmt)).scalar_one())


async def set_level(
    conn: AsyncConnection,
    case_id: int,
    level: MappaLevel,
    category: MappaCategory,
    when: datetime,
) -> None:
    await conn.execute(
        update(cases).where(cases.c.id == case_id).values(level=int(level), category=int(category))
    )
    await event_store.sync_grading(conn, case_id, when)


async def mark_merged(conn: AsyncConnection, duplicate_id: int, keep_id: int) -> None:
    await conn.execute(
        update(cases).where(cases.c.id == duplicate_id).values(merged_into_id=keep_id)
    )
