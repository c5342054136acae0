"""A year's statistics for one busy area, on a hub holding a million packets.

    python -m bench.stats [--database-url URL [--data-dir DIR]] [--packets N] [--cases N] [--repeat N]

With ``--database-url`` and ``--data-dir`` it measures an existing hub (the one ``python -m bench``
has just loaded with its packets); with ``--database-url`` alone it builds one with ``--packets``
real packets on a new PostgreSQL database beside the one named (dropped afterwards); with neither,
on a temporary SQLite file. Either way it then adds, as set-up and not a figure, a year of
workflow for Derbyshire at four times its 2005/6 size: cases with their grading history, typed
events, meetings with minutes and review deadlines and their attendance, requests for
information, referrals, transfers and notification email, inserted in large transactions. Then it
times, through the services as the page calls them, the annual report tables, the Strategic
Management Board's indicators, and both together (what the statistics page does), each
``--repeat`` times: median and worst. One JSON line per figure on stdout, progress on stderr.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from hub.config import PasswordHashing, load_config
from hub.store.schema import (
    agencies,
    areas,
    case_events,
    case_gradings,
    cases,
    email_outbox,
    info_requests,
    meeting_attendance,
    meetings,
    packets,
    transfers,
    users,
    work_items,
)
from hub.wiring import Hub
from hub.workflows import deadlines

BATCH = 5_000


def _figure(name: str, value: float, unit: str, **params: object) -> None:
    row = {"name": name, "value": round(value, 3), "unit": unit, "params": params}
    print(json.dumps(row), flush=True)


def _progress(message: str) -> None:
    print(f"[bench.stats] {message}", file=sys.stderr, flush=True)


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def _insert(hub: Hub, table: Any, rows: list[dict[str, Any]]) -> None:
    keys = {k for row in rows for k in row}  # one statement for all: every row the same keys
    rows = [{k: row.get(k) for k in keys} for row in rows]
    for i in range(0, len(rows), BATCH):
        async with hub.db.write() as conn:
            await conn.execute(insert(table), rows[i : i + BATCH])


async def load_year(hub: Hub, case_count: int, today: date) -> dict[str, int]:
    """A year of one area's workflow, inserted directly (set-up, not a figure)."""
    rng = random.Random(2006)
    async with hub.db.read() as conn:
        area_id = (await conn.execute(select(areas.c.id).where(areas.c.code == "DBY"))).scalar_one()
        agency_ids = [r[0] for r in (await conn.execute(
            select(agencies.c.id).where(agencies.c.area_id == area_id))).all()]  # fmt: skip
        chair = (await conn.execute(select(users.c.id).limit(1))).scalar_one()
        packet_ids = [r[0] for r in (await conn.execute(
            select(packets.c.id).limit(case_count * 2))).all()]  # fmt: skip
        first_id = int((await conn.execute(select(func.max(cases.c.id)))).scalar_one() or 0) + 1
    start = today - timedelta(days=400)
    year = today - timedelta(days=365)
    case_rows, gradings, events = [], [], []
    for n in range(case_count):
        category = rng.choice((1, 1, 1, 2, 2, 3))
        level = rng.choice((1, 1, 1, 2, 2, 3)) if category < 3 else rng.choice((2, 2, 3))
        case_id = first_id + n
        case_rows.append({"id": case_id, "reference": f"BENCH-{case_id:07d}",
                          "family_name": f"Bench{n}", "given_names": "Test",
                          "category": category, "level": level,
                          "lead_agency_id": agency_ids[0], "area_id": area_id,
                          "created_at": _at(start)})  # fmt: skip
        changed = _at(year + timedelta(days=rng.randrange(365)))
        if rng.random() < 0.1:  # a level change in the year: two grading rows
            gradings.append({"case_id": case_id, "area_id": area_id, "category": category,
                             "level": max(1, level - 1), "valid_from": _at(start),
                             "valid_to": changed})  # fmt: skip
            gradings.append({"case_id": case_id, "area_id": area_id, "category": category,
                             "level": level, "valid_from": changed, "valid_to": None})  # fmt: skip
        else:
            gradings.append({"case_id": case_id, "area_id": area_id, "category": category,
                             "level": level, "valid_from": _at(start), "valid_to": None})  # fmt: skip
        if rng.random() < 0.4:
            kind = rng.choice(("notification-breach-convicted", "recalled-licence-breach",
                               "charged-serious-offence", "order-applied"))  # fmt: skip
            events.append({"case_id": case_id, "kind": kind,
                           "occurred_on": year + timedelta(days=rng.randrange(365)),
                           "order_type": "sexual-harm-prevention-order"
                           if kind == "order-applied" else None,
                           "order_stage": None, "area_id": area_id, "level": level,
                           "recorded_at": _at(today)})  # fmt: skip
    await _insert(hub, cases, case_rows)
    await _insert(hub, case_gradings, gradings)
    await _insert(hub, case_events, events)

    meeting_rows, items, attendance, requests, emails, moved = [], [], [], [], [], []
    meeting_id = 10_000_000
    for row in case_rows:
        case_id, level = row["id"], row["level"]
        if level < 2:
            continue
        held = year + timedelta(days=rng.randrange(30))
        while held < today - timedelta(days=7):
            meeting_id += 1
            minutes_due = deadlines.minutes_due(held, level)
            review_due = deadlines.review_due(held, level)
            sent = minutes_due + timedelta(days=rng.randrange(-8, 4))
            meeting_rows.append({"id": meeting_id, "case_id": case_id, "held_on": held,
                                 "level": level, "chair_user_id": chair,
                                 "recorded_at": _at(held), "minutes_packet_id": packet_ids[0],
                                 "disclosure_considered": rng.random() < 0.85})  # fmt: skip
            common = {"case_id": case_id, "area_id": area_id, "owner_agency_id": agency_ids[0],
                      "meeting_id": meeting_id, "created_at": _at(held)}  # fmt: skip
            items.append({**common, "kind": "minutes", "due_on": minutes_due, "status": "done",
                          "closed_at": _at(max(held, sent))})  # fmt: skip
            nxt = held + timedelta(weeks=deadlines.REVIEW_WEEKS[level] - rng.choice((0, 1, -1)))
            items.append({**common, "kind": "review", "due_on": review_due,
                          "status": "done" if nxt < today else "open",
                          "closed_at": _at(nxt) if nxt < today else None})  # fmt: skip
            for agency_id in agency_ids[:5]:
                attendance.append({"meeting_id": meeting_id, "agency_id": agency_id,
                                   "invited": True, "attended": rng.random() < 0.85})  # fmt: skip
            held = nxt
    await _insert(hub, meetings, meeting_rows)
    for n, row in enumerate(case_rows[: len(packet_ids)]):
        asked = year + timedelta(days=rng.randrange(360))
        due = deadlines.request_default_due(asked)
        answered = asked + timedelta(days=rng.randrange(1, 20))
        done = answered < today
        items.append({"kind": "request", "case_id": row["id"], "area_id": area_id,
                      "owner_agency_id": agency_ids[n % len(agency_ids)], "due_on": due,
                      "status": "done" if done else "open", "created_at": _at(asked),
                      "closed_at": _at(answered) if done else None,
                      "source_packet_id": packet_ids[n]})  # fmt: skip
    await _insert(hub, work_items, items)
    async with hub.db.read() as conn:
        asked_rows = (await conn.execute(
            select(work_items.c.id, work_items.c.case_id, work_items.c.owner_agency_id,
                   work_items.c.due_on, work_items.c.status, work_items.c.closed_at,
                   work_items.c.source_packet_id)
            .where(work_items.c.kind == "request", work_items.c.case_id >= first_id)
        )).all()  # fmt: skip
    for item_id, case_id, target, due, status, closed, packet_id in asked_rows:
        requests.append({"packet_id": packet_id, "case_id": case_id,
                         "requester_agency_id": agency_ids[0], "requester_user_id": chair,
                         "target_agency_id": target, "due_on": due,
                         "status": "answered" if status == "done" else "open",
                         "work_item_id": item_id, "closed_at": closed})  # fmt: skip
    await _insert(hub, info_requests, requests)
    await _insert(hub, meeting_attendance, attendance)
    for n in range(case_count * 8):
        queued = _at(year + timedelta(days=rng.randrange(365)), 9)
        emails.append({"message_id": f"<bench-{n}@bench.invalid>", "dedupe_key": f"bench/{n}",
                       "kind": "notification", "event": "new-packet", "channel": "email",
                       "agency_id": agency_ids[n % len(agency_ids)],
                       "case_id": case_rows[n % len(case_rows)]["id"],
                       "to_address": "someone@bench.invalid",
                       "status": "sent" if rng.random() < 0.97 else "dead", "attempts": 1,
                       "next_attempt_at": queued, "created_at": queued,
                       "sent_at": queued})  # fmt: skip
    await _insert(hub, email_outbox, emails)
    for row in case_rows[: case_count // 25]:
        proposed = _at(year + timedelta(days=rng.randrange(340)))
        moved.append({"case_id": row["id"], "case_reference": row["reference"],
                      "state": "completed", "sending_area_code": "DBY",
                      "sending_area_id": area_id, "receiving_area_code": "NTS",
                      "sending_jurisdiction": "england-and-wales",
                      "receiving_jurisdiction": "england-and-wales", "reason": "Moving.",
                      "proposed_date": proposed.date(), "proposer_agency_id": agency_ids[0],
                      "decided_at": proposed + timedelta(days=rng.randrange(1, 20)),
                      "sent_at": proposed + timedelta(days=21),
                      "completed_at": proposed + timedelta(days=24),
                      "created_at": proposed, "updated_at": proposed})  # fmt: skip
    await _insert(hub, transfers, moved)
    return {"cases": len(case_rows), "meetings": len(meeting_rows), "work_items": len(items),
            "requests": len(requests), "emails": len(emails), "events": len(events),
            "transfers": len(moved)}  # fmt: skip


async def measure(hub: Hub, repeat: int, today: date, params: dict[str, Any]) -> None:
    first, last = today - timedelta(days=365), today - timedelta(days=1)
    timings: dict[str, list[float]] = {"annual": [], "board": [], "page": []}
    for _ in range(repeat):
        began = time.perf_counter()
        await hub.stats.annual_report(None, "DBY", first, last)
        middle = time.perf_counter()
        await hub.stats.board_indicators(None, "DBY", first, last)
        ended = time.perf_counter()
        timings["annual"].append(middle - began)
        timings["board"].append(ended - middle)
        timings["page"].append(ended - began)
    names = {"annual": "stats_annual_report", "board": "stats_board_indicators",
             "page": "stats_page_reports"}  # fmt: skip
    for key, values in timings.items():
        _figure(f"{names[key]}_median", statistics.median(values), "s", **params)
        _figure(f"{names[key]}_max", max(values), "s", **params)


async def run(args: argparse.Namespace) -> None:
    today = datetime.now(UTC).date()
    fresh: tuple[str, str] | None = None
    if args.data_dir is None:
        from bench.__main__ import build_world, bulk_load, fresh_postgresql

        tmp = Path(tempfile.mkdtemp(prefix="mappa-bench-stats-"))
        if args.database_url:  # a new database beside the one named, dropped afterwards
            fresh = await fresh_postgresql(args.database_url)
        _progress(f"building a hub with {args.packets:,} packets in {tmp}")
        world = await build_world(tmp / "hub", fresh[0] if fresh else None)
        await bulk_load(world, args.packets)
        data_dir = world.data_dir
        url = fresh[0] if fresh else f"sqlite:///{world.data_dir / 'hub.sqlite3'}"
    else:
        data_dir, url = args.data_dir, args.database_url
    try:
        await _measure_hub(args, data_dir, url, today)
    finally:
        if fresh is not None:
            from bench.__main__ import drop_postgresql

            await drop_postgresql(fresh[1], fresh[0])


async def _measure_hub(args: argparse.Namespace, data_dir: Path, url: str, today: date) -> None:
    config = load_config(data_dir, url, passwords=PasswordHashing(1, 1024, 1))
    hub = await Hub.open(config)
    try:
        async with hub.db.read() as conn:
            stored = int(
                (await conn.execute(select(func.count()).select_from(packets))).scalar_one()
            )
        counts: dict[str, int] = {}
        if args.cases:  # --cases 0: measure the hub as it is (a second run on the same one)
            _progress(f"adding a year of workflow for {args.cases:,} cases (set-up)")
            began = time.perf_counter()
            counts = await load_year(hub, args.cases, today)
            _progress(f"  {counts} in {time.perf_counter() - began:.1f} s")
        db = "postgresql" if url.startswith("postgresql") else "sqlite"
        await measure(hub, args.repeat, today, {"db": db, "packets": stored, **counts})
    finally:
        await hub.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stats", description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=4_200,
                        help="cases of workflow to add: about 4x Derbyshire 2005/6; 0 adds none")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if args.data_dir is not None and args.database_url is None:
        parser.error("--data-dir names an existing hub: give its --database-url too")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
