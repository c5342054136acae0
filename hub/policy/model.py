"""What the policy engine is asked, and what it answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any


class Outcome(StrEnum):
    """The MAIS draft standard's three answers to a sharing request."""

    PERMIT = "PERMIT"
    DENY = "DENY"
    REVIEW = "REVIEW"

    @property
    def plain(self) -> str:
        return {"PERMIT": "allow", "DENY": "deny", "REVIEW": "needs approval"}[self.value]


class Test(StrEnum):
    """The five tests of MAPPA Guidance para 83."""

    LAWFUL = "lawful"
    NECESSARY = "necessary"
    PROPORTIONATE = "proportionate"
    SECURE = "secure"
    ACCOUNTABLE = "accountable"

    @property
    def label(self) -> str:
        return {
            "lawful": "Lawful authority",
            "necessary": "Necessary",
            "proportionate": "Proportionate",
            "secure": "Secure",
            "accountable": "Accountable",
        }[self.value]


@dataclass(frozen=True)
class Party:
    """One recipient agency as the policy sees it: its type, its MAPPA area and jurisdiction, and
    whether it is already active on the case. An empty area or jurisdiction is the sender's."""

    agency_type: str
    area: str = ""
    jurisdiction: str = ""
    active: bool = False


@dataclass(frozen=True)
class ShareRequest:
    """A share to decide. Agency types and roles are the directory's names (hub.model.directory).

    Recipients are given as ``recipients`` (one Party per agency, with its area and whether it is
    active on the case) or, for a share within the sender's area, as ``recipient_types`` alone;
    either way ``recipient_types`` ends up the sorted distinct types and ``recipients`` the parties.
    """

    sender_type: str
    sender_role: str
    recipient_types: tuple[str, ...]
    packet_type: str
    data_categories: tuple[str, ...]
    purpose: str
    lawful_basis: str
    mappa_category: int
    mappa_level: int
    channel: str = "hub"
    necessity: Mapping[str, str] = field(default_factory=dict)
    # The DPA 2018 condition cited: Schedule 1 (UK GDPR) or Schedule 8 (Part 3 sensitive
    # processing). The name is the API's and the packet header's, kept from when only Schedule 1
    # was modelled.
    schedule1_condition: str | None = None
    restricted_reason: str | None = None
    sender_area: str = ""
    # The sender's jurisdiction: the share is made under its law.
    jurisdiction: str = "england-and-wales"
    recipients: tuple[Party, ...] = ()

    def __post_init__(self) -> None:
        if self.recipients:
            types = tuple(sorted({p.agency_type for p in self.recipients}))
            object.__setattr__(self, "recipient_types", types)
        else:
            object.__setattr__(
                self, "recipients", tuple(Party(t) for t in dict.fromkeys(self.recipient_types))
            )

    def outside(self) -> tuple[tuple[str, bool], ...]:
        """The recipients outside the case's arrangements: of another area and not active on
        the case, as (agency type, of another jurisdiction too), sorted."""
        return self._outside

    @cached_property
    def _outside(self) -> tuple[tuple[str, bool], ...]:
        # Worked out once per request: the memo key and the decision both ask.
        return tuple(
            sorted(
                {
                    (p.agency_type, bool(p.jurisdiction) and p.jurisdiction != self.jurisdiction)
                    for p in self.recipients
                    if p.area and p.area != self.sender_area and not p.active
                }
            )
        )


@dataclass(frozen=True)
class TestResult:
    test: Test
    passed: bool
    # Why it failed and what would satisfy it; empty when passed.
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApprovalNeed:
    rule: str
    role: str
    count: int
    # Whose area the approver must belong to: "sender" (the sender's area, which owns the case)
    # or "recipient" (each area a recipient outside the case's arrangements belongs to).
    area: str = "sender"


@dataclass(frozen=True)
class AgreementRef:
    id: str
    uri: str
    version: str

    def __str__(self) -> str:
        return f"{self.uri} (version {self.version})"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    tests: tuple[TestResult, ...]
    rules: tuple[str, ...]
    approvals: tuple[ApprovalNeed, ...]
    agreements: tuple[AgreementRef, ...]
    policy_version: str
    retention_years: int | None = None
    approver_is_never_proposer: bool = True
    # The share in W3C DPV terms: purpose, legal basis and personal-data categories.
    dpv: Mapping[str, Any] = field(default_factory=dict)
    # The data protection route: regime, condition, appropriate policy document, the gateway's
    # nature and the duty of confidence (hub.policy.engine).
    data_protection: Mapping[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> tuple[TestResult, ...]:
        return tuple(t for t in self.tests if not t.passed)

    def message(self) -> str:
        """What a user is told: which tests failed and what would satisfy them."""
        if self.outcome is Outcome.PERMIT:
            return "The policy allows this share."
        if self.outcome is Outcome.REVIEW:
            who = ", ".join(
                f"{a.count} {a.role}"
                + (" of the recipient's area" if a.area == "recipient" else "")
                for a in self.approvals
            )
            return f"This share needs approval before it can be sent ({who})."
        parts = [f"{t.test.label}: {' '.join(t.reasons)}" for t in self.failed]
        return "The policy refuses this share. " + " ".join(parts)

    def record(self) -> dict[str, Any]:
        """The decision as it travels on a packet's signed header and on the log."""
        return {
            "outcome": self.outcome.value,
            "policy_version": self.policy_version,
            "rules": list(self.rules),
            "tests": {t.test.value: t.passed for t in self.tests},
            "agreements": [{"uri": a.uri, "version": a.version} for a in self.agreements],
            "approvals": [
                {"role": a.role, "count": a.count, "rule": a.rule, "area": a.area}
                for a in self.approvals
            ],
            "dpv": dict(self.dpv),
            "data_protection": dict(self.data_protection),
        }
