"""Cross-border rules for a transfer: the sending side's export rules, the receiving side's
import rules, and the explicit mapping of category, level and agency types between them.

``map_for_jurisdiction`` is what adapters/transfer calls when it builds a bundle (sending side)
and again when it imports one (receiving side): a value the receiving side does not use is mapped
as policies/transfer.toml says, never dropped; with no mapping the transfer is refused, naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from hub.errors import Forbidden, InvalidInput
from hub.policy.policyset import PolicySet
from hub.policy.transfer import JurisdictionRules, TransferPolicy

_FIELD_WORDS = {"category": "MAPPA category", "level": "MAPPA level", "agency_type": "agency type"}


@dataclass(frozen=True)
class Mapped:
    """A case's category, level and agency types as the receiving jurisdiction records them."""

    source: str
    target: str
    category: int
    level: int
    # Each agency type of the sending side -> the type the receiving side records it as.
    agency_types: Mapping[str, str]
    # What changed, in words, for the bundle's manifest and the transfer page.
    changes: tuple[str, ...]
    # The lawful basis each side works under (export, import), from policies/transfer.toml.
    export_basis: str
    import_basis: str


def transfer_policy(policy: PolicySet) -> TransferPolicy:
    if policy.transfer is None:  # pragma: no cover - every loaded set has one
        raise Forbidden("No transfer policy is loaded: transfers are refused.")
    return policy.transfer


def rules_for(policy: PolicySet, jurisdiction: str) -> JurisdictionRules:
    rules = transfer_policy(policy).jurisdictions.get(jurisdiction)
    if rules is None:
        raise Forbidden(f"No transfer rules for the jurisdiction '{jurisdiction}'.")
    return rules


def check_crossing(policy: PolicySet, source: str, target: str) -> None:
    """Both sides' rules apply: the source must allow export to the target, and the target
    import from the source. Raises Forbidden naming the side that refuses."""
    if target not in rules_for(policy, source).export_to:
        raise Forbidden(
            f"The transfer policy for {source} does not allow transfers to {target}.",
            code="transfer_export_refused",
        )
    if source not in rules_for(policy, target).import_from:
        raise Forbidden(
            f"The transfer policy for {target} does not accept transfers from {source}.",
            code="transfer_import_refused",
        )


def map_for_jurisdiction(
    policy: PolicySet,
    source: str,
    target: str,
    *,
    category: int,
    level: int,
    agency_types: Iterable[str] = (),
) -> Mapped:
    """Map a case's category, level and agency types from ``source`` to ``target``.

    Raises Forbidden when either side's rules refuse the crossing, and InvalidInput (code
    ``transfer_unmapped``) naming the first value the target does not use and no mapping covers.
    """
    check_crossing(policy, source, target)
    tp = transfer_policy(policy)
    src, dst = rules_for(policy, source), rules_for(policy, target)
    explicit = tp.mappings.get((source, target))
    changes: list[str] = []

    def one(field: str, value: str) -> str:
        if str(value) not in {str(v) for v in src.uses(field)}:
            raise InvalidInput(
                f"{_FIELD_WORDS[field].capitalize()} {value} is not one {source} uses.",
                code="transfer_unmapped",
                field=field,
            )
        mapped = explicit.values.get(field, {}).get(str(value)) if explicit else None
        if mapped is not None:
            if mapped != str(value):
                changes.append(f"{_FIELD_WORDS[field]} {value} is recorded as {mapped}")
            return mapped
        if source == target or str(value) in {str(v) for v in dst.uses(field)}:
            return str(value)
        raise InvalidInput(
            f"{_FIELD_WORDS[field].capitalize()} {value} is not used in {target} and "
            f"policies/transfer.toml maps it to nothing there: the transfer is refused rather "
            "than drop it.",
            code="transfer_unmapped",
            field=field,
        )

    new_category = int(one("category", str(category)))
    new_level = int(one("level", str(level)))
    types = {t: one("agency_type", t) for t in sorted(set(agency_types))}
    return Mapped(
        source,
        target,
        new_category,
        new_level,
        MappingProxyType(types),
        tuple(changes),
        src.lawful_basis,
        dst.lawful_basis,
    )
