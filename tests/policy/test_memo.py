"""The per-version decision memo gives exactly what a full evaluation gives."""

from __future__ import annotations

from dataclasses import replace

from bench.policy import requests
from hub.config import SOURCE_POLICY_DIR
from hub.policy.engine import evaluate, interpret
from hub.policy.loader import load_policy


def test_memoised_decisions_equal_full_evaluation() -> None:
    policy = load_policy(SOURCE_POLICY_DIR)
    mix = requests(300, seed=11)
    first = [evaluate(policy, r) for r in mix]
    again = [evaluate(policy, r) for r in mix]  # served from the memo
    assert first == again == [interpret(policy, r) for r in mix]
    assert 0 < len(policy.decisions) <= len(mix)


def test_statement_length_not_wording_is_what_counts() -> None:
    policy = load_policy(SOURCE_POLICY_DIR)
    base = requests(1, seed=3)[0]
    long_a = replace(base, necessity={"why": "His risk has risen since he was recalled."})
    long_b = replace(base, necessity={"why": "The victim has moved; the plan must change now."})
    short = replace(base, necessity={"why": "too short"})
    # Length as hub.policy.statements measures it: one character held down says nothing, so it is
    # decided like a short statement however long it is, memo or not.
    padded = replace(base, necessity={"why": "a" * 40})
    assert evaluate(policy, long_a) == interpret(policy, long_b)
    assert evaluate(policy, short) == interpret(policy, short)
    assert evaluate(policy, short).tests != evaluate(policy, long_a).tests
    assert evaluate(policy, padded) is evaluate(policy, short)
    assert evaluate(policy, padded) == interpret(policy, padded) == interpret(policy, short)


def test_a_new_version_starts_with_an_empty_memo() -> None:
    policy = load_policy(SOURCE_POLICY_DIR)
    evaluate(policy, requests(1)[0])
    assert load_policy(SOURCE_POLICY_DIR).decisions == {}
