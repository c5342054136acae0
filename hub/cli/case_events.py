"""``mappa-hub case event CASE KIND --on DATE [--order ORDER] [--stage interim|full]``: record a
typed, dated event on a case (``hub.services.case_events``) as the operator; ``case events CASE``
lists them. Kinds and orders are the codes ``hub.model.case_events`` lists, shown in ``--help``.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from hub.model.case_events import CaseEventKind, OrderStage, OrderType
from hub.services.case_events import NewCaseEvent
from hub.wiring import Hub


def add_parsers(case: Any, common: argparse.ArgumentParser) -> None:
    e = case.add_parser("event", parents=[common], help="record a typed, dated event on a case")
    e.add_argument("reference")
    e.add_argument("kind", choices=[k.value for k in CaseEventKind])
    e.add_argument("--on", dest="occurred_on", type=date.fromisoformat, required=True,
                   help="the day it happened, YYYY-MM-DD")  # fmt: skip
    e.add_argument("--order", choices=[o.value for o in OrderType], help="for an order")
    e.add_argument("--stage", choices=[s.value for s in OrderStage], help="for an order granted")
    listing = case.add_parser("events", parents=[common], help="a case's recorded events")
    listing.add_argument("reference")


async def run(hub: Hub, args: argparse.Namespace) -> None:
    case = await hub.cases.get(None, args.reference)
    if args.action == "event":
        event = await hub.case_events.record(
            None,
            case.id,
            NewCaseEvent(args.kind, args.occurred_on, args.order, args.stage),
        )
        print(
            f"{case.reference}: {event.label}, {event.occurred_on.isoformat()} (level {event.level})"
        )
        return
    for event in await hub.case_events.for_case(None, case.id):
        print(
            f"{event.occurred_on.isoformat()}\t{event.kind.value}\tlevel {event.level}\t{event.label}"
        )
