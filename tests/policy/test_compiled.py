"""The compiled policy (hub.policy.compiled) decides exactly as the reference interpreter
(hub.policy.engine.interpret): every field of every Decision, its record and its message, on the
benchmark's varied requests, the case tables, a wide random sweep that includes names the policy
does not know, exhaustive sweeps of the lawful, proportionality and channel tables, and policy
sets other than the shipped one."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest

from bench.policy import requests as bench_requests
from hub.config import SOURCE_POLICY_DIR
from hub.model.directory import AgencyType, Role
from hub.policy import compiled as compiled_module
from hub.policy import engine
from hub.policy.casetable import load_cases, run_case
from hub.policy.compiled import CompiledPolicy, compile_policy, identical
from hub.policy.engine import evaluate, interpret
from hub.policy.loader import ApprovalRule, PolicySet, load_policy
from hub.policy.model import Decision, Outcome, Party, ShareRequest
from hub.services.policy import PolicyService

CASES = load_cases(SOURCE_POLICY_DIR / "tests")
LONG = "Housing must assess the proposed address against the risk management plan."
REASON = "The victim has asked that her new address be covered by an exclusion zone."


@pytest.fixture(scope="module")
def policy() -> PolicySet:
    return load_policy(SOURCE_POLICY_DIR)


def same_everywhere(policy: PolicySet, shares: Iterable[ShareRequest]) -> Counter[str]:
    """Decide each share both ways; fail on the first difference. Count what was seen, so that a
    sweep can show it reached every outcome and every test."""
    seen: Counter[str] = Counter()
    for share in shares:
        got, want = policy.compiled.decide(share), interpret(policy, share)
        assert identical(got, want), f"{share}\n  reference: {want}\n  compiled:  {got}"
        assert got.record() == want.record() and got.message() == want.message()
        seen[got.outcome.value] += 1
        seen.update(f"failed:{t.test.value}" for t in got.failed)
        seen.update(rule.split(".")[0] for rule in got.rules)
    return seen


def _names(policy: PolicySet) -> dict[str, list[Any]]:
    """Every name the policy knows, and one it does not, for each field of a request."""
    return {
        "types": [*(t.value for t in AgencyType), "gp-practice"],
        "roles": [*(r.value for r in Role), "lay-adviser"],
        "packets": [*sorted(policy.packet_types), "memo"],
        "categories": [*sorted(policy.categories), "biometrics", "dna"],
        "purposes": [*sorted(policy.purposes), "research"],
        "bases": [*sorted(policy.lawful_bases), "consent"],
        "channels": [*sorted(policy.channels), "fax"],
        "conditions": [None, *sorted(policy.conditions), "sch1-para99"],
        "jurisdictions": ["england-and-wales", "england-and-wales", "scotland", "northern-ireland"],
        "areas": ["", "DBY", "DBY", "NTT", "LOTH"],
    }


def _parties(rng: random.Random, names: dict[str, list[Any]], k: int) -> tuple[Party, ...]:
    """Recipients with areas, jurisdictions and whether each is active on the case."""
    return tuple(
        Party(
            rng.choice(names["types"]),
            rng.choice(names["areas"]),
            rng.choice(["", *names["jurisdictions"]]),
            rng.random() < 0.3,
        )
        for _ in range(k)
    )


def _statement(rng: random.Random, minimum: int) -> str | None:
    """A necessity part or a reason: missing, blank, short, exactly long enough, padded."""
    padded = "  " + "zy" * (minimum // 2) + "  "
    hidden = "\u200b".join("ab" * minimum)  # long only while the zero-width spaces count
    choices = [None, "", "   ", "too short", "xy" * (minimum // 2 - 1) + "x", "y" * minimum,
               "yz" * minimum, padded, " " * 30 + "w", hidden, "\uff21\uff22" * minimum,
               LONG, LONG]  # fmt: skip
    return rng.choice(choices)


def varied(policy: PolicySet, n: int, seed: int) -> Iterator[ShareRequest]:
    """Anything at all: every name known and unknown, repeats, empties, bad levels."""
    rng = random.Random(seed)
    names = _names(policy)
    parts = [*sorted(policy.necessity_parts), "extra"]
    minimum = policy.necessity_min_chars
    for _ in range(n):
        necessity = {p: _statement(rng, minimum) for p in rng.sample(parts, rng.randint(0, 4))}
        yield ShareRequest(
            sender_type=rng.choice(names["types"]),
            sender_role=rng.choice(names["roles"]),
            recipient_types=tuple(rng.choices(names["types"], k=rng.choice([0, 1, 1, 2, 2, 3, 4]))),
            packet_type=rng.choice(names["packets"]),
            data_categories=tuple(
                rng.choices(names["categories"], k=rng.choice([0, 1, 1, 2, 2, 3, 5]))
            ),
            purpose=rng.choice(names["purposes"]),
            lawful_basis=rng.choice(names["bases"]),
            mappa_category=rng.choice([0, 1, 2, 2, 3, 4]),
            mappa_level=rng.choice([0, 1, 2, 2, 3, 3, 4]),
            channel=rng.choice(names["channels"]),
            necessity=necessity,  # type: ignore[arg-type]  # None values as an API might send
            schedule1_condition=rng.choice(names["conditions"]),
            restricted_reason=_statement(rng, minimum),
            sender_area=rng.choice(names["areas"]),
            jurisdiction=rng.choice(names["jurisdictions"]),
            recipients=_parties(rng, names, rng.choice([0, 0, 1, 2, 3])),
        )


def near(policy: PolicySet, n: int, seed: int) -> Iterator[ShareRequest]:
    """The case tables' shares, each changed in one or two fields: the boundary of each rule."""
    rng = random.Random(seed)
    names = _names(policy)
    minimum = policy.necessity_min_chars
    changes: dict[str, Callable[[], Any]] = {
        "sender_type": lambda: rng.choice(names["types"]),
        "sender_role": lambda: rng.choice(names["roles"]),
        "recipients": lambda: _parties(rng, names, rng.randint(1, 3)),
        "sender_area": lambda: rng.choice(names["areas"]),
        "jurisdiction": lambda: rng.choice(names["jurisdictions"]),
        "packet_type": lambda: rng.choice(names["packets"]),
        "data_categories": lambda: tuple(rng.sample(names["categories"], rng.randint(1, 4))),
        "purpose": lambda: rng.choice(names["purposes"]),
        "lawful_basis": lambda: rng.choice(names["bases"]),
        "mappa_category": lambda: rng.randint(1, 3),
        "mappa_level": lambda: rng.randint(1, 3),
        "channel": lambda: rng.choice(names["channels"]),
        "necessity": lambda: {p: LONG for p in policy.necessity_parts},
        "schedule1_condition": lambda: rng.choice(names["conditions"]),
        "restricted_reason": lambda: _statement(rng, minimum),
    }
    for _ in range(n):
        share = rng.choice(CASES).request
        for name in rng.sample(sorted(changes), rng.randint(1, 2)):
            share = replace(share, **{name: changes[name]()})
        yield share


