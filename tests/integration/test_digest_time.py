"""The daily digest goes after ``MAPPA_HUB_DIGEST_TIME`` (UK time), from serve's background
sweep: before it no digest, after it one, and one only that day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.cli.background import sweep
from hub.clock import ManualClock
from hub.config import Config
from hub.services import notices
from hub.store.schema import email_outbox
from hub.wiring import Hub, initialise
from hub.workflows.deadlines import LOCAL_TIME
from tests.conftest import actor_for, make_config
from tests.integration.test_notices import _note

ADDRESS = "aisha.khan@housing.derby.example"


@pytest.fixture
def config(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    # Read from the environment as serve reads it, then wired into the notice service.
    monkeypatch.setenv("MAPPA_HUB_DIGEST_TIME", "09:30")
    return make_config(tmp_path / "data", database_url)


@pytest.fixture
async def hub(config: Config, clock: ManualClock) -> AsyncIterator[Hub]:
    await initialise(config)
    opened = await Hub.open(config, clock)
    try:
        yield opened
    finally:
        await opened.close()


async def _outbox(hub: Hub, **where: Any) -> list[dict[str, Any]]:
    stmt = select(email_outbox).order_by(email_outbox.c.id)
    for column, value in where.items():
        stmt = stmt.where(email_outbox.c[column] == value)
    async with hub.db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


def _local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL_TIME)


async def test_before_the_time_no_digest_after_it_one(
    hub: Hub, logins: object, clock: ManualClock
) -> None:
    assert hub.config.email.digest_time == time(9, 30)
    # UK time, summer and winter alike: 08:45 UTC in June is 09:45 in London.
    clock.set(_local(2027, 6, 1, 9, 15))
    assert not hub.notices.digest_due()
    clock.set(_local(2027, 6, 1, 9, 45))
    assert hub.notices.digest_due()

    clock.set(_local(2026, 11, 24, 9, 0))
    housing = await actor_for(hub, "dby.housing")
    await hub.notices.set_email("dby.housing", ADDRESS)
    await hub.notices.save_settings(housing, {g.value: notices.DIGEST for g in notices.Group})
    police = await actor_for(hub, "dby.police")
    sent = [await hub.packets.send(police, await _note(hub)) for _ in range(2)]
    waiting = [r for s in sent for r in await _outbox(hub, ref=s.id)]
    assert [r["status"] for r in waiting] == ["digest", "digest"]

    clock.set(_local(2026, 11, 24, 9, 29))
    await sweep(hub)
    assert await _outbox(hub, kind="digest") == []
    assert {r["status"] for s in sent for r in await _outbox(hub, ref=s.id)} == {"digest"}

    clock.advance(timedelta(minutes=2))  # 09:31
    await sweep(hub)
    [digest] = await _outbox(hub, kind="digest")
    assert (digest["to_address"], digest["user_id"]) == (ADDRESS, housing.user.id)
    assert digest["dedupe_key"].endswith(":2026-11-24")
    folded = [r for s in sent for r in await _outbox(hub, ref=s.id)]
    assert {(r["status"], r["digest_id"]) for r in folded} == {("folded", digest["id"])}

    # Later the same day, and with a new notice waiting: still the one digest.
    await hub.packets.send(police, await _note(hub))
    clock.set(_local(2026, 11, 24, 18, 0))
    await sweep(hub)
    assert [r["id"] for r in await _outbox(hub, kind="digest")] == [digest["id"]]
