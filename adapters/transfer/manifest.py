"""The completeness manifest: what a complete transfer holds (policies/transfer.toml
``[completeness]``) and what a bundle lacks, stated rather than silently omitted."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.errors import ConfigError
from hub.services.transfer_bundle import CaseFacts

if TYPE_CHECKING:
    from hub.wiring import Hub

POLICY_FILE = "transfer.toml"

LABELS = {
    "case-record": "Case record",
    "nominal-record": "Nominal record (ViSOR-style)",
    "risk-assessment": "Latest risk assessment",
    "risk-management-plan": "Risk management plan",
    "meeting-minutes": "Minutes of the last MAPPA meeting",
    "disclosure-register": "Disclosure register",
    "licence-conditions": "Licence conditions (on licence)",
    "packet-keys": "Every packet openable by the receiving agencies",
}


@dataclass(frozen=True)
class Item:
    name: str
    label: str
    present: bool
    detail: str


@dataclass(frozen=True)
class Completeness:
    policy_label: str
    items: tuple[Item, ...]

    @property
    def missing(self) -> list[Item]:
        return [i for i in self.items if not i.present]

    @property
    def complete(self) -> bool:
        return not self.missing

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy_label,
            "complete": self.complete,
            "required": [i.name for i in self.items],
            "items": [i.__dict__ for i in self.items],
            "missing": [i.name for i in self.missing],
        }


def required_items(policy_dir: Path) -> tuple[str, list[str]]:
    path = policy_dir / POLICY_FILE
    try:
        doc = tomllib.loads(path.read_text())
        table = doc["completeness"]
        required = [str(r) for r in table["required"]]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: no usable [completeness] table ({exc})") from None
    unknown = sorted(set(required) - set(LABELS))
    if unknown:
        raise ConfigError(f"{path}: [completeness] required names unknown items {unknown}")
    return str(table.get("label", "")), required


def assess(
    facts: CaseFacts, policy: tuple[str, list[str]], not_rewrapped: Sequence[str] = ()
) -> Completeness:
    label, required = policy
    sections = facts.record_sections

    def item(name: str) -> Item:
        present, detail = _check(name, facts, sections, not_rewrapped)
        return Item(name, LABELS[name], present, detail)

    names = [*required, *(["packet-keys"] if not_rewrapped else [])]
    return Completeness(label, tuple(item(n) for n in names))


def _check(
    name: str, facts: CaseFacts, sections: frozenset[str], not_rewrapped: Sequence[str]
) -> tuple[bool, str]:
    if name == "case-record":
        return True, "the case row, sealed to the receiving agencies"
    if name == "nominal-record":
        return facts.has_record, "sealed to the receiving agencies" if facts.has_record else (
            "the case has no nominal record"
        )
    if name in ("risk-assessment", "risk-management-plan"):
        key = name.replace("-", "_") + ("s" if name == "risk-assessment" else "")
        found = key in sections
        return found, "in the nominal record" if found else "not recorded in the nominal record"
    if name == "meeting-minutes":
        if facts.last_meeting is None:
            return False, "no MAPPA meeting is recorded for the case"
        if facts.last_minutes_packet is None:
            return False, f"the meeting of {facts.last_meeting.isoformat()} has no minutes yet"
        return True, f"packet {facts.last_minutes_packet} ({facts.last_meeting.isoformat()})"
    if name == "disclosure-register":
        return True, f"{facts.register_rows} row(s)"
    if name == "licence-conditions":
        if not facts.on_licence:
            return True, "not on licence: none required"
        found = "licence_conditions" in sections
        return found, "in the nominal record" if found else "on licence, but none recorded"
    # packet-keys
    return False, (
        f"{len(not_rewrapped)} packet(s) sealed with keys an agency's own system holds: "
        "carried encrypted, not openable by the receiving agencies: " + ", ".join(not_rewrapped)
    )


async def completeness(hub: Hub, case_id: int) -> Completeness:
    """What a bundle of the case would hold and lack, for the coordinator before sending."""
    from adapters.transfer.bag import bundle_service

    facts = await bundle_service(hub).facts(case_id)
    return assess(facts, required_items(hub.config.policy_dir))
