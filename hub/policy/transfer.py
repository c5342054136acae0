"""policies/transfer.toml: the transfer workflow's rules and the cross-border mappings.

Parsed with the other policy files (``hub.policy.loader``), so a bad file is refused at start-up
and by ``mappa-hub policy check`` with its line and reason, and is part of the policy version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the loader imports this module; its file reader is only a type here
    from hub.policy.loader import _File

JURISDICTIONS = ("england-and-wales", "scotland", "northern-ireland")
KEEP = frozenset({"packets-already-shared"})
FIELDS = ("category", "level", "agency_type")


@dataclass(frozen=True)
class JurisdictionRules:
    name: str
    label: str
    lawful_basis: str
    agreement: str
    export_to: frozenset[str]
    import_from: frozenset[str]
    categories: frozenset[int]
    levels: frozenset[int]
    agency_types: frozenset[str]

    def uses(self, field: str) -> frozenset[Any]:
        return {
            "category": self.categories,
            "level": self.levels,
            "agency_type": self.agency_types,
        }[field]


@dataclass(frozen=True)
class Mapping_:
    """source -> target jurisdiction: field -> {value: value on the receiving side}."""

    note: str
    values: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class TransferPolicy:
    meeting_label: str
    meeting_required: bool
    meeting_within_days: int
    decision_days: int
    send_days: int
    receive_days: int
    escalate_to: tuple[str, ...]
    after_label: str
    keep: frozenset[str]
    read_days: int
    jurisdictions: Mapping[str, JurisdictionRules]
    mappings: Mapping[tuple[str, str], Mapping_]


def build_transfer(
    f: _File,
    *,
    agency_types: Iterable[str],
    roles: Iterable[str],
    lawful_bases: Iterable[str],
    agreements: Iterable[str],
) -> TransferPolicy:
    types, bases, agrs = set(agency_types), set(lawful_bases), set(agreements)
    meeting = f.table("meeting")
    deadlines = f.table("deadlines")
    after = f.table("after_transfer")

    def days(entry: dict[str, Any], key: str, where: str, low: int = 1) -> int:
        value = entry.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 366:
            raise f.fail(f"{where}: '{key}' must be a whole number of days, {low} to 366", key)
        return value

    escalate = f.names(deadlines, "escalate_to", "deadlines", roles) or frozenset()
    keep = f.names(after, "keep", "after_transfer", KEEP) or frozenset()
    jurisdictions: dict[str, JurisdictionRules] = {}
    for name, e in f.entries("jurisdictions"):
        where = f"jurisdictions.{name}"
        if name not in JURISDICTIONS:
            raise f.fail(f"{where}: unknown jurisdiction '{name}'", f"[{where}]")
        basis = f.text_field(e, "lawful_basis", where)
        if basis not in bases:
            raise f.fail(f"{where}: unknown lawful basis '{basis}'", f"[{where}]")
        agreement = f.text_field(e, "agreement", where)
        if agreement not in agrs:
            raise f.fail(f"{where}: unknown agreement '{agreement}'", f"[{where}]")
        jurisdictions[name] = JurisdictionRules(
            name,
            f.text_field(e, "label", where),
            basis,
            agreement,
            f.names(e, "export_to", where, JURISDICTIONS) or frozenset(),
            f.names(e, "import_from", where, JURISDICTIONS) or frozenset(),
            _numbers(f, e, "categories", where),
            _numbers(f, e, "levels", where),
            f.names(e, "agency_types", where, types) or frozenset(),
        )
    missing = set(JURISDICTIONS) - set(jurisdictions)
    if missing:
        raise f.fail(f"[jurisdictions] must define {', '.join(sorted(missing))}", "[jurisdictions")
    mappings: dict[tuple[str, str], Mapping_] = {}
    for source, targets in f.table("mappings").items():
        if source not in jurisdictions or not isinstance(targets, dict):
            raise f.fail(f"mappings.{source}: unknown jurisdiction", f"[mappings.{source}")
        for target, e in targets.items():
            where = f"mappings.{source}.{target}"
            if target not in jurisdictions or not isinstance(e, dict):
                raise f.fail(f"{where}: unknown jurisdiction", f"[{where}]")
            values: dict[str, dict[str, str]] = {}
            for field in FIELDS:
                table = e.get(field, {})
                if not isinstance(table, dict):
                    raise f.fail(f"{where}: '{field}' must be a table", f"[{where}]")
                checked = {}
                for value, becomes in table.items():
                    _check_value(f, where, field, jurisdictions[source], value, "from")
                    _check_value(f, where, field, jurisdictions[target], becomes, "to")
                    checked[str(value)] = str(becomes)
                values[field] = checked
            mappings[(source, target)] = Mapping_(
                f.text_field(e, "note", where, ""), MappingProxyType(values)
            )
    return TransferPolicy(
        meeting_label=f.text_field(meeting, "label", "meeting"),
        meeting_required=f.flag(meeting, "required", "meeting", required=True),
        meeting_within_days=days(meeting, "within_days", "meeting"),
        decision_days=days(deadlines, "decision", "deadlines"),
        send_days=days(deadlines, "send", "deadlines"),
        receive_days=days(deadlines, "receive", "deadlines"),
        escalate_to=tuple(sorted(escalate)),
        after_label=f.text_field(after, "label", "after_transfer"),
        keep=keep,
        read_days=days(after, "read_days", "after_transfer", low=0),
        jurisdictions=MappingProxyType(jurisdictions),
        mappings=MappingProxyType(mappings),
    )


def _numbers(f: _File, e: dict[str, Any], key: str, where: str) -> frozenset[int]:
    value = e.get(key)
    if not isinstance(value, list) or not value or not all(v in (1, 2, 3) for v in value):
        raise f.fail(f"{where}: '{key}' must be a list of 1, 2 or 3", f"[{where}]")
    return frozenset(int(v) for v in value)


def _check_value(
    f: _File, where: str, field: str, rules: JurisdictionRules, value: object, side: str
) -> None:
    used = {str(v) for v in rules.uses(field)}
    if str(value) not in used:
        raise f.fail(
            f"{where}: {field} '{value}' is not one {rules.name} uses (mapped {side})",
            f"[{where}]",
        )
