"""Reading policies/*.toml into one frozen, precompiled PolicySet.

A bad file is refused with its name, the line and the reason; the hub will not start on it.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hub.errors import ConfigError
from hub.model.directory import KIND_OF_TYPE, AgencyKind, AgencyType, Role
from hub.policy.policyset import (
    ANY,
    Agreement,
    ApprovalRule,
    Boundary,
    Category,
    Channel,
    Condition,
    DataProtection,
    LawfulBasis,
    PacketTypePolicy,
    PolicyDocument,
    PolicySet,
    Purpose,
    RecipientRule,
    Restricted,
    Term,
)
from hub.policy.statistics import build_statistics
from hub.policy.transfer import build_transfer

__all__ = [
    "Agreement",
    "ApprovalRule",
    "Boundary",
    "Category",
    "Channel",
    "Condition",
    "DataProtection",
    "LawfulBasis",
    "PacketTypePolicy",
    "PolicyDocument",
    "PolicyError",
    "PolicySet",
    "Purpose",
    "RecipientRule",
    "Restricted",
    "Term",
    "load_policy",
]  # fmt: skip

FILES = (
    "catalogue.toml",
    "lawful_bases.toml",
    "agreements.toml",
    "packet_types.toml",
    "necessity.toml",
    "proportionality.toml",
    "approvals.toml",
    "channels.toml",
    "conditions.toml",
    "boundaries.toml",
    "transfer.toml",
    "statistics.toml",
)
JURISDICTIONS = ("england-and-wales", "scotland", "northern-ireland")
NATURES = ("duty", "power", "presumption")
LEVELS = (1, 2, 3)
CATEGORIES = (1, 2, 3)


class PolicyError(ConfigError):
    code = "policy_error"

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}", key="policy_dir")
        self.file, self.line, self.reason = file, line, reason


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
        except RecursionError:  # tomllib recurses into nested arrays and inline tables
            raise PolicyError(name, 1, "arrays or tables nested too deeply") from None

    def line_of(self, *needles: str) -> int:
        for needle in needles:
            for number, line in enumerate(self.lines, 1):
                if needle in line:
                    return number
        return 1

    def fail(self, reason: str, *needles: str) -> PolicyError:
        return PolicyError(self.name, self.line_of(*needles), reason)

    def line_in(self, where: str, field: str, needle: str) -> int:
        """The line of ``field = [... needle ...]`` inside the table ``[where]``, or failing that
        the table's header: where the fault is, not the first mention anywhere in the file."""
        header = next(
            (n for n, line in enumerate(self.lines, 1) if line.strip() == f"[{where}]"), None
        )
        if header is None:
            return self.line_of(needle)
        for number in range(header, len(self.lines)):
            line = self.lines[number].strip()
            if line.startswith("["):
                break
            if line.startswith((f"{field} ", f"{field}=")) and needle in line:
                return number + 1
        return header

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

    def flag(
        self, entry: dict[str, Any], field: str, where: str, *, required: bool = False
    ) -> bool:
        value = entry.get(field, None if required else False)
        if not isinstance(value, bool):
            raise self.fail(f"{where}: '{field}' must be true or false", f"[{where}]", where)
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
                raise PolicyError(
                    self.name,
                    self.line_in(where, field, f'"{item}"'),
                    f"{where}: unknown name '{item}' in '{field}'",
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
        n: Purpose(
            n,
            cat.text_field(e, "label", f"purposes.{n}"),
            cat.text_field(e, "dpv", f"purposes.{n}", ""),
            cat.flag(e, "law_enforcement", f"purposes.{n}", required=True),
        )
        for n, e in cat.entries("purposes")
    }
    categories = {}
    for n, e in cat.entries("data_categories"):
        where = f"data_categories.{n}"
        if "special" in e:
            raise cat.fail(
                f"{where}: 'special' is replaced by special_category (UK GDPR Art 9) and "
                "criminal_offence (Art 10)",
                f"[{where}]",
            )
        categories[n] = Category(
            n,
            cat.text_field(e, "label", where),
            cat.text_field(e, "dpv", where, ""),
            cat.flag(e, "special_category", where),
            cat.flag(e, "criminal_offence", where),
        )

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

    parties = [*kinds, *agency_types]
    lb = f["lawful_bases.toml"]
    if "schedule1_conditions" in lb.doc:
        raise lb.fail(
            "[schedule1_conditions] moved to conditions.toml as [conditions.*]",
            "[schedule1_conditions",
        )
    lawful_bases = {}
    for n, e in lb.entries("lawful_bases"):
        where = f"lawful_bases.{n}"
        if "special" in e:
            raise lb.fail(
                f"{where}: a gateway never covers special category or criminal offence data by "
                "itself ('special' is not allowed): the condition is in conditions.toml",
                f"[{where}]",
            )
        nature = lb.text_field(e, "nature", where)
        if nature not in NATURES:
            raise lb.fail(f"{where}: nature must be one of {', '.join(NATURES)}", f"[{where}]")
        lawful_bases[n] = LawfulBasis(
            n,
            lb.text_field(e, "label", where),
            lb.text_field(e, "dpv", where, ""),
            lb.text_field(e, "statute", where, ""),
            nature,
            lb.names(e, "jurisdictions", where, JURISDICTIONS) or frozenset(),
            lb.names(e, "relied_on_by", where, [*parties, ANY]) or frozenset(),
            lb.names(e, "recipients", where, parties) or frozenset(),
            lb.names(e, "purposes", where, purposes) or frozenset(),
            lb.flag(e, "legitimate_interests", where),
            lb.flag(e, "overrides_confidence", where),
        )

    co = f["conditions.toml"]
    documents = {
        n: PolicyDocument(
            n,
            co.text_field(e, "title", f"policy_documents.{n}"),
            co.text_field(e, "uri", f"policy_documents.{n}"),
            co.text_field(e, "version", f"policy_documents.{n}"),
        )
        for n, e in co.entries("policy_documents")
    }
    conditions = {}
    for n, e in co.entries("conditions"):
        where = f"conditions.{n}"
        schedule = e.get("schedule")
        if type(schedule) is not int or schedule not in (1, 8):
            raise co.fail(f"{where}: schedule must be 1 or 8", f"[{where}]")
        part = e.get("part")
        if schedule == 1 and (type(part) is not int or part not in (1, 2, 3)):
            raise co.fail(f"{where}: a Schedule 1 condition needs part = 1, 2 or 3", f"[{where}]")
        if schedule == 8 and part is not None:
            raise co.fail(f"{where}: Schedule 8 has no parts", f"[{where}]")
        document = e.get("policy_document")
        if document is not None and (not isinstance(document, str) or document not in documents):
            raise co.fail(f"{where}: unknown policy document '{document}'", f'"{document}"')
        if schedule == 8 and document is None:
            raise co.fail(
                f"{where}: every Schedule 8 condition needs an appropriate policy document "
                "(DPA 2018 s35(5)(c), s42)",
                f"[{where}]",
            )
        conditions[n] = Condition(
            n,
            co.text_field(e, "label", where),
            co.text_field(e, "dpv", where, ""),
            co.text_field(e, "statute", where, ""),
            schedule,
            part,
            co.names(e, "purposes", where, purposes) or frozenset(),
            document,
            co.names(e, "relied_on_by", where, agency_types) if "relied_on_by" in e else None,
        )
    regimes = co.table("regimes")
    for name in ("law-enforcement", "general"):
        if not isinstance(regimes.get(name), dict):
            raise co.fail(f"[regimes.{name}] is missing", "[regimes")
    law, general = regimes["law-enforcement"], regimes["general"]
    confidence = co.table("confidence")
    confidence_part = co.text_field(confidence, "part", "confidence")
    data_protection = DataProtection(
        co.names(law, "competent_authorities", "regimes.law-enforcement", agency_types)
        or frozenset(),
        co.text_field(law, "label", "regimes.law-enforcement"),
        co.text_field(general, "label", "regimes.general"),
        co.text_field(general, "dpv", "regimes.general", ""),
        co.names(co.table("public_authorities"), "agency_types", "public_authorities", agency_types)
        or frozenset(),
        co.names(confidence, "owed_by", "confidence", agency_types) or frozenset(),
        confidence_part,
        co.text_field(confidence, "label", "confidence"),
    )

    nec = f["necessity.toml"]
    parts = {n: nec.text_field(e, "label", f"parts.{n}") for n, e in nec.entries("parts")}
    min_chars = nec.doc.get("min_chars", 20)
    # type(...) is int: TOML's true is not a number (Python would take it as 1).
    if type(min_chars) is not int or min_chars < 0:
        raise nec.fail("min_chars must be a whole number", "min_chars")
    outside = (
        nec.names(nec.table("outside_mappa"), "recipient_kinds", "outside_mappa", kinds)
        or frozenset()
    )
    outside_parts = (
        nec.names(nec.table("outside_mappa"), "parts", "outside_mappa", parts) or frozenset()
    )
    strict_parts = (
        nec.names(nec.table("strictly_necessary"), "parts", "strictly_necessary", parts)
        or frozenset()
    )
    if confidence_part not in parts:
        raise PolicyError(
            co.name,
            co.line_in("confidence", "part", f'"{confidence_part}"'),
            f"confidence: part '{confidence_part}' is not in necessity.toml",
        )

    pt = f["packet_types.toml"]
    packet_types = {}
    for n, e in pt.entries("packet_types"):
        where = f"packet_types.{n}"
        years = e.get("retention_years")
        if type(years) is not int or years <= 0:
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
        if levels is not None and (
            not isinstance(levels, list)
            or not all(type(v) is int for v in levels)  # not true, not a list (unhashable)
            or not set(levels) <= set(LEVELS)
        ):
            raise ap.fail(f"{where}: levels must be a list of 1, 2 or 3", needle)
        count = e.get("count", 1)
        if type(count) is not int or count < 1:
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

    bo = f["boundaries.toml"]

    def boundary(key: str, approvals: bool) -> Boundary:
        entry = bo.table(key)
        return Boundary(
            bo.text_field(entry, "label", key),
            agreement_of(bo, entry, key),
            bo.names(entry, "travels", key, packet_types) or frozenset(),
            tuple(sorted(bo.names(entry, "approvers", key, roles) or ())) if approvals else (),
        )

    other_area = boundary("other_area", True)
    other_jurisdiction = boundary("other_jurisdiction", False)

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
        conditions=MappingProxyType(conditions),
        policy_documents=MappingProxyType(documents),
        data_protection=data_protection,
        agreements=MappingProxyType(agreements),
        packet_types=MappingProxyType(packet_types),
        necessity_parts=MappingProxyType(parts),
        necessity_min_chars=min_chars,
        outside_mappa_kinds=outside,
        outside_mappa_parts=outside_parts,
        strictly_necessary_parts=strict_parts,
        other_area=other_area,
        other_jurisdiction=other_jurisdiction,
        recipients=MappingProxyType(recipients),
        restricted=MappingProxyType(restricted),
        approval_rules=tuple(approval_rules),
        approver_is_never_proposer=bool(ap.doc.get("approver_is_never_proposer", True)),
        delegated_decisions=bool(ap.doc.get("delegated_decisions", False)),
        channels=MappingProxyType(channels),
        allowed=MappingProxyType(allowed),
        statistics=build_statistics(f["statistics.toml"]),
        transfer=build_transfer(
            f["transfer.toml"],
            agency_types=agency_types,
            roles=roles,
            lawful_bases=lawful_bases,
            agreements=agreements,
        ),
    )


def kind_of(agency_type: str) -> str:
    return KIND_OF_TYPE[AgencyType(agency_type)].value
