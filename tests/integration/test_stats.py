"""The MAPPA annual report tables (issue 16), computed from an area built through the services
whose true counts are known: cases opened at their categories and levels, a level raised, a case
whose MAPPA management ended, a duplicate record combined, and typed events recorded through the
case-event service (breaches, orders, recalls, charges), some outside the period. Checked on a
real SQLite file and on real PostgreSQL; the report is on the log and never opens a packet."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cli.main import main as cli
from hub.cli.stats import _day as stats_day
from hub.cli.stats import as_csv, as_table
from hub.config import Config
from hub.errors import Forbidden, InvalidInput, NotFound
from hub.ledger.entries import Event
from hub.model.cases import MappaCategory, MappaLevel
from hub.model.directory import AgencyType, Jurisdiction, Role
from hub.services.case_events import NewCaseEvent
from hub.services.cases import NewCase
from hub.services.stats import Figure
from hub.services.stats import _suppress as suppress
from hub.store.schema import ledger_entries
from hub.wiring import Hub
from tests.conftest import START, actor_for

TODAY = START.date()
FIRST = TODAY - timedelta(days=364)


async def _area(hub: Hub) -> None:
    await hub.directory.add_area("DBY", "Derbyshire", Jurisdiction.ENGLAND_AND_WALES)
    for code, name, kind in (
        ("DBY-POLICE", "Derbyshire Constabulary", AgencyType.POLICE),
        ("DBY-PROBATION", "Probation Service Derbyshire", AgencyType.PROBATION),
        ("DBY-HOUSING", "Derby Homes", AgencyType.HOUSING),
    ):
        await hub.directory.add_agency(code, name, kind, "DBY")
    for username, agency, role in (
        ("dby.coordinator", "DBY-POLICE", Role.COORDINATOR),
        ("dby.police", "DBY-POLICE", Role.PRACTITIONER),
        ("dby.housing", "DBY-HOUSING", Role.PRACTITIONER),
        ("dby.auditor", "DBY-POLICE", Role.AUDITOR),
    ):
        await hub.directory.add_user(username, username, agency, role, "a long test passphrase 46")


async def _case(hub: Hub, name: str, category: int, level: int) -> int:
    made = await hub.cases.add(None, NewCase(
        name, "Test", MappaCategory(category), MappaLevel(level), "DBY-POLICE"
    ))  # fmt: skip
    return made.id


async def _event(
    hub: Hub, case: int, kind: str, days_ago: int = 30, order: str | None = None,
    stage: str | None = None,
) -> None:  # fmt: skip
    police = await actor_for(hub, "dby.police")
    await hub.case_events.record(
        police, case, NewCaseEvent(kind, TODAY - timedelta(days=days_ago), order, stage)
    )


async def _build(hub: Hub) -> dict[str, int]:
    """The area: 8 RSOs (4 at level 1, 3 at 2, 1 at 3) plus one whose management ended and one
    duplicate record; 5 category 2 (2, 2, 1); 3 category 3 (0, 2, 1), one raised from 2 to 3."""
    await _area(hub)
    ids: dict[str, int] = {}
    plan = [(1, 1)] * 4 + [(1, 2)] * 3 + [(1, 3)] + [(2, 1)] * 2 + [(2, 2)] * 2 + [(2, 3)]
    plan += [(3, 2), (3, 2), (3, 2)]
    for n, (category, level) in enumerate(plan):
        ids[f"c{n}"] = await _case(hub, f"Person{n}", category, level)
    ids["ended"] = await _case(hub, "Ended", 1, 2)
    ids["dup"] = await _case(hub, "Duplicate", 1, 3)
    reference = {c.id: c.reference for c in await hub.cases.visible_to(None)}
    await hub.cases.change_level(None, reference[ids["c15"]], MappaLevel.CRITICAL_FEW)
    # An event on a record later found to be a duplicate: never counted.
    await _event(hub, ids["dup"], "charged-serious-offence")
    await hub.cases.combine(None, reference[ids["c0"]], reference[ids["dup"]])
    await hub.case_events.record(
        await actor_for(hub, "dby.coordinator"), ids["ended"],
        NewCaseEvent("management-ended", TODAY - timedelta(days=10)),
    )  # fmt: skip
    # Breaches: two RSOs (one twice); one before the period, not counted.
    await _event(hub, ids["c0"], "notification-breach-cautioned")
    await _event(hub, ids["c1"], "notification-breach-convicted")
    await _event(hub, ids["c1"], "notification-breach-convicted", days_ago=20)
    await _event(hub, ids["c2"], "notification-breach-convicted", days_ago=400)
    # Orders: SHPO 3 applied, 1 interim, 2 full; notification order 1 and 1; FTO applied once.
    for case in ("c3", "c4", "c5"):
        await _event(hub, ids[case], "order-applied", order="sexual-harm-prevention-order")
    await _event(hub, ids["c3"], "order-granted", order="sexual-harm-prevention-order",
                 stage="interim")  # fmt: skip
    for case in ("c3", "c4"):
        await _event(hub, ids[case], "order-granted", order="sexual-harm-prevention-order",
                     stage="full")  # fmt: skip
    await _event(hub, ids["c6"], "order-applied", order="notification-order")
    await _event(hub, ids["c6"], "order-granted", order="notification-order", stage="full")
    await _event(hub, ids["c7"], "order-applied", order="foreign-travel-order")
    # Recalls and charges, by the level the case was managed at: licence at level 2 (two
    # cases), at level 3 (one); an order at level 2; charged at level 3 and at level 2.
    await _event(hub, ids["c4"], "recalled-licence-breach")
    await _event(hub, ids["c11"], "recalled-licence-breach")
    await _event(hub, ids["c7"], "recalled-licence-breach")
    await _event(hub, ids["c5"], "recalled-order-breach")
    await _event(hub, ids["c12"], "charged-serious-offence")
    await _event(hub, ids["c13"], "charged-serious-offence")
    return ids


EXPECTED = {
    "rso_on_last_day": 8,
    "rso_per_100k": 1,  # 8 / 1,056,000 people x 100,000 = 0.76, rounded
    "rso_breach": 2,
    "sexual-harm-prevention-order.applied": 3,
    "sexual-harm-prevention-order.interim": 1,
    "sexual-harm-prevention-order.full": 2,
    "sexual-offences-prevention-order.applied": 0,
    "notification-order.applied": 1,
    "notification-order.full": 1,
    "foreign-travel-order.applied": 1,
    "foreign-travel-order.full": 0,
    "category2_on_last_day": 5,
    "category3_on_last_day": 3,
    # Managed in the period at its highest level: the ended RSO counts at level 2; the
    # duplicate does not count at all; the category 3 case raised to 3 counts at level 3.
    "level3.category1": 1,
    "level3.category2": 1,
    "level3.category3": 1,
    "level3.total": 3,
    "level2.category1": 4,
    "level2.category2": 2,
    "level2.category3": 2,
    "level2.total": 8,
    "level2.recalled-licence-breach": 2,
    "level3.recalled-licence-breach": 1,
    "level2.recalled-order-breach": 1,
    "level3.recalled-order-breach": 0,
    "level2.charged-serious-offence": 1,
    "level3.charged-serious-offence": 1,
}


async def test_the_annual_tables_match_the_area_built(hub: Hub) -> None:
    await _build(hub)
    auditor = await actor_for(hub, "dby.auditor")
    report = await hub.stats.annual_report(auditor, "DBY", FIRST, TODAY)
    got = {key: report.value(key) for key in EXPECTED}
    assert got == EXPECTED
    assert report.population is not None and report.population.year == 2021
    # The report is on the log, naming who asked; no packet was opened to make it.
    async with hub.db.read() as conn:
        rows = (await conn.execute(select(ledger_entries.c.event, ledger_entries.c.actor_user_id)
                                   .where(ledger_entries.c.event == Event.STATS_PRODUCED.value))).all()  # fmt: skip
        opened = (await conn.execute(select(ledger_entries.c.seq).where(
            ledger_entries.c.event == Event.PACKET_OPENED.value))).all()  # fmt: skip
    assert [r[1] for r in rows] == [auditor.user.id]
    assert opened == []
    await hub.ledger.verify()


async def test_publication_suppresses_small_counts_and_says_so(hub: Hub) -> None:
    await _build(hub)
    report = await hub.stats.annual_report(None, "DBY", FIRST, TODAY, publish=True)
    shown = {f.key: f for f in report.figures}
    assert shown["rso_on_last_day"].suppressed is False and shown["rso_on_last_day"].value == 8
    assert shown["rso_breach"].suppressed and shown["rso_breach"].to_json()["value"] is None
    assert shown["sexual-offences-prevention-order.applied"].suppressed is False  # zero is shown
    assert shown["level2.total"].suppressed is False
    table = as_table(report)
    assert "[c]" in table and "Counts from 1 to 4 are not published" in table
    csv_text = as_csv(report)
    assert "rso_breach" in csv_text and ",yes" in csv_text


async def test_who_may_record_and_read(hub: Hub) -> None:
    ids = await _build(hub)
    housing = await actor_for(hub, "dby.housing")
    with pytest.raises(Forbidden):  # not a Responsible Authority agency
        await hub.case_events.record(housing, ids["c1"], NewCaseEvent(
            "notification-breach-cautioned", TODAY))  # fmt: skip
    with pytest.raises(Forbidden):  # statistics are not for practitioners
        await hub.stats.annual_report(housing, "DBY", FIRST, TODAY)
    police = await actor_for(hub, "dby.police")
    with pytest.raises(InvalidInput):  # an order without the order
        await hub.case_events.record(police, ids["c1"], NewCaseEvent("order-applied", TODAY))
    with pytest.raises(InvalidInput):  # in the future
        await hub.case_events.record(police, ids["c1"], NewCaseEvent(
            "charged-serious-offence", TODAY + timedelta(days=2)))  # fmt: skip
    with pytest.raises(InvalidInput):
        await hub.case_events.record(police, ids["c1"], NewCaseEvent("something-else", TODAY))
    with pytest.raises(NotFound):
        await hub.stats.annual_report(None, "XXX", FIRST, TODAY)
    with pytest.raises(InvalidInput):
        await hub.stats.annual_report(None, "DBY", TODAY, FIRST)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_cli_prints_table_json_and_csv(
    hub: Hub, config: Config, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    await _build(hub)
    base = ["--data-dir", str(config.data_dir), "--database-url", config.database_url]
    period = ["--area", "dby", "--from", FIRST.isoformat(), "--to", TODAY.isoformat()]
    assert await asyncio.to_thread(cli, ["stats", *period, *base]) == 0
    table = capsys.readouterr().out
    assert "MAPPA statistical information: Derbyshire (DBY)" in table
    assert "RSOs living in the area on 23 November 2026" in table
    assert await asyncio.to_thread(cli, ["stats", *period, "--format", "json", *base]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {f["key"]: f["value"] for f in doc["figures"]}["level2.total"] == 8
    csv_run = ["stats", *period, "--format", "csv", "--publish", *base]
    assert await asyncio.to_thread(cli, csv_run) == 0
    assert capsys.readouterr().out.startswith("area,from,to,section,key,label,value,suppressed")
    with pytest.raises(argparse.ArgumentTypeError, match="is not a date"):
        stats_day("2026-13-01")  # argparse turns it into exit 2 with this reason
    unknown = ["stats", "--area", "NOPE", "--from", "2026-01-01", "--to", "2026-02-01", *base]
    assert await asyncio.to_thread(cli, unknown) == 2
    assert "No such area" in capsys.readouterr().err


def test_a_total_that_would_give_away_one_suppressed_count_is_suppressed_too() -> None:
    def fig(key: str, value: int) -> Figure:
        return Figure(key, "s", key, value)

    figures = [fig("rso_on_last_day", 3), fig("rso_per_100k", 1)]
    figures += [fig("level2.category1", 3), fig("level2.category2", 10)]
    figures += [fig("level2.category3", 7), fig("level2.total", 20)]
    figures += [fig("level3.category1", 2), fig("level3.category2", 4)]
    figures += [fig("level3.category3", 9), fig("level3.total", 15)]
    shown = {f.key: f.suppressed for f in suppress(figures, 5)}
    assert shown["level2.category1"] and shown["level2.total"]  # 20 - 10 - 7 = 3
    assert shown["level3.category1"] and shown["level3.category2"]
    assert not shown["level3.total"]  # two hidden: the total gives only their sum
    assert shown["rso_on_last_day"] and shown["rso_per_100k"]
