"""Policy decisions per second for the shipped policy set. Prints one JSON line per figure on
stdout; progress, then a table, on stderr. Not a test: nothing here asserts a time.

    python -m bench.policy [--seconds 3 | --quick]

Three figures over 2,000 varied requests: the compiled policy with the decision memo bypassed
(every request a full evaluation of the five tests: what a new shape costs), the same through the
per-version memo (shapes that recur, as they do in practice), and the reference interpreter
(hub.policy.engine.interpret) for comparison. ``--seconds`` is the time spent on each figure;
``--quick`` spends one second on each.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial

from hub.config import SOURCE_POLICY_DIR
from hub.policy.engine import evaluate, interpret
from hub.policy.loader import PolicySet, load_policy
from hub.policy.model import Decision, ShareRequest

TYPES = ["police", "probation", "prison", "housing", "childrens-social-care", "mental-health",
         "youth-offending", "health", "victim-liaison", "third-party", "jobcentre-plus"]  # fmt: skip
REQUESTS = 2000


def requests(n: int, seed: int = 7) -> list[ShareRequest]:
    rng = random.Random(seed)
    policy = load_policy(SOURCE_POLICY_DIR)
    categories = sorted(policy.categories)
    out = []
    for _ in range(n):
        out.append(
            ShareRequest(
                sender_type=rng.choice(TYPES[:3] + TYPES[3:6]),
                sender_role=rng.choice(["practitioner", "practitioner", "coordinator"]),
                recipient_types=tuple(sorted(rng.sample(TYPES, rng.randint(1, 3)))),
                packet_type=rng.choice(["note", "referral", "minutes", "response"]),
                data_categories=tuple(sorted(rng.sample(categories, rng.randint(1, 4)))),
                purpose=rng.choice(sorted(policy.purposes)),
                lawful_basis=rng.choice(sorted(policy.lawful_bases)),
                mappa_category=rng.randint(1, 3),
                mappa_level=rng.randint(1, 3),
                necessity={"why": "A statement of why this share is necessary for the plan."},
            )
        )
    return out


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _rate(
    decide: Callable[[ShareRequest], Decision], reqs: list[ShareRequest], seconds: float
) -> float:
    done, start = 0, time.perf_counter()
    while True:
        for r in reqs:
            decide(r)
        done += len(reqs)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def _figures(policy: PolicySet, mix: list[ShareRequest], seconds: float) -> list[dict[str, object]]:
    for r in mix:  # fill the memo, so that the warm figure is served from it throughout
        evaluate(policy, r)
    shapes = len(policy.decisions)
    compiled = {"engine": "compiled", "memo": False}
    warm = {"engine": "compiled", "memo": True, "shapes": shapes}
    reference = {"engine": "interpreter", "memo": False}
    runs: list[tuple[str, Callable[[ShareRequest], Decision], dict[str, object]]] = [
        ("policy_decisions_per_second_cold", policy.compiled.decide, compiled),
        ("policy_decisions_per_second_warm", partial(evaluate, policy), warm),
        ("policy_decisions_per_second_reference", partial(interpret, policy), reference),
    ]
    rows = []
    for name, decide, params in runs:
        _progress(f"{name}: {seconds:g} s")
        value = _rate(decide, mix, seconds)
        row = {
            "name": name,
            "value": round(value),
            "unit": "decisions/s",
            "params": {**params, "requests": len(mix), "seconds": seconds},
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--seconds", type=float, default=3.0, help="seconds per figure (default 3)")
    when.add_argument("--quick", action="store_true", help="one second per figure")
    args = parser.parse_args(argv)
    seconds = 1.0 if args.quick else args.seconds
    _progress(f"policy: {REQUESTS:,} varied requests")
    policy = load_policy(SOURCE_POLICY_DIR)
    rows = _figures(policy, requests(REQUESTS), seconds)
    # The table is for a person at a terminal; stdout stays JSON lines for the runner (bench).
    print(f"\n{'figure':40} {'value':>12}  unit", file=sys.stderr)
    for row in rows:
        print(f"{row['name']:40} {row['value']:>12,}  {row['unit']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
