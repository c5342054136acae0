"""Reading policies/*.toml into one frozen, precompiled PolicySet.

A bad file is refused with its name, the line and the reason; the hub will not start on it.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hub.errors import ConfigError
from hub.model.directory import KIND_OF_TYPE, AgencyKind, AgencyType, Role
from hub.policy.compiled import CompiledPolicy, compile_policy

FILES = (
    "catalogue.toml",
    "lawful_bases.toml",
    "agreements.toml",
    "packet_types.toml",
    "necessity.toml",
    "proportionality.toml",
    "approvals.toml",
    "channels.toml",
)
LEVELS = (1, 2, 3)
CATEGORIES = (1, 2, 3)
ANY = "*"


class PolicyError(ConfigError):
    code = "policy_error"

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}", key="policy_dir")
        self.file, self.line, self.reason = file, line, reason


@dataclass(frozen=True)
class Term:
    name: str
    label: str
    dpv: str


@dataclass(frozen=True)
class Category(Term):
    special: bool


@dataclass(frozen=True)
class LawfulBasis(Term):
    statute: str
    relied_on_by: frozenset[str]
    recipients: frozenset[str]
    purposes: frozenset[str]
    special: bool


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
    purposes: Mapping[str, Term]
    categories: Mapping[str, Category]
    lawful_bases: Mapping[str, LawfulBasis]
    schedule1_conditions: Mapping[str, Term]
    agreements: Mapping[str, Agreement]
    packet_types: Mapping[str, PacketTypePolicy]
    necessity_parts: Mapping[str, str]
    necessity_min_chars: int
    outside_mappa_kinds: frozenset[str]
    recipients: Mapping[str, RecipientRule]
    restricted: Mapping[str, Restricted]
    approval_rules: tuple[ApprovalRule, ...]
    approver_is_never_proposer: bool
    channels: Mapping[str, Channel]
    # Precompiled: (recipient agency type, level, MAPPA category) -> categories it may receive.
    allowed: Mapping[tuple[str, int, int], frozenset[str]]
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


class _File:
    """One parsed file, able to say on which line a table or key stands."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.text = data.decode("utf-8")
        self.lines = self.text.splitlines()
        try:
            self.doc = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"line (\d+)", str(exc))
            raise PolicyError(name, int(match.group(1)) if match else 1, str(exc)) from None

    def line_of(self, *needles: str) -> int:
        for needle in needles:
            for number, line in enumerate(self.lines, 1):
                if needle in line:
                    return number
        return 1

    def fail(self, reason: str, *needles: str) -> PolicyError:
        return PolicyError(self.name, self.line_of(*needles), reason)

    def table(self, key: str) -> dict[str, Any]:
        value = self.doc.get(key)
        if not isinstance(value, dict) or not value:
            raise self.fail(f"[{key}] is missing or empty", f"[{key}")
        return value

    def entries(self, key: str) -> Iterable[tuple[str, dict[str, Any]]]:
        for name, entry in self.table(key).items():
            if not isinstance(entry, dict):
                raise self.fail(f"{key}.{name} must be a table", f"{name}")
            yield name, entry

    def text_field(
        self, entry: dict[str, Any], field: str, where: str, default: str | None = None
    ) -> str:
        value = entry.get(field, default)
        if not isinstance(value, str):
            raise self.fail(f"{where}: '{field}' must be text", f"[{where}]", where)
        return value

    def names(
        self,
        entry: dict[str, Any],
        field: str,
        where: str,
        known: Iterable[str],
        *,
        allow_any: bool = False,
    ) -> frozenset[str] | None:
        """A list of names, each checked against ``known``; None for ["*"] where allowed."""
        value = entry.get(field)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{where}: '{field}' must be a list of names", f"[{where}]", where)
        if allow_any and value == [ANY]:
            return None
        known_set = set(known)
        for item in value:
            if item not in known_set:
                raise self.fail(
                    f"{where}: unknown name '{item}' in '{field}'", f'"{item}"', f"[{where}]"
                )
        return frozenset(value)


def _digest(files: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name] + b"\0")
    return h.hexdigest()


