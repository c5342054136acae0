"""Policy decisions per second for the shipped policy set. Prints JSON lines, then a table.

    python -m bench.policy [--seconds 3]

Two figures: cold (every request a new shape, so the full five tests run each time) and warm (a
realistic mix of shapes that recur, served from the per-version decision memo).
"""

from __future__ import annotations

import argparse
import json
import random
import time

from hub.config import SOURCE_POLICY_DIR
from hub.policy.engine import _evaluate, evaluate
from hub.policy.loader import load_policy
from hub.policy.model import ShareRequest

TYPES = ["police", "probation", "prison", "housing", "childrens-social-care", "mental-health",
         "youth-offending", "health", "victim-liaison", "third-party", "jobcentre-plus"]  # fmt: skip


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


def _rate(fn: object, reqs: list[ShareRequest], seconds: float) -> float:
    policy = load_policy(SOURCE_POLICY_DIR)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for r in reqs:
            fn(policy, r)  # type: ignore[operator]
        done += len(reqs)
    return done / (time.perf_counter() - start)


def main(seconds: float) -> None:
    mix = requests(2000)
    rows = [
        ("policy_decisions_per_second_cold", _rate(_evaluate, mix, seconds), "full evaluation"),
        (
            "policy_decisions_per_second_warm",
            _rate(evaluate, mix, seconds),
            "2,000 recurring shapes",
        ),
    ]
    for name, value, note in rows:
        print(
            json.dumps(
                {
                    "name": name,
                    "value": round(value),
                    "unit": "decisions/s",
                    "params": {"note": note},
                }
            )
        )
    print(f"\n{'figure':36} {'value':>12}  unit")
    for name, value, _ in rows:
        print(f"{name:36} {value:>12,.0f}  decisions/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    main(parser.parse_args().seconds)
