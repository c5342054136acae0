"""Areas, agencies and users."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model.directory import Agency, AgencyType, Area, Jurisdiction, Role, User
from hub.store.schema import agencies, api_tokens, areas, users


def _area(row: RowMapping) -> Area:
    return Area(row["id"], row["code"], row["name"], Jurisdiction(row["jurisdiction"]))


# Built once: these run on every API call (the caller) and every share (its recipients).
_AGENCIES_BY_IDS = select(agencies).where(agencies.c.id.in_(bindparam("ids", expanding=True)))
_AGENCY_BY_ID = select(agencies).where(agencies.c.id == bindparam("id"))
_USER_BY_ID = select(users).where(users.c.id == bindparam("id"))


def _agency(row: RowMapping) -> Agency:
    return Agency(row["id"], row["code"], row["name"], AgencyType(row["type"]), row["area_id"])


def _user(row: RowMapping) -> User:
    return User(
        row["id"],
        row["username"],
        row["display_name"],
        row["agency_id"],
        Role(row["role"]),
        bool(row["active"]),
        row["email"],
    )


async def add_area(conn: AsyncConnection, code: str, name: str, jurisdiction: Jurisdiction) -> Area:
    result = await conn.execute(
        insert(areas).values(code=code, name=name, jurisdiction=jurisdiction.value).returning(areas)
    )
    return _area(result.mappings().one())


_AREAS = select(areas).order_by(areas.c.code)
_AREAS_BY_IDS = select(areas).where(areas.c.id.in_(bindparam("ids", expanding=True)))


async def list_areas(conn: AsyncConnection) -> list[Area]:
    result = await conn.execute(_AREAS)
    return [_area(r) for r in result.mappings()]


async def areas_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Area]:
    """The areas named (every share reads its parties' areas)."""
    result = await conn.execute(_AREAS_BY_IDS, {"ids": sorted(set(ids))})
    return {r["id"]: _area(r) for r in result.mappings()}


async def area_by_id(conn: AsyncConnection, area_id: int) -> Area | None:
    return next((a for a in await list_areas(conn) if a.id == area_id), None)


async def area_by_code(conn: AsyncConnection, code: str) -> Area | None:
    row = (await conn.execute(select(areas).where(areas.c.code == code))).mappings().first()
    return _area(row) if row else None


async def add_agency(
    conn: AsyncConnection, code: str, name: str, type_: AgencyType, area_id: int
) -> Agency:
    result = await conn.execute(
        insert(agencies)
        .values(code=code, name=name, type=type_.value, area_id=area_id)
        .returning(agencies)
    )
    return _agency(result.mappings().one())


async def list_agencies(conn: AsyncConnection) -> list[Agency]:
    result = await conn.execute(select(agencies).order_by(agencies.c.area_id, agencies.c.name))
    return [_agency(r) for r in result.mappings()]


async def agencies_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Agency]:
    if not ids:
        return {}
    result = await conn.execute(_AGENCIES_BY_IDS, {"ids": list(ids)})
    return {r["id"]: _agency(r) for r in result.mappings()}


async def agency_by_id(conn: AsyncConnection, agency_id: int) -> Agency | None:
    row = (await conn.execute(_AGENCY_BY_ID, {"id": agency_id})).mappings().first()
    return _agency(row) if row else None


async def agency_by_code(conn: AsyncConnection, code: str) -> Agency | None:
    row = (await conn.execute(select(agencies).where(agencies.c.code == code))).mappings().first()
    return _agency(row) if row else None


async def agencies_by_codes(conn: AsyncConnection, codes: set[str]) -> list[Agency]:
    if not codes:
        return []
    result = await conn.execute(select(agencies).where(agencies.c.code.in_(sorted(codes))))
    return [_agency(r) for r in result.mappings()]


