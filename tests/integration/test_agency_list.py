"""The directory's short-lived list of agencies, which every API call reads: requests that find it
due at the same moment wait for one read of it, and a refresh still finds an agency added since.
On a real SQLite file and on real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.model.directory import AgencyType, Jurisdiction
from hub.services import directory as directory_service
from hub.store import directory as directory_store
from hub.wiring import Hub


@pytest.fixture
def list_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each read of the agency list from the database, counted (the store's own read runs)."""
    reads: list[int] = []
    read = directory_store.list_agencies

    async def counted(conn: Any) -> Any:
        reads.append(1)
        return await read(conn)

    monkeypatch.setattr(directory_store, "list_agencies", counted)
    return reads


async def _an_area(hub: Hub) -> None:
    await hub.directory.add_area("NOR", "Northshire", Jurisdiction.ENGLAND_AND_WALES)
    await hub.directory.add_agency("NOR-POLICE", "Northshire Police", AgencyType.POLICE, "NOR")


async def test_requests_that_find_the_list_due_together_wait_for_one_read(
    hub: Hub, list_reads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    await _an_area(hub)
    monkeypatch.setattr(directory_service, "AGENCY_LIST_TTL", 0.2)
    first = await hub.directory.agencies()
    assert [a.code for a in first] == ["NOR-POLICE"]
    assert len(list_reads) == 1
    # Within the TTL no request reads it.
    await asyncio.gather(*(hub.directory.agencies() for _ in range(20)))
    assert len(list_reads) == 1
    # Due: forty requests at once, as under load, make one read between them, and all get it.
    await asyncio.sleep(0.25)
    lists = await asyncio.gather(*(hub.directory.agencies() for _ in range(40)))
    assert len(list_reads) == 2
    assert all([a.code for a in got] == ["NOR-POLICE"] for got in lists)
    # Each caller has a list of its own: changing one changes no other, nor the kept one.
    lists[0].clear()
    assert [a.code for a in await hub.directory.agencies()] == ["NOR-POLICE"]


async def test_a_refresh_finds_an_agency_added_after_the_list_was_read(
    hub: Hub, list_reads: list[int]
) -> None:
    await _an_area(hub)
    assert [a.code for a in await hub.directory.agencies()] == ["NOR-POLICE"]
    # An agency is added (through any gateway process: the kept list does not know of it).
    await hub.directory.add_agency("NOR-HOUSING", "Northshire Housing", AgencyType.HOUSING, "NOR")
    reads = len(list_reads)
    # A request that does not find a code asks for the list afresh, and gets one whose read
    # began after it asked. Ten at once make two reads at most: the first asker's, and one
    # begun after the others asked (the first may have begun before they did).
    refreshed = await asyncio.gather(*(hub.directory.agencies(refresh=True) for _ in range(10)))
    assert all({a.code for a in got} == {"NOR-POLICE", "NOR-HOUSING"} for got in refreshed)
    assert len(list_reads) - reads in (1, 2)
    reads = len(list_reads)
    # A refresh asked after that read reads again: it may be looking for a newer agency still.
    await hub.directory.agencies(refresh=True)
    assert len(list_reads) == reads + 1


async def test_the_index_of_codes_and_ids_comes_with_each_read_of_the_list(
    hub: Hub, list_reads: list[int]
) -> None:
    await _an_area(hub)
    police = (await hub.directory.agencies())[0]
    index = await hub.directory.agency_index()
    # Built with the list's read, not by the caller: asking again reads nothing and builds nothing.
    assert await hub.directory.agency_index() is index
    assert len(list_reads) == 1
    assert dict(index.codes) == {police.id: "NOR-POLICE"}
    assert dict(index.ids) == {"NOR-POLICE": police.id}
    assert index.knows(police.id) and index.knows("NOR-POLICE")
    assert not index.knows("NOR-HOUSING") and not index.knows(police.id + 1)
    with pytest.raises(TypeError):  # shared by every request: nobody may change it
        index.codes[police.id + 1] = "NOR-HOUSING"  # type: ignore[index]
    housing = await hub.directory.add_agency(
        "NOR-HOUSING", "Northshire Housing", AgencyType.HOUSING, "NOR"
    )
    fresh = await hub.directory.agency_index(refresh=True)
    assert fresh.ids["NOR-HOUSING"] == housing.id and fresh.codes[housing.id] == "NOR-HOUSING"
    assert {a.code for a in await hub.directory.agencies()} == {"NOR-POLICE", "NOR-HOUSING"}
    assert len(list_reads) == 2
