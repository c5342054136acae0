"""``mappa-hub policy check|explain|test``: work on the policy files alone, no database needed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hub.config import Config
from hub.errors import InvalidInput
from hub.policy.casetable import load_cases, run_case
from hub.policy.engine import evaluate
from hub.policy.loader import JURISDICTIONS, load_policy
from hub.policy.model import Decision, Outcome, Party, ShareRequest
from hub.policy.odrl import to_odrl

REGIME_LABEL = {
    "law-enforcement": "DPA 2018 Part 3 (law enforcement processing)",
    "general": "UK GDPR and DPA 2018 Part 2",
}

EXIT_OK, EXIT_FAILED = 0, 1
# `policy explain` answers scripts by its exit code: 0 PERMIT, 1 DENY, 3 REVIEW (2 is bad usage).
EXIT_REVIEW = 3
EXPLAIN_EXIT = {Outcome.PERMIT: EXIT_OK, Outcome.DENY: EXIT_FAILED, Outcome.REVIEW: EXIT_REVIEW}


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    policy = sub.add_parser("policy", help="policy files").add_subparsers(
        dest="action", required=True
    )
    policy.add_parser("check", parents=[common], help="validate the policy files")
    e = policy.add_parser(
        "explain",
        parents=[common],
        help="the decision for a described share (exit 0 PERMIT, 1 DENY, 3 REVIEW)",
        description="Print the decision for a described share. Exit status: 0 PERMIT, 1 DENY, "
        "3 REVIEW (needs approval), 2 bad usage.",
    )
    e.add_argument("--sender", required=True, help="sending agency type, e.g. police")
    e.add_argument("--sender-role", default="practitioner")
    e.add_argument(
        "--recipient",
        action="append",
        required=True,
        help="recipient agency type, optionally TYPE@AREA, TYPE@AREA/JURISDICTION, and a trailing "
        "'+' when it is already active on the case (repeatable), e.g. housing@NTT+",
    )
    e.add_argument("--sender-area", default="", help="the sender's MAPPA area code")
    e.add_argument(
        "--jurisdiction",
        default="england-and-wales",
        choices=list(JURISDICTIONS),
        help="the sender's jurisdiction, whose law the share is made under",
    )
    e.add_argument("--packet-type", default="note")
    e.add_argument("--category", action="append", default=[], help="data category (repeatable)")
    e.add_argument("--purpose", required=True)
    e.add_argument("--basis", required=True, help="lawful basis")
    e.add_argument("--mappa-category", type=int, required=True, choices=[1, 2, 3])
    e.add_argument("--level", type=int, required=True, choices=[1, 2, 3])
    e.add_argument("--channel", default="hub")
    e.add_argument("--why", default="")
    e.add_argument("--who", default="")
    e.add_argument("--use", default="")
    e.add_argument(
        "--condition",
        "--schedule1-condition",
        dest="condition",
        help="DPA 2018 Schedule 1 or Schedule 8 condition, e.g. sch1-para6",
    )
    e.add_argument("--public-interest", default="", help="the public interest test statement")
    e.add_argument("--restricted-reason")
    e.add_argument("--format", choices=["text", "json"], default="text")
    x = policy.add_parser("export", parents=[common], help="the rules as a W3C ODRL policy")
    x.add_argument("--out", type=Path, help="write to this file instead of standard output")
    t = policy.add_parser("test", parents=[common], help="run the case tables in policies/tests")
    t.add_argument(
        "--cases", type=Path, help="directory of case tables (default <policy-dir>/tests)"
    )


def _party(text: str) -> Party:
    """TYPE[@AREA[/JURISDICTION]][+]: a recipient as `policy explain` takes it."""
    active = text.endswith("+")
    text = text.removesuffix("+")
    agency_type, _, where = text.partition("@")
    area, _, jurisdiction = where.partition("/")
    if jurisdiction and jurisdiction not in JURISDICTIONS:
        raise InvalidInput(f"unknown jurisdiction '{jurisdiction}' in --recipient {text}")
    return Party(agency_type, area, jurisdiction, active)


def describe(decision: Decision) -> str:
    lines = [f"decision: {decision.outcome.value} ({decision.outcome.plain})"]
    for t in decision.tests:
        lines.append(f"  {'pass' if t.passed else 'FAIL'}  {t.test.label}")
        lines.extend(f"        {r}" for r in t.reasons)
    if decision.approvals:
        who = ", ".join(
            f"{a.count} {a.role}{' of the recipient area' if a.area == 'recipient' else ''} "
            f"({a.rule})"
            for a in decision.approvals
        )
        lines.append(f"approval needed from: {who}; never the proposer")
    route = decision.data_protection
    if route:
        lines.append(
            f"data protection: {REGIME_LABEL.get(str(route.get('regime')), route.get('regime'))}"
            + (f"; condition {route['condition']}" if route.get("condition") else "")
            + (
                f"; appropriate policy document {route['policy_document']['uri']} version "
                f"{route['policy_document']['version']}"
                if route.get("policy_document")
                else ""
            )
            + ("; public interest test applied" if route.get("confidence") else "")
            + (f"; the gateway is a {route['basis_nature']}" if route.get("basis_nature") else "")
        )
    lines.append(f"rules fired: {', '.join(decision.rules) or 'none'}")
    for a in decision.agreements:
        lines.append(f"agreement: {a.uri} version {a.version}")
    if decision.retention_years:
        lines.append(f"retention: {decision.retention_years} years")
    lines.append(f"policy version: {decision.policy_version}")
    return "\n".join(lines)


async def run(args: argparse.Namespace, config: Config) -> int:
    policy = load_policy(config.policy_dir)  # PolicyError (exit 1) names file:line: reason
    if args.action == "check":
        print(
            f"policy ok: version {policy.version}\n"
            f"  {len(policy.lawful_bases)} lawful bases, {len(policy.conditions)} data protection "
            f"conditions, {len(policy.purposes)} purposes, "
            f"{len(policy.categories)} data categories, {len(policy.packet_types)} packet types,\n"
            f"  {len(policy.recipients)} recipient rules, {len(policy.approval_rules)} approval rules, "
            f"{len(policy.channels)} channels, {len(policy.agreements)} agreements"
        )
        return EXIT_OK
    if args.action == "explain":
        necessity = {
            k: v
            for k, v in (
                ("why", args.why),
                ("who", args.who),
                ("use", args.use),
                ("public-interest", args.public_interest),
            )
            if v
        }
        parties = tuple(_party(text) for text in args.recipient)
        decision = evaluate(
            policy,
            ShareRequest(
                sender_type=args.sender,
                sender_role=args.sender_role,
                recipient_types=(),
                recipients=parties,
                sender_area=args.sender_area,
                jurisdiction=args.jurisdiction,
                packet_type=args.packet_type,
                data_categories=tuple(args.category),
                purpose=args.purpose,
                lawful_basis=args.basis,
                mappa_category=args.mappa_category,
                mappa_level=args.level,
                channel=args.channel,
                necessity=necessity,
                schedule1_condition=args.condition,
                restricted_reason=args.restricted_reason,
            ),
        )
        if args.format == "json":
            print(json.dumps({**decision.record(), "message": decision.message()}, indent=2))
        else:
            print(describe(decision))
        return EXPLAIN_EXIT[decision.outcome]
    if args.action == "export":
        text = json.dumps(to_odrl(policy), indent=2, ensure_ascii=False)
        if args.out:
            args.out.write_text(text + "\n", encoding="utf-8")
            print(f"wrote the ODRL policy for version {policy.short_version} to {args.out}")
        else:
            print(text)
        return EXIT_OK
    cases = load_cases(args.cases or config.policy_dir / "tests")
    failures = 0
    for number, case in enumerate(cases, 1):
        result = run_case(policy, case)
        mark = "ok  " if result.passed else "FAIL"
        print(f"[{number:3}/{len(cases)}] {mark} {case.file}: {case.name}", flush=True)
        for problem in result.problems:
            print(f"         {problem}")
        failures += not result.passed
    print(f"{len(cases) - failures} passed, {failures} failed")
    if not cases:
        print("no cases found", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if failures else EXIT_OK