async def add_user(
    conn: AsyncConnection,
    *,
    username: str,
    display_name: str,
    agency_id: int,
    role: Role,
    password_hash: str,
    totp_secret_wrapped: bytes,
    created_at: datetime,
) -> User:
    result = await conn.execute(
        insert(users)
        .values(
            username=username,
            display_name=display_name,
            agency_id=agency_id,
            role=role.value,
            password_hash=password_hash,
            totp_secret_wrapped=totp_secret_wrapped,
            totp_last_step=0,
            failed_logins=0,
            active=True,
            created_at=created_at,
        )
        .returning(users)
    )
    return _user(result.mappings().one())


async def list_users(conn: AsyncConnection) -> list[User]:
    result = await conn.execute(select(users).order_by(users.c.agency_id, users.c.username))
    return [_user(r) for r in result.mappings()]


async def user_by_id(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(_USER_BY_ID, {"id": user_id})).mappings().first()
    return _user(row) if row else None


async def users_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, User]:
    if not ids:
        return {}
    result = await conn.execute(select(users).where(users.c.id.in_(list(ids))))
    return {r["id"]: _user(r) for r in result.mappings()}


async def credentials_by_username(conn: AsyncConnection, username: str) -> RowMapping | None:
    """The user row including secrets; only the auth service calls this."""
    return (
        (await conn.execute(select(users).where(users.c.username == username))).mappings().first()
    )


async def credentials_by_id(conn: AsyncConnection, user_id: int) -> RowMapping | None:
    return (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()


async def update_user(conn: AsyncConnection, user_id: int, **values: Any) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(**values))


async def set_email(conn: AsyncConnection, username: str, email: str | None) -> User | None:
    """Set (or with None clear) where a person's notifications go; None if no such user."""
    result = await conn.execute(
        update(users).where(users.c.username == username).values(email=email).returning(users)
    )
    row = result.mappings().first()
    return _user(row) if row else None


async def claim_totp_step(conn: AsyncConnection, user_id: int, step: int) -> bool:
    """Record ``step`` as used, only if it is newer than the last: a code works once, even in a race."""
    result = await conn.execute(
        update(users)
        .where(users.c.id == user_id, users.c.totp_last_step < step)
        .values(totp_last_step=step, failed_logins=0, locked_until=None)
    )
    return bool(result.rowcount == 1)


async def count_failure(conn: AsyncConnection, user_id: int) -> int:
    """Add one failed sign-in and return the new count."""
    result = await conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(failed_logins=users.c.failed_logins + 1)
        .returning(users.c.failed_logins)
    )
    return int(result.scalar_one())


async def people_of_agency(conn: AsyncConnection, agency_id: int) -> list[RowMapping]:
    """The people of an agency with their sign-in state, without secrets: not the system
    accounts behind API tokens (nobody signs in as those)."""
    is_system = select(api_tokens.c.id).where(api_tokens.c.user_id == users.c.id).exists()
    result = await conn.execute(
        select(
            users.c.id,
            users.c.username,
            users.c.display_name,
            users.c.agency_id,
            users.c.role,
            users.c.active,
            users.c.email,
            users.c.password_changed_at,
            users.c.totp_enrol_by,
        )
        .where(users.c.agency_id == agency_id, ~is_system)
        .order_by(users.c.display_name, users.c.username)
    )
    return list(result.mappings())


async def user_by_username(conn: AsyncConnection, username: str) -> User | None:
    row = (await conn.execute(select(users).where(users.c.username == username))).mappings().first()
    return _user(row) if row else None


async def is_system_account(conn: AsyncConnection, user_id: int) -> bool:
    found = await conn.execute(select(api_tokens.c.id).where(api_tokens.c.user_id == user_id))
    return found.first() is not None


async def set_second_factor(
    conn: AsyncConnection, user_id: int, wrapped: bytes, enrol_by: datetime | None
) -> None:
    """A new TOTP secret: the old one stops working at once, and any code of it ever used.
    ``enrol_by``: the person confirms the new one at their next sign-in, before then."""
    await conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(totp_secret_wrapped=wrapped, totp_last_step=0, totp_enrol_by=enrol_by)
    )
