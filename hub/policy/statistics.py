"""policies/statistics.toml: what the statistics publish and the areas' populations.

Parsed with the other policy files (``hub.policy.loader``): a bad file is refused at start-up and
by ``mappa-hub policy check`` with its line and reason, and is part of the policy version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the loader imports this module; its file reader is only a type here
    from hub.policy.loader import _File


@dataclass(frozen=True)
class Population:
    people: int
    year: int
    source: str


@dataclass(frozen=True)
class StatisticsPolicy:
    # In anything marked for publication, a count above zero and below this is suppressed.
    suppress_below: int
    suppression_label: str
    populations: Mapping[str, Population]


def build_statistics(f: _File) -> StatisticsPolicy:
    doc = f.doc
    pub = doc.get("publication")
    if not isinstance(pub, dict):
        raise f.fail("[publication] is required", "[publication]")
    below = pub.get("suppress_below")
    if type(below) is not int or not 1 <= below <= 100:
        raise f.fail("publication.suppress_below is a whole number from 1 to 100", "suppress_below")
    label = pub.get("label")
    if not isinstance(label, str) or not label.strip():
        raise f.fail("publication.label says in words what is suppressed and why", "[publication]")
    populations: dict[str, Population] = {}
    tables = doc.get("populations", {})
    if not isinstance(tables, dict):
        raise f.fail("[populations] is a table of areas", "populations")
    for code, entry in tables.items():
        if not isinstance(entry, dict):
            raise f.fail(f"[populations.{code}] is a table", f"[populations.{code}]")
        people, year, source = entry.get("people"), entry.get("year"), entry.get("source")
        if type(people) is not int or people <= 0:
            raise f.fail(
                f"populations.{code}.people is a positive whole number", f"[populations.{code}]"
            )
        if type(year) is not int or not 1990 <= year <= 2100:
            raise f.fail(
                f"populations.{code}.year is the year of the estimate", f"[populations.{code}]"
            )
        if not isinstance(source, str) or not source.strip():
            raise f.fail(f"populations.{code}.source names where the figure comes from",
                         f"[populations.{code}]")  # fmt: skip
        populations[code.upper()] = Population(people, year, source.strip())
    return StatisticsPolicy(below, label.strip(), MappingProxyType(populations))