def test_the_benchmark_requests(policy: PolicySet) -> None:
    seen = same_everywhere(policy, bench_requests(2000))
    assert seen["DENY"] and seen["PERMIT"]


def test_the_case_tables(policy: PolicySet) -> None:
    seen = same_everywhere(policy, (case.request for case in CASES))
    assert {"PERMIT", "DENY", "REVIEW"} <= set(seen)


def test_a_wide_random_sweep(policy: PolicySet) -> None:
    seen = same_everywhere(policy, varied(policy, 12_000, seed=20261122))
    seen += same_everywhere(policy, near(policy, 12_000, seed=83))
    assert {"PERMIT", "DENY", "REVIEW"} <= set(seen)
    tests = {"lawful", "necessary", "proportionate", "secure", "accountable"}
    assert {f"failed:{t}" for t in tests} <= set(seen)
    assert {"lawful_bases", "conditions", "packet_types", "proportionality"} <= set(seen)
    assert {"restricted", "channels", "approvals", "boundaries", "regimes"} <= set(seen)
    assert "confidence" in seen


def test_every_sender_recipient_basis_and_purpose(policy: PolicySet) -> None:
    names = _names(policy)
    special = next(c for c, term in policy.categories.items() if term.special_category)
    # The condition and jurisdiction turn with each share, so every pair of them meets every
    # sender and basis without multiplying the sweep.
    conditions = itertools.cycle([None, "sch1-para6", "sch8-para1", "sch1-para30", "sch1-para18"])
    jurisdictions = itertools.cycle(["england-and-wales", "england-and-wales", "scotland"])
    shares = (
        ShareRequest(
            sender_type=sender,
            sender_role="practitioner",
            recipient_types=(recipient,),
            packet_type="note",
            data_categories=("identity", special),
            purpose=purpose,
            lawful_basis=basis,
            mappa_category=2,
            mappa_level=2,
            necessity={"why": LONG, "public-interest": LONG},
            schedule1_condition=next(conditions),
            jurisdiction=next(jurisdictions),
        )
        for sender, recipient, basis, purpose in itertools.product(
            names["types"], names["types"], names["bases"], names["purposes"]
        )
    )
    seen = same_everywhere(policy, shares)
    assert seen["conditions"] and seen["PERMIT"]


