"""The hub served over loopback with the demo world, and API tokens issued as an admin would.

``api.client(token)`` is the repository's own client (``hub.client.HubClient``) pointed at it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from hub.client import HubClient
from hub.config import Limits
from hub.model.directory import Role
from hub.web.app import build_app
from hub.wiring import Hub
from tests.conftest import TickingClock, make_config
from tests.seeded_world import SeededWorlds, open_seeded

ALL_SCOPES = [
    "cases:read",
    "packets:send",
    "packets:read",
    "requests:answer",
    "disclosures:read",
]


@dataclass
class Api:
    hub: Hub
    clock: TickingClock
    server: TestServer
    _stack: AsyncExitStack = field(repr=False)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/"))

    async def token(
        self,
        agency: str,
        scopes: list[str] | None = None,
        *,
        cases: list[str] | None = None,
        role: Role = Role.PRACTITIONER,
        lifetime: timedelta = timedelta(days=30),
        name: str = "Records system",
    ) -> str:
        issued = await self.hub.tokens.issue(
            None,
            agency,
            name,
            ALL_SCOPES if scopes is None else scopes,
            lifetime=lifetime,
            case_references=cases,
            role=role,
        )
        return issued.secret

    async def client(self, token: str, on_behalf_of: str | None = None) -> HubClient:
        client = HubClient(self.url, token, on_behalf_of=on_behalf_of)
        await client.__aenter__()
        self._stack.push_async_callback(client.__aexit__, None, None, None)
        return client


StartApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def start_api(
    tmp_path: Path, database_url: str, clock: TickingClock, seeded_worlds: SeededWorlds
) -> AsyncIterator[StartApi]:
    async with AsyncExitStack() as stack:

        async def start(limits: Limits | None = None) -> Api:
            config = make_config(tmp_path / "data", database_url)
            if limits is not None:
                config = dataclasses.replace(config, limits=limits)
            hub, _ = await open_seeded(seeded_worlds, config, clock)
            stack.push_async_callback(hub.close)
            server = TestServer(build_app(hub))
            await server.start_server()
            stack.push_async_callback(server.close)
            return Api(hub, clock, server, stack)

        yield start


@pytest.fixture
async def api(start_api: StartApi) -> Api:
    return await start_api()
