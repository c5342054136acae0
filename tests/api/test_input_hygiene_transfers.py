"""Input hygiene on the transfer API (``hub.text``): a code holds no hidden characters; a reason
keeps them (shown visibly where displayed) but never a NUL. Every refusal writes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.model.directory import Role
from hub.store.schema import transfers
from tests.api.conftest import Api
from tests.api.test_sealed import _state
from tests.conftest import actor_for

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
HIDDEN = {"right-to-left override": "\u202e", "line separator": "\u2028"}


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    yield f"sqlite:///{tmp_path / 'data' / 'hub.sqlite3'}"


async def _proposal(api: Api, **changes: Any) -> dict[str, Any]:
    hub = api.hub
    case = next(c for c in await hub.cases.visible_to(None) if c.family_name == "Harlow")
    await hub.casework.record_meeting(
        await actor_for(hub, "dby.coordinator"), case.id, api.clock.now().date(), 2
    )
    body: dict[str, Any] = {
        "case_id": case.id,
        "reason": "Moving to Mansfield.",
        "proposed_date": "2026-12-01",
        "receiving_area": "NTS",
    }
    body.update(changes)
    return body


async def _transfer_rows(api: Api) -> int:
    async with api.hub.db.read() as conn:
        return len((await conn.execute(transfers.select())).all())


async def _token(api: Api) -> str:
    return await api.token(
        "DBY-POLICE", ["transfers:read", "transfers:write"], role=Role.COORDINATOR
    )


async def _post_as(
    api: Api, token: str, path: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            api.url.rstrip("/") + path,
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "On-Behalf-Of": "dby.coordinator",
            },
        ) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize(("name", "char"), HIDDEN.items(), ids=HIDDEN.keys())
async def test_a_receiving_area_with_a_hidden_character_is_refused(
    api: Api, name: str, char: str
) -> None:
    body, token = await _proposal(api, receiving_area=f"NT{char}S"), await _token(api)
    before, rows = await _state(api), await _transfer_rows(api)
    status, problem = await _post_as(api, token, "/api/v1/transfers", body)
    assert status == 400, problem
    assert problem["field"] == "receiving_area", problem
    assert f"{name} (U+{ord(char):04X})" in problem["detail"], problem
    assert "must not include hidden characters" in problem["detail"], problem
    assert (await _state(api), await _transfer_rows(api)) == (before, rows)


async def test_a_reason_keeps_hidden_characters_but_not_a_nul(api: Api) -> None:
    body, token = await _proposal(api, reason="Moving\x00 away."), await _token(api)
    before, rows = await _state(api), await _transfer_rows(api)
    status, problem = await _post_as(api, token, "/api/v1/transfers", body)
    assert status == 400, problem
    assert problem["field"] == "reason", problem
    assert "null character (U+0000)" in problem["detail"], problem
    assert (await _state(api), await _transfer_rows(api)) == (before, rows)

    reason = "Moving to \u202eMansfield\u2028 soon."
    body["reason"] = reason
    status, created = await _post_as(api, token, "/api/v1/transfers", body)
    assert status == 201, created
    assert created["reason"] == reason  # kept as typed: the transfer page shows it visibly
