"""The statistics through the JSON API: a coordinator's system reads its area's annual report
tables and the board's indicators, published or not; bad periods are 400s in words; a token
without the scope, or limited to some cases, reads nothing; a practitioner's system cannot be
given the scope; each report is on the log with the token that asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.client import ApiError
from hub.errors import InvalidInput
from hub.ledger.entries import Event
from hub.model.directory import Role
from hub.store.schema import ledger_entries
from tests.api.conftest import Api


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """SQLite only: the service tests count on PostgreSQL too."""
    yield f"sqlite:///{tmp_path / 'data' / 'hub.sqlite3'}"


async def _refused(client: object, path: str) -> int:
    try:
        await client.request("GET", path)  # type: ignore[attr-defined]
    except ApiError as exc:
        return exc.status
    raise AssertionError(f"{path} answered")


async def test_a_coordinators_system_reads_the_areas_statistics(api: Api) -> None:
    token = await api.token("DBY-POLICE", ["statistics:read"], role=Role.COORDINATOR)
    client = await api.client(token)
    period = "from=2025-12-01&to=2026-11-30"
    annual = await client._json("GET", f"/api/v1/statistics/annual-report?{period}")
    assert (annual["area"], annual["first_day"], annual["last_day"]) == (
        "DBY", "2025-12-01", "2026-11-30",
    )  # fmt: skip
    figures = {f["key"]: f for f in annual["figures"]}
    assert figures["rso_on_last_day"]["value"] == 2  # the demo's two RSOs in Derbyshire
    assert annual["population"]["year"] == 2021 and annual["suppression"] is None
    board = await client._json("GET", f"/api/v1/statistics/indicators?{period}")
    assert len(board["indicators"]) == 8
    assert board["quarters"] == ["Oct-Dec 2025", "Jan-Mar 2026", "Apr-Jun 2026",
                                 "Jul-Sep 2026", "Oct-Dec 2026"]  # fmt: skip
    published = await client._json(
        "GET", f"/api/v1/statistics/annual-report?{period}&published=true"
    )
    shown = {f["key"]: f for f in published["figures"]}
    assert shown["rso_on_last_day"] == {**figures["rso_on_last_day"], "value": None,
                                        "suppressed": True}  # fmt: skip
    assert published["suppression"]["below"] == 5
    # Bad periods, in words.
    for query, field in (("from=soon", "from"), ("to=2026-02-30", "to"),
                         ("published=yes", "published"), (f"{period[18:]}&from=2027-01-01", "to")):  # fmt: skip
        try:
            await client.request("GET", f"/api/v1/statistics/indicators?{query}")
            raise AssertionError(query)
        except ApiError as exc:
            assert exc.status == 400, query
            assert field in str(exc.problem), (query, exc.problem)
    # Each report is on the log, naming the token.
    async with api.hub.db.read() as conn:
        rows = (await conn.execute(select(ledger_entries.c.actor_token_id, ledger_entries.c.purpose)
                .where(ledger_entries.c.event == Event.STATS_PRODUCED.value))).all()  # fmt: skip
    assert {r[1] for r in rows} == {"mappa-annual-report", "smb-indicators"}
    assert len(rows) == 3 and all(r[0] is not None for r in rows)


async def test_tokens_that_may_not_read_statistics(api: Api) -> None:
    hub = api.hub
    without = await api.client(await api.token("DBY-POLICE", ["cases:read"], role=Role.COORDINATOR))
    assert await _refused(without, "/api/v1/statistics/indicators") == 403
    limited = await api.token("DBY-POLICE", ["statistics:read"], role=Role.COORDINATOR,
                              cases=[next(iter(await hub.cases.visible_to(None))).reference])  # fmt: skip
    assert await _refused(await api.client(limited), "/api/v1/statistics/annual-report") == 403
    with pytest.raises(InvalidInput, match="coordinator's system"):
        await api.token("DBY-POLICE", ["statistics:read"])  # a practitioner's system
