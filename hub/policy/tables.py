"""The lookup tables a policy version compiles to (hub.policy.compiled decides over them).

Each table holds, for every combination of names the version knows, what ``engine.interpret``
would produce: rule names, reasons worded exactly as it words them, approvals, and whole
TestResults where a test's outcome depends on nothing else. Sets of agency kinds and of data
categories are bit masks, so that they index tables and are tested with one ``&``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.model.directory import KIND_OF_TYPE
from hub.policy.lawful import KIND_LABEL
from hub.policy.model import ApprovalNeed, Test, TestResult

if TYPE_CHECKING:
    from hub.policy.loader import PolicySet

LEVELS = (1, 2, 3)
# A passed test carries nothing but its name, so one instance serves every decision.
PASSED = {t: TestResult(t, True, ()) for t in Test}

# A category a recipient may not receive: (restricted rule or None, its agreement or None,
# whether a stated reason turns the refusal into an approval, reason).
Denial = tuple[str | None, str | None, bool, str]
# (recipient kinds mask, level or None, restricted override) -> (rule, agreement) fired, approvals.
Approvals = Mapping[
    tuple[int, int | None, bool],
    tuple[tuple[tuple[str, str | None], ...], tuple[ApprovalNeed, ...]],
]


def _result(test: Test, reasons: Iterable[str]) -> TestResult:
    why = tuple(reasons)
    return TestResult(test, False, why) if why else PASSED[test]


@dataclass(frozen=True, slots=True)
class Parts:
    """The necessity parts a share must state: each with its bit, and the necessary test's
    result by the mask of parts missing."""

    bits: tuple[tuple[str, int], ...]
    results: tuple[TestResult, ...]


@dataclass(frozen=True, slots=True)
class Packet:
    rule: str
    names: frozenset[str]  # the necessity parts it asks for
    parts: Parts
    forbidden_mask: int  # categories it may not carry
    forbidden: Mapping[str, str]  # ... and the reason for each
    retention_years: int


# What the proportionality rule for one recipient type says at one level and MAPPA category:
# (rule name, its agreement or None, mask of the categories refused, the refusals).
Recipient = tuple[str, str | None, int, Mapping[str, Denial]]


@dataclass(frozen=True, slots=True)
class Channel:
    rule: str
    agreement: str | None
    refused_mask: int  # categories it may not carry
    refused: Mapping[str, str]
    kinds: tuple[tuple[str, ...], ...]  # by recipient kinds mask: the kinds it does not reach
    results: tuple[TestResult, ...]  # by recipient kinds mask, when no category is refused


@dataclass(frozen=True, slots=True)
class Tables:
    version: str
    type_bit: Mapping[str, int]  # agency type -> its kind's bit
    kind_of: Mapping[str, str]  # agency type -> kind
    category_bit: Mapping[str, int]
    packets: Mapping[str, Packet]
    outside_mask: int  # recipient kinds outside MAPPA: every part needed
    recipients: Mapping[int, Mapping[str, Recipient]]  # by level * 4 + MAPPA category, type
    channels: Mapping[str, Channel]
    approvals: Approvals
    approval_levels: frozenset[int]
    accountable: Mapping[tuple[bool, bool], TestResult]  # (sharing role, no recipient)


def build(policy: PolicySet) -> Tables:
    categories = policy.categories
    lower = {c: term.label.lower() for c, term in categories.items()}
    category_bit = {c: 1 << i for i, c in enumerate(categories)}
    kind_of = {t.value: k.value for t, k in KIND_OF_TYPE.items()}
    kinds = sorted(set(kind_of.values()))
    bit = {k: 1 << i for i, k in enumerate(kinds)}
    # The kinds in each mask, sorted as the reference iterates them.
    kinds_in = [tuple(k for k in kinds if m & bit[k]) for m in range(1 << len(kinds))]
    approvals = _approvals(policy, kinds_in)
    return Tables(
        version=policy.version,
        type_bit={t: bit[k] for t, k in kind_of.items()},
        kind_of=kind_of,
        category_bit=category_bit,
        packets=_packets(policy, lower, category_bit),
        outside_mask=sum(bit[k] for k in policy.outside_mappa_kinds if k in bit),
        recipients=_recipients(policy, lower, category_bit),
        channels=_channels(policy, lower, category_bit, kinds_in),
        approvals=approvals,
        approval_levels=frozenset(level for _, level, _ in approvals if level is not None),
        accountable={
            (role, empty): _result(
                Test.ACCOUNTABLE,
                (["Your role cannot propose a share of case information."] if not role else [])
                + (["Name at least one recipient."] if empty else []),
            )
            for role in (False, True)
            for empty in (False, True)
        },
    )


def make_parts(policy: PolicySet, parts: Iterable[str]) -> Parts:
    labels, minimum = policy.necessity_parts, policy.necessity_min_chars
    ordered = sorted(set(parts))
    reasons = [
        f"State {labels[p][:1].lower()}{labels[p][1:]} (at least {minimum} characters)."
        for p in ordered
    ]
    return Parts(
        tuple((p, 1 << i) for i, p in enumerate(ordered)),
        tuple(
            _result(Test.NECESSARY, (why for i, why in enumerate(reasons) if missing & 1 << i))
            for missing in range(1 << len(ordered))
        ),
    )


def _packets(
    policy: PolicySet, lower: Mapping[str, str], category_bit: Mapping[str, int]
) -> dict[str, Packet]:
    out = {}
    for name, pt in policy.packet_types.items():
        forbidden = {
            c: f"{pt.label} cannot carry {lower[c]}." for c in lower if c not in pt.categories
        }
        out[name] = Packet(
            f"packet_types.{pt.name}",
            frozenset(pt.necessity),
            make_parts(policy, pt.necessity),
            sum(category_bit[c] for c in forbidden),
            forbidden,
            pt.retention_years,
        )
    return out


def _recipients(
    policy: PolicySet, lower: Mapping[str, str], category_bit: Mapping[str, int]
) -> dict[int, dict[str, Recipient]]:
    out: dict[int, dict[str, Recipient]] = {}
    for level in LEVELS:
        for mappa_category in LEVELS:
            row = out[level * 4 + mappa_category] = {}
            for agency_type, rule in policy.recipients.items():
                allowed = policy.allowed[(agency_type, level, mappa_category)]
                denied = {
                    c: _denial(policy, rule.label, c, lower[c], level)
                    for c in lower
                    if c not in allowed
                }
                row[agency_type] = (
                    f"proportionality.{agency_type}.level-{level}",
                    rule.agreement or None,
                    sum(category_bit[c] for c in denied),
                    denied,
                )
    return out


def _denial(policy: PolicySet, recipient: str, category: str, label: str, level: int) -> Denial:
    restricted = policy.restricted.get(category)
    if restricted is None:
        return (None, None, False, f"{recipient} may not receive {label} for a level {level} case.")
    review = restricted.with_reason == "review"
    hint = " State the reason it must go to them; a coordinator then decides." if review else ""
    return (
        f"restricted.{category}",
        restricted.agreement or None,
        review,
        f"{restricted.label}: {recipient} may not receive it.{hint}",
    )


def _channels(
    policy: PolicySet,
    lower: Mapping[str, str],
    category_bit: Mapping[str, int],
    kinds_in: list[tuple[str, ...]],
) -> dict[str, Channel]:
    out = {}
    for name, ch in policy.channels.items():
        carries, reaches = ch.categories, ch.recipient_kinds
        refused = {
            c: f"{ch.label} cannot carry {lower[c]}: send it as a packet through the hub."
            for c in lower
            if carries is not None and c not in carries
        }
        kinds = tuple(
            tuple(
                f"{ch.label} is not a channel to {KIND_LABEL[k]}."
                for k in ks
                if reaches is not None and k not in reaches
            )
            for ks in kinds_in
        )
        out[name] = Channel(
            f"channels.{ch.name}",
            ch.agreement or None,
            sum(category_bit[c] for c in refused),
            refused,
            kinds,
            tuple(_result(Test.SECURE, why) for why in kinds),
        )
    return out


def _approvals(policy: PolicySet, kinds_in: list[tuple[str, ...]]) -> Approvals:
    rules = policy.approval_rules
    levels: list[int | None] = [None]
    levels.extend(sorted(set().union(*(r.levels for r in rules if r.levels is not None))))
    needs = [tuple(ApprovalNeed(r.id, role, r.count) for role in r.approvers) for r in rules]
    out = {}
    for m, ks in enumerate(kinds_in):
        for level in levels:
            for override in (False, True):
                fired: list[tuple[str, str | None]] = []
                got: list[ApprovalNeed] = []
                for rule, need in zip(rules, needs, strict=True):
                    if rule.recipient_kinds is not None and not rule.recipient_kinds & set(ks):
                        continue
                    if rule.levels is not None and level not in rule.levels:
                        continue
                    if rule.restricted_override and not override:
                        continue
                    fired.append((f"approvals.{rule.id}", rule.agreement or None))
                    got.extend(need)
                out[(m, level, override)] = (tuple(fired), tuple(got))
    return out
