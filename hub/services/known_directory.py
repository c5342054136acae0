"""Agencies and areas, kept in memory once read.

The hub adds agencies and areas but never renames, retypes, moves or removes one (no statement
updates or deletes either table), so a row once read stays true for the life of the process. A
share names its sender's and recipients' agencies and their areas: read from here they cost a
dictionary lookup instead of a query (an ``IN`` list costs SQLAlchemy more than SQLite takes to
answer it). Ids not yet seen are read in the caller's transaction and kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model.directory import Agency, Area
from hub.store import directory as directory_store

T = TypeVar("T")


async def _known(
    kept: dict[int, T],
    ids: Iterable[int],
    read: Callable[[Sequence[int]], Awaitable[dict[int, T]]],
) -> dict[int, T]:
    """Those of ``ids`` that exist, by id: from ``kept``, reading (and keeping) the rest."""
    wanted = tuple(ids)
    missing = [i for i in wanted if i not in kept]
    if missing:
        kept.update(await read(missing))
    return {i: kept[i] for i in wanted if i in kept}


class KnownDirectory:
    def __init__(self) -> None:
        self._agencies: dict[int, Agency] = {}
        self._areas: dict[int, Area] = {}

    async def agencies(self, conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Agency]:
        """The agencies of ``ids`` that exist, by id."""
        return await _known(
            self._agencies, ids, lambda missing: directory_store.agencies_by_ids(conn, missing)
        )

    async def areas(self, conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Area]:
        """The areas of ``ids`` that exist, by id."""
        return await _known(
            self._areas, ids, lambda missing: directory_store.areas_by_ids(conn, missing)
        )
