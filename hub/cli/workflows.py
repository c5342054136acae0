"""``mappa-hub forms`` (the packet forms' JSON Schemas) and ``mappa-hub deadlines remind``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hub.config import Config
from hub.model.packets import FORM_TYPES, PacketType
from hub.wiring import Hub

EXIT_OK, EXIT_USAGE = 0, 2
VISOR_RECORD = "visor-record"


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    forms = sub.add_parser("forms", help="the structured forms typed packets carry")
    actions = forms.add_subparsers(dest="action", required=True)
    actions.add_parser(
        "list", parents=[common], help="each packet type with a form, and its schema id"
    )
    s = actions.add_parser("schema", parents=[common], help="print a form's JSON Schema (2020-12)")
    s.add_argument("type", choices=[*sorted(t.value for t in FORM_TYPES), VISOR_RECORD])
    deadlines = sub.add_parser("deadlines", help="meeting, request and action deadlines")
    d = deadlines.add_subparsers(dest="action", required=True)
    d.add_parser(
        "remind", parents=[common], help="raise reminders for items gone overdue (for cron)"
    )


async def run_forms(args: argparse.Namespace, config: Config) -> int:
    from hub.workflows.forms import FORMS, json_schema, schema_id

    if args.action == "list":
        for kind in FORMS:
            print(f"{kind.value}\t{schema_id(kind)}")
        return EXIT_OK
    if args.type == VISOR_RECORD:  # the nominal record's file format (adapters/visor)
        from adapters.visor.format import schema

        print(json.dumps(schema(), indent=2, sort_keys=True))
        return EXIT_OK
    try:
        kind = PacketType(args.type)
    except ValueError:
        print(f"mappa-hub: no form for {args.type}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(json_schema(kind), indent=2, sort_keys=True))
    return EXIT_OK


async def run_deadlines(args: argparse.Namespace, config: Config) -> int:
    hub = await Hub.open(config)
    try:
        items = await hub.casework.raise_reminders()
        soon = await hub.notices.sweep_due_soon()
    finally:
        await hub.close()
    for item in items:
        print(
            f"{item.row.due_on}\t{item.kind.value}\t{item.case_reference}\t{item.owner_agency}"
            f"\toverdue by {item.days_late} working day(s)"
        )
    print(f"{len(items)} new reminder(s); {soon} due-soon notice(s) queued", file=sys.stderr)
    return EXIT_OK