def test_every_recipient_level_category_and_data_category(policy: PolicySet) -> None:
    names = _names(policy)
    shares = (
        ShareRequest(
            sender_type="police",
            sender_role="coordinator",
            recipient_types=(recipient, "probation"),
            packet_type="note",
            data_categories=(category, "identity"),
            purpose="public-protection",
            lawful_basis="cja2003-s325",
            mappa_category=mappa_category,
            mappa_level=level,
            necessity={p: LONG for p in policy.necessity_parts},
            restricted_reason=reason,
        )
        for recipient, level, mappa_category, category, reason in itertools.product(
            names["types"], range(5), range(5), names["categories"], [None, "asked", REASON]
        )
    )
    seen = same_everywhere(policy, shares)
    assert seen["REVIEW"] and seen["restricted"]


def test_every_channel_recipient_and_data_category(policy: PolicySet) -> None:
    names = _names(policy)
    shares = (
        ShareRequest(
            sender_type="police",
            sender_role="practitioner",
            recipient_types=(recipient,),
            packet_type="note",
            data_categories=(category,),
            purpose="public-protection",
            lawful_basis="cja2003-s325",
            mappa_category=1,
            mappa_level=3,
            channel=channel,
            necessity={p: LONG for p in policy.necessity_parts},
        )
        for channel, recipient, category in itertools.product(
            names["channels"], names["types"], names["categories"]
        )
    )
    same_everywhere(policy, shares)


