"""``mappa-hub policy check|explain|test``: work on the policy files alone, no database needed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hub.config import Config
from hub.policy.casetable import load_cases, run_case
from hub.policy.engine import evaluate
from hub.policy.loader import load_policy
from hub.policy.model import Decision, ShareRequest
from hub.policy.odrl import to_odrl

EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    policy = sub.add_parser("policy", help="policy files").add_subparsers(
        dest="action", required=True
    )
    policy.add_parser("check", parents=[common], help="validate the policy files")
    e = policy.add_parser("explain", parents=[common], help="the decision for a described share")
    e.add_argument("--sender", required=True, help="sending agency type, e.g. police")
    e.add_argument("--sender-role", default="practitioner")
    e.add_argument(
        "--recipient", action="append", required=True, help="recipient agency type (repeatable)"
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
    e.add_argument("--schedule1-condition")
    e.add_argument("--restricted-reason")
    e.add_argument("--format", choices=["text", "json"], default="text")
    x = policy.add_parser("export", parents=[common], help="the rules as a W3C ODRL policy")
    x.add_argument("--out", type=Path, help="write to this file instead of standard output")
    t = policy.add_parser("test", parents=[common], help="run the case tables in policies/tests")
    t.add_argument(
        "--cases", type=Path, help="directory of case tables (default <policy-dir>/tests)"
    )


def describe(decision: Decision) -> str:
    lines = [f"decision: {decision.outcome.value} ({decision.outcome.plain})"]
    for t in decision.tests:
        lines.append(f"  {'pass' if t.passed else 'FAIL'}  {t.test.label}")
        lines.extend(f"        {r}" for r in t.reasons)
    if decision.approvals:
        who = ", ".join(f"{a.count} {a.role} ({a.rule})" for a in decision.approvals)
        lines.append(f"approval needed from: {who}; never the proposer")
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
            f"  {len(policy.lawful_bases)} lawful bases, {len(policy.purposes)} purposes, "
            f"{len(policy.categories)} data categories, {len(policy.packet_types)} packet types,\n"
            f"  {len(policy.recipients)} recipient rules, {len(policy.approval_rules)} approval rules, "
            f"{len(policy.channels)} channels, {len(policy.agreements)} agreements"
        )
        return EXIT_OK
    if args.action == "explain":
        necessity = {
            k: v for k, v in (("why", args.why), ("who", args.who), ("use", args.use)) if v
        }
        decision = evaluate(
            policy,
            ShareRequest(
                sender_type=args.sender,
                sender_role=args.sender_role,
                recipient_types=tuple(args.recipient),
                packet_type=args.packet_type,
                data_categories=tuple(args.category),
                purpose=args.purpose,
                lawful_basis=args.basis,
                mappa_category=args.mappa_category,
                mappa_level=args.level,
                channel=args.channel,
                necessity=necessity,
                schedule1_condition=args.schedule1_condition,
                restricted_reason=args.restricted_reason,
            ),
        )
        if args.format == "json":
            print(json.dumps({**decision.record(), "message": decision.message()}, indent=2))
        else:
            print(describe(decision))
        return EXIT_OK
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