def load_policy(policy_dir: Path) -> PolicySet:
    raw: dict[str, bytes] = {}
    for name in FILES:
        try:
            raw[name] = (policy_dir / name).read_bytes()
        except FileNotFoundError:
            raise PolicyError(
                name,
                0,
                f"policy file not found in {policy_dir}; set MAPPA_HUB_POLICY_DIR or --policy-dir",
            ) from None
    parsed = {}
    for name, data in raw.items():
        try:
            parsed[name] = _File(name, data)
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise PolicyError(name, line, f"not UTF-8: {exc}") from None
    return _build(parsed, raw)


def _build(f: dict[str, _File], raw: dict[str, bytes]) -> PolicySet:
    agency_types = [t.value for t in AgencyType]
    kinds = [k.value for k in AgencyKind]
    roles = [r.value for r in Role]

    cat = f["catalogue.toml"]
    purposes = {
        n: Term(
            n,
            cat.text_field(e, "label", f"purposes.{n}"),
            cat.text_field(e, "dpv", f"purposes.{n}", ""),
        )
        for n, e in cat.entries("purposes")
    }
    categories = {
        n: Category(
            n,
            cat.text_field(e, "label", f"data_categories.{n}"),
            cat.text_field(e, "dpv", f"data_categories.{n}", ""),
            bool(e.get("special", False)),
        )
        for n, e in cat.entries("data_categories")
    }

    agr = f["agreements.toml"]
    agreements = {
        n: Agreement(
            n,
            agr.text_field(e, "title", f"agreements.{n}"),
            agr.text_field(e, "uri", f"agreements.{n}"),
            agr.text_field(e, "version", f"agreements.{n}"),
        )
        for n, e in agr.entries("agreements")
    }

    def agreement_of(file: _File, entry: dict[str, Any], where: str) -> str:
        name = file.text_field(entry, "agreement", where)
        if name not in agreements:
            raise file.fail(f"{where}: unknown agreement '{name}'", f'"{name}"', f"[{where}]")
        return name

    lb = f["lawful_bases.toml"]
    lawful_bases = {}
    for n, e in lb.entries("lawful_bases"):
        where = f"lawful_bases.{n}"
        lawful_bases[n] = LawfulBasis(
            n,
            lb.text_field(e, "label", where),
            lb.text_field(e, "dpv", where, ""),
            lb.text_field(e, "statute", where, ""),
            lb.names(e, "relied_on_by", where, kinds) or frozenset(),
            lb.names(e, "recipients", where, kinds) or frozenset(),
            lb.names(e, "purposes", where, purposes) or frozenset(),
            bool(e.get("special", False)),
        )
    schedule1 = {
        n: Term(n, lb.text_field(e, "label", f"schedule1_conditions.{n}"), "")
        for n, e in lb.entries("schedule1_conditions")
    }

    nec = f["necessity.toml"]
    parts = {n: nec.text_field(e, "label", f"parts.{n}") for n, e in nec.entries("parts")}
    min_chars = nec.doc.get("min_chars", 20)
    if not isinstance(min_chars, int) or min_chars < 0:
        raise nec.fail("min_chars must be a whole number", "min_chars")
    outside = (
        nec.names(nec.table("outside_mappa"), "recipient_kinds", "outside_mappa", kinds)
        or frozenset()
    )

    pt = f["packet_types.toml"]
    packet_types = {}
    for n, e in pt.entries("packet_types"):
        where = f"packet_types.{n}"
        years = e.get("retention_years")
        if not isinstance(years, int) or years <= 0:
            raise pt.fail(f"{where}: retention_years must be a positive whole number", f"[{where}]")
        packet_types[n] = PacketTypePolicy(
            n,
            pt.text_field(e, "label", where),
            pt.names(e, "categories", where, categories) or frozenset(),
            tuple(sorted(pt.names(e, "necessity", where, parts) or ())),
            years,
        )

    pr = f["proportionality.toml"]
    recipients = {}
    for n, e in pr.entries("recipients"):
        where = f"recipients.{n}"
        if n not in agency_types:
            raise pr.fail(f"{where}: unknown agency type '{n}'", f"[{where}]")
        by_level = {}
        for level in LEVELS:
            by_level[level] = pr.names(e, f"level_{level}", where, categories) or frozenset()
        by_category = {}
        for c in CATEGORIES:
            if f"category_{c}" in e:
                by_category[c] = pr.names(e, f"category_{c}", where, categories) or frozenset()
        recipients[n] = RecipientRule(
            n,
            pr.text_field(e, "label", where),
            agreement_of(pr, e, where),
            MappingProxyType(by_level),
            MappingProxyType(by_category),
        )
    restricted = {}
    for n, e in pr.entries("restricted"):
        where = f"restricted.{n}"
        if n not in categories:
            raise pr.fail(f"{where}: unknown data category '{n}'", f"[{where}]")
        mode = pr.text_field(e, "with_reason", where)
        if mode not in ("review", "deny"):
            raise pr.fail(f'{where}: with_reason must be "review" or "deny"', f"[{where}]")
        restricted[n] = Restricted(
            n, pr.text_field(e, "label", where), agreement_of(pr, e, where), mode
        )

    ap = f["approvals.toml"]
    rules_raw = ap.doc.get("rules")
    if not isinstance(rules_raw, list):
        raise ap.fail("[[rules]] is missing", "[[rules]]")
    approval_rules = []
    seen: set[str] = set()
    # The line of each [[rules]] header, so that a rule without a unique id is named by its own line.
    headers = [n for n, line in enumerate(ap.lines, 1) if line.strip() == "[[rules]]"]
    for index, e in enumerate(rules_raw):
        rid = e.get("id") if isinstance(e, dict) else None
        if not isinstance(rid, str) or rid in seen:
            line = headers[index] if index < len(headers) else ap.line_of("[[rules]]")
            twice = f": '{rid}' is used twice" if isinstance(rid, str) else ""
            raise PolicyError(ap.name, line, f"every [[rules]] needs a unique id{twice}")
        seen.add(rid)
        where = f'rules "{rid}"'
        needle = f'"{rid}"'
        levels = e.get("levels")
        if levels is not None and (not isinstance(levels, list) or not set(levels) <= set(LEVELS)):
            raise ap.fail(f"{where}: levels must be a list of 1, 2 or 3", needle)
        count = e.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise ap.fail(f"{where}: count must be at least 1", needle)
        approvers = ap.names(e, "approvers", where, roles)
        approval_rules.append(
            ApprovalRule(
                rid,
                ap.text_field(e, "label", where),
                agreement_of(ap, e, where),
                ap.names(e, "recipient_kinds", where, kinds) if "recipient_kinds" in e else None,
                frozenset(levels) if levels is not None else None,
                bool(e.get("restricted_override", False)),
                tuple(sorted(approvers or ())),
                count,
            )
        )

    ch = f["channels.toml"]
    channels = {}
    for n, e in ch.entries("channels"):
        where = f"channels.{n}"
        channels[n] = Channel(
            n,
            ch.text_field(e, "label", where),
            ch.names(e, "categories", where, categories, allow_any=True),
            ch.names(e, "recipient_kinds", where, kinds, allow_any=True),
            agreement_of(ch, e, where),
        )
    if "hub" not in channels:
        raise ch.fail("the 'hub' channel must be defined", "[channels")

    allowed = {}
    for agency_type in agency_types:
        rule = recipients.get(agency_type)
        for level in LEVELS:
            for c in CATEGORIES:
                allowed[(agency_type, level, c)] = (
                    rule.by_level[level] | rule.by_category.get(c, frozenset())
                    if rule
                    else frozenset()
                )

    return PolicySet(
        version=_digest(raw),
        files=MappingProxyType(dict(raw)),
        purposes=MappingProxyType(purposes),
        categories=MappingProxyType(categories),
        lawful_bases=MappingProxyType(lawful_bases),
        schedule1_conditions=MappingProxyType(schedule1),
        agreements=MappingProxyType(agreements),
        packet_types=MappingProxyType(packet_types),
        necessity_parts=MappingProxyType(parts),
        necessity_min_chars=min_chars,
        outside_mappa_kinds=outside,
        recipients=MappingProxyType(recipients),
        restricted=MappingProxyType(restricted),
        approval_rules=tuple(approval_rules),
        approver_is_never_proposer=bool(ap.doc.get("approver_is_never_proposer", True)),
        channels=MappingProxyType(channels),
        allowed=MappingProxyType(allowed),
    )


def kind_of(agency_type: str) -> str:
    return KIND_OF_TYPE[AgencyType(agency_type)].value
