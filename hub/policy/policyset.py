"""The loaded form of a policy version: frozen objects built by hub.policy.loader from the files.

Each class is one kind of rule as policies/README.md describes it; PolicySet holds them all,
with the version's compiled lookup tables and its decision memo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hub.policy.compiled import CompiledPolicy, compile_policy
from hub.policy.statistics import StatisticsPolicy
from hub.policy.transfer import TransferPolicy

ANY = "*"


@dataclass(frozen=True)
class Term:
    name: str
    label: str
    dpv: str


@dataclass(frozen=True)
class Purpose(Term):
    law_enforcement: bool  # a law enforcement purpose (DPA 2018 s31)


@dataclass(frozen=True)
class Category(Term):
    special_category: bool  # UK GDPR Art 9; sensitive processing under DPA 2018 Part 3
    criminal_offence: bool  # UK GDPR Art 10, DPA 2018 s11(2)


@dataclass(frozen=True)
class LawfulBasis(Term):
    """A gateway in law: who may rely on it, for whom, for what, and where the law runs."""

    statute: str
    nature: str  # duty, power or presumption
    jurisdictions: frozenset[str]
    relied_on_by: frozenset[str]  # kinds and agency types; "*" for any person
    recipients: frozenset[str]  # kinds and agency types
    purposes: frozenset[str]
    legitimate_interests: bool
    # The law compels the disclosure (e.g. Care Act 2014 s45): an exception to confidence.
    overrides_confidence: bool = False

    def relied_on(self, agency_type: str, kind: str | None) -> bool:
        return ANY in self.relied_on_by or bool({agency_type, kind} & self.relied_on_by)

    def reaches(self, agency_type: str, kind: str | None) -> bool:
        return ANY in self.recipients or bool({agency_type, kind} & self.recipients)


@dataclass(frozen=True)
class PolicyDocument:
    id: str
    title: str
    uri: str
    version: str


@dataclass(frozen=True)
class Condition(Term):
    """A DPA 2018 Schedule 1 or Schedule 8 condition."""

    statute: str
    schedule: int  # 1 (UK GDPR) or 8 (Part 3 sensitive processing)
    part: int | None  # Schedule 1 part: 1 and 2 carry special category data, 3 does not
    purposes: frozenset[str]
    policy_document: str | None
    # Agency types that may rely on it (None: any), e.g. Sch 1 para 2 needs processing by or
    # under a health or social work professional (UK GDPR Art 9(3), DPA 2018 s11(1)).
    relied_on_by: frozenset[str] | None = None


@dataclass(frozen=True)
class DataProtection:
    """conditions.toml: which regime applies, to whom, and the duty of confidence."""

    competent_authorities: frozenset[str]
    law_enforcement_label: str
    general_label: str
    general_dpv: str
    public_authorities: frozenset[str]
    confidence_owed_by: frozenset[str]
    confidence_part: str
    confidence_label: str


@dataclass(frozen=True)
class Boundary:
    """boundaries.toml: a share leaving the sender's area (or jurisdiction)."""

    label: str
    agreement: str
    travels: frozenset[str]  # packet types that cross without approval
    approvers: tuple[str, ...]  # per area; empty for other_jurisdiction (refused)


@dataclass(frozen=True)
class Agreement:
    id: str
    title: str
    uri: str
    version: str


@dataclass(frozen=True)
class PacketTypePolicy:
    name: str
    label: str
    categories: frozenset[str]
    necessity: tuple[str, ...]
    retention_years: int


@dataclass(frozen=True)
class RecipientRule:
    agency_type: str
    label: str
    agreement: str
    by_level: Mapping[int, frozenset[str]]
    by_category: Mapping[int, frozenset[str]]


@dataclass(frozen=True)
class Restricted:
    category: str
    label: str
    agreement: str
    with_reason: str  # "review" or "deny"


@dataclass(frozen=True)
class ApprovalRule:
    id: str
    label: str
    agreement: str
    recipient_kinds: frozenset[str] | None
    levels: frozenset[int] | None
    restricted_override: bool
    approvers: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class Channel:
    name: str
    label: str
    categories: frozenset[str] | None  # None: any
    recipient_kinds: frozenset[str] | None
    agreement: str


@dataclass(frozen=True)
class PolicySet:
    version: str  # SHA-256 over every file: the policy version on every decision
    files: Mapping[str, bytes]
    purposes: Mapping[str, Purpose]
    categories: Mapping[str, Category]
    lawful_bases: Mapping[str, LawfulBasis]
    conditions: Mapping[str, Condition]
    policy_documents: Mapping[str, PolicyDocument]
    data_protection: DataProtection
    agreements: Mapping[str, Agreement]
    packet_types: Mapping[str, PacketTypePolicy]
    necessity_parts: Mapping[str, str]
    necessity_min_chars: int
    outside_mappa_kinds: frozenset[str]
    outside_mappa_parts: frozenset[str]  # parts every share outside MAPPA states
    strictly_necessary_parts: frozenset[str]  # parts Part 3 sensitive processing states
    other_area: Boundary
    other_jurisdiction: Boundary
    recipients: Mapping[str, RecipientRule]
    restricted: Mapping[str, Restricted]
    approval_rules: tuple[ApprovalRule, ...]
    approver_is_never_proposer: bool
    # Whether an API token may carry a decision on a disclosure or held share for a person
    # (approvals.toml); off unless the policy says so.
    delegated_decisions: bool
    channels: Mapping[str, Channel]
    # Precompiled: (recipient agency type, level, MAPPA category) -> categories it may receive.
    allowed: Mapping[tuple[str, int, int], frozenset[str]]
    # policies/transfer.toml (hub.policy.transfer): None only for a set built without it.
    transfer: TransferPolicy | None = None
    # policies/statistics.toml (hub.policy.statistics): None only for a set built without it.
    statistics: StatisticsPolicy | None = None
    # Decisions already made under this version, by the shape of the request (engine.evaluate).
    # Not an argument, so that a replace() starts with its own, empty memo.
    decisions: dict[tuple[object, ...], object] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    # The set compiled to lookup tables (hub.policy.compiled): built in __post_init__, so that
    # every PolicySet, loaded or made by replace(), decides by tables made from its own fields.
    compiled: CompiledPolicy = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", compile_policy(self))

    @property
    def short_version(self) -> str:
        return self.version[:12]
