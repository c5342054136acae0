"""The web inbox's pages, on a hub holding a million packets: what a member of staff waits for.

    python -m bench.web_inbox --database-url URL --data-dir DIR [--pages N]

Measures an existing hub (the one ``python -m bench`` has just loaded with its packets). As the
inbox page asks for it, through the services (``PacketListing.page``: a page of 50 with its
subjects, which of them the person has opened, the box's size and how many rows come before the
page, each counted up to 1,000), one page at a time: the first page, and older pages from 7 to
360 days back, alternately; housing's inbox (every packet the set-up stored is addressed to it),
then police's sent box (every one is sent by it). Leaves out the HTTP and the template, which the API listing's figures
cover. One JSON line per figure on stdout, progress on stderr. Not a test: nothing here asserts a
time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from hub.config import PasswordHashing, load_config
from hub.services.actor import Actor
from hub.store.packets import Box, Position
from hub.store.schema import packets
from hub.wiring import Hub


def _figure(name: str, value: float, unit: str, **params: object) -> None:
    row = {"name": name, "value": round(value, 3), "unit": unit, "params": params}
    print(json.dumps(row), flush=True)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def measure(hub: Hub, actor: Actor, box: Box, pages: int, params: dict[str, object]) -> None:
    first = await hub.packets.listing.page(actor, box)
    if not first.rows:
        raise SystemExit(f"{actor.user.username}'s {box} is empty: nothing to page")
    newest = first.rows[0].created_at
    rng = random.Random(7)
    # (An empty id: the rows older than the time itself.)
    older = [Position(newest - timedelta(days=rng.uniform(7, 360)), "") for _ in range(pages)]
    for position in older[:20]:  # warm-up, not counted
        await hub.packets.listing.page(actor, box, before=position)
    times: list[float] = []
    for k in range(pages):
        before = None if k % 2 == 0 else older[k]
        began = time.perf_counter()
        page = await hub.packets.listing.page(actor, box, before=before)
        times.append(time.perf_counter() - began)
        assert page.rows, "a page of a box this size is never empty"
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    name = "web_inbox_page" if box == "inbox" else "web_sent_page"
    _figure(f"{name}_p50", statistics.median(times) * 1000, "ms", **params)
    _figure(f"{name}_p99", p99 * 1000, "ms", **params)


async def run(args: argparse.Namespace) -> None:
    config = load_config(args.data_dir, args.database_url, passwords=PasswordHashing(1, 1024, 1))
    hub = await Hub.open(config)
    try:
        async with hub.db.read() as conn:
            stored = int(
                (await conn.execute(select(func.count()).select_from(packets))).scalar_one()
            )
        db = "postgresql" if args.database_url.startswith("postgresql") else "sqlite"
        users = {u.username: u for u in await hub.directory.users()}
        for box, username in (("inbox", "dby.housing"), ("outbox", "dby.police")):
            user = users[username]
            actor = Actor(user, await hub.directory.agency(user.agency_id))
            _progress(f"web inbox: {args.pages} pages of {username}'s {box}, {stored:,} packets")
            params: dict[str, object] = {
                "db": db,
                "packets": stored,
                "pages": args.pages,
                "clients": 1,
                "box": box,
            }
            await measure(hub, actor, box, args.pages, params)
    finally:
        await hub.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.web_inbox", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--pages", type=int, default=400)
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
