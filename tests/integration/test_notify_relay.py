"""SQLite, one box, several processes: a share committed by one `mappa-hub serve` process reaches
the live inboxes open on another process on the same file (hub.store.notify_relay)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from hub.services.inbox_events import INBOX
from hub.wiring import Hub
from tests.conftest import agency_id, make_config
from tests.integration.crash_support import (
    free_port,
    hub_env,
    prepare_world,
    start_gateway,
    wait_listening,
)


async def test_a_share_through_one_process_reaches_inboxes_open_on_another(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'hub.sqlite3'}"
    sender, _, body = await prepare_world(data, url)
    gateway = start_gateway(hub_env(data, url), free_port(), 1, tmp_path / "gateway.log")
    listener = await Hub.open(make_config(data, url))  # this process: the other "worker"
    try:
        wait_listening(gateway)
        await listener.inbox_events.start()
        relay_dir = data / "hub.sqlite3.notify"
        # A process that died without unregistering: refused, then forgotten.
        stale = relay_dir / "999999-dead"
        stale.write_text("mappa-hub-notify-" + "0" * 32)
        housing = await agency_id(listener, "DBY-HOUSING")
        police = await agency_id(listener, "DBY-POLICE")
        with (
            listener.inbox_events.subscribe(housing, "housing") as inbox,
            listener.inbox_events.subscribe(police, "police") as sender_inbox,
        ):
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"http://127.0.0.1:{gateway.port}/api/v1/packets",
                    json={**body, "subject": "Address check"},
                    headers={"Authorization": f"Bearer {sender}"},
                ) as r,
            ):
                assert r.status == 201, await r.text()
            assert await inbox.next(2) == INBOX
            assert await sender_inbox.next(0.3) is None  # only the recipients' inboxes changed
        assert not stale.exists()
    finally:
        await listener.close()
        gateway.stop()
    # Each process removes its own registration as it stops.
    assert list(relay_dir.iterdir()) == []
