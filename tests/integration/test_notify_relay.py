"""SQLite, one box, several processes: a share committed by one `mappa-hub serve` process reaches
the live inboxes open on another process on the same file (hub.store.notify_relay)."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import aiohttp

from hub.services.inbox_events import INBOX
from hub.store.notify import Note
from hub.store.notify_relay import SETTLE_NS, SiblingRelay
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


async def _heard(received: list[Note], note: Note, within: float = 2.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while note not in received:
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def test_the_sender_remembers_its_siblings_yet_reaches_each_new_one_at_once(
    tmp_path: Path,
) -> None:
    """The relay reads the registrations once and remembers them (not on every commit), but a
    process that registers after that, or whose name was not yet written when the directory was
    read, hears the very next commit; one that has gone is forgotten."""
    directory = tmp_path / "hub.sqlite3.notify"
    sender, first, second = (
        SiblingRelay(directory),
        SiblingRelay(directory),
        SiblingRelay(directory),
    )
    heard_first: list[Note] = []
    heard_second: list[Note] = []
    try:
        await sender.listen(lambda notes: None)
        await first.listen(heard_first.extend)
        sender.send([("inbox", "1")])
        assert await _heard(heard_first, ("inbox", "1"))
        await asyncio.sleep(SETTLE_NS / 1e9 * 2)
        sender.send([("inbox", "2")])  # the directory has settled: this listing is remembered
        assert await _heard(heard_first, ("inbox", "2"))

        await second.listen(heard_second.extend)  # a new process, straight after
        sender.send([("inbox", "3")])
        assert await _heard(heard_second, ("inbox", "3"))
        assert await _heard(heard_first, ("inbox", "3"))

        # Created but its name not yet written when the sender reads the directory.
        await asyncio.sleep(SETTLE_NS / 1e9 * 2)
        half = directory / "4242-half"
        half.touch()
        await asyncio.sleep(SETTLE_NS / 1e9 * 2)
        sender.send([("inbox", "4")])
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as late:
            late.bind("\0mappa-hub-notify-test-late")
            late.setblocking(False)
            half.write_text("mappa-hub-notify-test-late")  # the directory itself does not change
            sender.send([("inbox", "5")])
            assert json.loads(late.recv(4096)) == [["inbox", "5"]]
        # That process has gone: refused at the next send, and its name removed.
        sender.send([("inbox", "6")])
        assert not half.exists()
        assert await _heard(heard_second, ("inbox", "6"))
    finally:
        for relay in (sender, first, second):
            relay.close()