def _altered(policy: PolicySet) -> Iterator[PolicySet]:
    """Policy sets the shipped files do not make, to reach the parts of the tables they leave
    idle: each compiled afresh by replace(), as a reload would."""
    yield replace(policy, necessity_min_chars=0)
    yield replace(policy, necessity_min_chars=60)
    flipped = {
        name: replace(r, with_reason="deny" if r.with_reason == "review" else "review")
        for name, r in policy.restricted.items()
    }
    yield replace(policy, restricted=MappingProxyType(flipped))
    everywhere = {
        n: replace(b, jurisdictions=frozenset({"england-and-wales", "scotland"}), relied_on_by=frozenset({"*"}))
        for n, b in policy.lawful_bases.items()
    }  # fmt: skip
    yield replace(policy, lawful_bases=MappingProxyType(everywhere))
    yield replace(
        policy,
        other_area=replace(
            policy.other_area, travels=frozenset(), approvers=("coordinator", "senior-manager")
        ),
    )
    yield replace(
        policy, strictly_necessary_parts=frozenset(), outside_mappa_parts=frozenset({"why"})
    )
    narrow = {
        n: replace(c, categories=frozenset({"identity"}), recipient_kinds=frozenset({"voluntary"}))
        for n, c in policy.channels.items()
    }
    yield replace(policy, channels=MappingProxyType(narrow))
    extra = (
        ApprovalRule("any-level-1-2", "All", "mappa-isp", None, frozenset({1, 2}), False, ("coordinator",), 2),
        ApprovalRule("none", "Never", "mappa-isp", frozenset(), None, False, ("auditor",), 1),
        ApprovalRule("ra-override", "RA", "victim-contact-scheme", frozenset({"responsible-authority"}), None, True, ("coordinator", "senior-manager"), 1),
    )  # fmt: skip
    yield replace(policy, approval_rules=policy.approval_rules + extra)
    yield replace(policy, approval_rules=(), approver_is_never_proposer=False)
    agreements = {k: v for k, v in policy.agreements.items() if k != "email-notification"}
    yield replace(policy, agreements=MappingProxyType(agreements))


def test_policy_sets_other_than_the_shipped_one(policy: PolicySet) -> None:
    for altered in _altered(policy):
        assert altered.compiled is not policy.compiled
        same_everywhere(altered, varied(altered, 1200, seed=5))
        same_everywhere(altered, near(altered, 1200, seed=6))
        same_everywhere(altered, (case.request for case in CASES))


def test_a_level_that_is_not_a_whole_number_is_left_to_the_reference(policy: PolicySet) -> None:
    share = CASES[0].request
    odd = [replace(share, mappa_level=True), replace(share, mappa_category=2.0)]  # type: ignore[arg-type]
    same_everywhere(policy, odd)
    assert "level-True" in "".join(policy.compiled.decide(odd[0]).rules)


# Compiled at load, and the form that decides.


def test_a_version_is_compiled_when_it_is_loaded(policy: PolicySet) -> None:
    assert isinstance(policy.compiled, CompiledPolicy)
    assert policy.compiled.version == policy.version
    assert "CompiledPolicy" not in repr(policy)
    again = load_policy(SOURCE_POLICY_DIR)
    assert again == policy and again.compiled is not policy.compiled
    assert compile_policy(policy).tables == policy.compiled.tables


def test_shares_are_decided_by_the_tables_not_the_interpreter(
    policy: PolicySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> Decision:
        raise AssertionError("the interpreter was asked")

    monkeypatch.setattr(engine, "interpret", refuse)
    monkeypatch.setattr(compiled_module, "interpret", refuse)
    fresh = load_policy(SOURCE_POLICY_DIR)
    service = PolicyService(None, None, SOURCE_POLICY_DIR, fresh)  # type: ignore[arg-type]
    for share in bench_requests(200, seed=1):
        decision = service.decide(share)
        assert decision is evaluate(fresh, share)  # the memo stays in front of the tables
        assert decision == fresh.compiled.decide(share)


def test_identical_tells_an_outcome_from_its_plain_string(policy: PolicySet) -> None:
    decision = policy.compiled.decide(CASES[0].request)
    loose = replace(decision, outcome=decision.outcome.value)  # type: ignore[arg-type]
    assert loose == decision and not identical(loose, decision)
    assert identical(decision, replace(decision))


def test_the_case_tables_report_a_compiled_form_that_strays(policy: PolicySet) -> None:
    strayed = replace(policy)

    def decide(share: ShareRequest) -> Decision:
        return replace(interpret(strayed, share), rules=())

    object.__setattr__(strayed, "compiled", CompiledPolicy(policy.compiled.tables, decide))
    case = next(c for c in CASES if c.expect is Outcome.PERMIT)
    assert run_case(policy, case).passed
    assert run_case(strayed, case).problems[0] == (
        "the compiled policy decides differently from the reference interpreter"
    )
