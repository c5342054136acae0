"""Who gets an email notification, and how: people's choices per kind, and the recipients of a cause.

A person with no row for a group has the default (``hub.services.notices.DEFAULTS``). Only active
accounts with an email address are ever returned as recipients.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.hot import HotRead, HotReadIn
from hub.store.notify import PG_NOTIFY_SELECT, Note, notify
from hub.store.schema import agencies, notification_settings, users, work_items
from hub.store.workflows import OPEN, WorkItemRow
from hub.workflows.deadlines import ItemKind


@dataclass(frozen=True)
class Recipient:
    user_id: int
    agency_id: int
    email: str
    # The person's choice for the group asked about; None: the default.
    mode: str | None


async def recipients(
    conn: AsyncConnection,
    group: str,
    *,
    roles: Collection[str],
    agency_ids: Collection[int] = (),
    area_id: int | None = None,
    user_ids: Collection[int] = (),
    announcing: Note | None = None,
) -> list[Recipient]:
    """Active people with an address, of ``roles``, in ``agency_ids`` or in area ``area_id``, and
    the people ``user_ids`` (whatever their role), each with their choice for ``group``.

    ``announcing``: a note (``hub.store.notify``) to send in the caller's write transaction as
    well. Every share's batch sends one with this read; on PostgreSQL it goes in the same
    statement, a round trip fewer."""
    shape = (bool(agency_ids), area_id is not None, bool(user_ids))
    if (
        announcing is not None
        and shape == (True, False, False)
        and conn.dialect.name == "postgresql"
        and len(agency_ids) <= HotReadIn.MAX_ITEMS  # read in one part: the note sent once
    ):
        channel, payload = announcing
        rows = await _by_agency(tuple(roles), announcing=True).all_in_transaction(
            conn, sorted(agency_ids), {"group": group, "channel": channel, "payload": payload}
        )
        return _as_recipients(rows)
    if announcing is not None:
        await notify(conn, *announcing)
    if not any(shape):
        return []
    if shape == (True, False, False):  # every share's batch: on the driver (hub.store.hot)
        return _as_recipients(
            await _by_agency(tuple(roles)).all(conn, sorted(agency_ids), {"group": group})
        )
    params: dict[str, object] = {"group": group, "roles": list(roles)}
    if agency_ids:
        params["agencies"] = list(agency_ids)
    if area_id is not None:
        params["area"] = area_id
    if user_ids:
        params["users"] = list(user_ids)
    return [
        Recipient(int(r.id), int(r.agency_id), str(r.email), r.mode)
        for r in (await conn.execute(_recipients_statement(*shape), params)).all()
    ]


@cache
def _recipients_statement(by_agency: bool, by_area: bool, by_user: bool) -> Select[Any]:
    """The recipients query for one combination of causes, built once: every share's batch asks
    it, and building a statement cost SQLAlchemy more than the database's answer."""
    of_role = users.c.role.in_(bindparam("roles", expanding=True))
    wanted = []
    if by_agency:
        wanted.append(and_(users.c.agency_id.in_(bindparam("agencies", expanding=True)), of_role))
    if by_area:
        in_area = select(agencies.c.id).where(agencies.c.area_id == bindparam("area"))
        wanted.append(and_(users.c.agency_id.in_(in_area), of_role))
    if by_user:
        wanted.append(users.c.id.in_(bindparam("users", expanding=True)))
    return _recipients_select(or_(*wanted))


def _as_recipients(rows: list[tuple[Any, ...]]) -> list[Recipient]:
    return sorted(
        (Recipient(int(r[0]), int(r[1]), str(r[2]), r[3]) for r in rows if r[0] is not None),
        key=lambda r: r.user_id,  # one order, however many parts the ids were read in
    )


def announcing_read(
    group: str, *, roles: Collection[str], agency_ids: Collection[int], announcing: Note
) -> tuple[HotRead, dict[str, Any]] | None:
    """PostgreSQL: ``recipients`` by agency with its note, as a read for the caller to run inside
    a statement of its own (a share batch's packets' statement: ``HotInserts``'s ``then_read``),
    with its values; its rows go to ``recipients_of``. None where it cannot be one part (more
    agencies than ``HotReadIn.MAX_ITEMS``): the caller then asks ``recipients``."""
    if not agency_ids or len(agency_ids) > HotReadIn.MAX_ITEMS:
        return None
    channel, payload = announcing
    return _by_agency(tuple(roles), announcing=True).one_part(
        sorted(agency_ids), {"group": group, "channel": channel, "payload": payload}
    )


def recipients_of(rows: list[tuple[Any, ...]]) -> list[Recipient]:
    """The people in the rows of ``announcing_read``."""
    return _as_recipients(rows)


@cache
def _by_agency(roles: tuple[str, ...], *, announcing: bool = False) -> HotReadIn:
    """The recipients query for people of ``roles`` in a list of agencies, one placeholder an
    agency and the roles as values: the statement compiled once per number of agencies."""
    of_role = users.c.role.in_([bindparam(f"role_{i}", role) for i, role in enumerate(roles)])
    return HotReadIn(
        lambda ids: _recipients_select(
            and_(users.c.agency_id.in_(ids), of_role), announcing=announcing
        )
    )


def _recipients_select(wanted: ColumnElement[bool], *, announcing: bool = False) -> Select[Any]:
    setting = and_(
        notification_settings.c.user_id == users.c.id,
        notification_settings.c.event == bindparam("group"),
    )
    people = users.outerjoin(notification_settings, setting)
    chosen = and_(users.c.active.is_(True), users.c.email.is_not(None), wanted)
    columns = (users.c.id, users.c.agency_id, users.c.email, notification_settings.c.mode)
    if not announcing:
        return select(*columns).select_from(people).where(chosen).order_by(users.c.id)
    # PostgreSQL: a one-row subquery sends the note, and the people are joined to it, so the
    # note goes whoever is found (no one: one row of NULLs). Its column is selected too: a
    # subquery's volatile output is never left out, and this says so.
    note = PG_NOTIFY_SELECT.subquery("note")
    return (
        select(*columns, note.c.sent)
        .select_from(note.outerjoin(people, chosen))
        .order_by(users.c.id)
    )


async def modes(conn: AsyncConnection, user_id: int) -> dict[str, str]:
    """A person's stored choices, group -> mode (groups left at the default are absent)."""
    stmt = select(notification_settings.c.event, notification_settings.c.mode).where(
        notification_settings.c.user_id == user_id
    )
    return {str(e): str(m) for e, m in (await conn.execute(stmt)).all()}


async def save(
    conn: AsyncConnection, user_id: int, choices: Mapping[str, str], when: datetime
) -> None:
    """Store a person's choices (insert or replace, one row per group)."""
    ins = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        notification_settings
    )
    for group, mode in choices.items():
        stmt = ins.values(user_id=user_id, event=group, mode=mode, updated_at=when)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["user_id", "event"],
                set_={"mode": stmt.excluded.mode, "updated_at": stmt.excluded.updated_at},
            )
        )


async def requests_due_between(conn: AsyncConnection, first: date, last: date) -> list[WorkItemRow]:
    """Open request items due from ``first`` to ``last`` (for the due-soon sweep)."""
    stmt = (
        select(work_items)
        .where(
            work_items.c.status == OPEN,
            work_items.c.kind == ItemKind.REQUEST.value,
            work_items.c.due_on >= first,
            work_items.c.due_on <= last,
        )
        .order_by(work_items.c.id)
    )
    return [WorkItemRow(**dict(r)) for r in (await conn.execute(stmt)).mappings()]
