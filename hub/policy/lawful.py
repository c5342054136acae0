"""Test 1, lawful authority: the gateway in law, the reach of the law across area boundaries,
and the data protection route (DPA 2018 Part 3 or UK GDPR) with the condition it needs.

The rules are in policies/lawful_bases.toml, conditions.toml and boundaries.toml; policies/README.md
explains each with its source. ``lawful_test`` is the reference statement of the test:
``engine.interpret`` calls it, and the compiled policy compiles its answers per shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.model.directory import KIND_OF_TYPE, AgencyType
from hub.policy.model import ShareRequest
from hub.policy.statements import long_enough

if TYPE_CHECKING:
    from hub.policy.loader import Category, Condition, LawfulBasis, PolicySet

JURISDICTION_LABEL = {
    "england-and-wales": "England and Wales",
    "scotland": "Scotland",
    "northern-ireland": "Northern Ireland",
}
KIND_LABEL = {
    "responsible-authority": "a Responsible Authority agency",
    "duty-to-cooperate": "a Duty to Cooperate agency",
    "voluntary": "a voluntary partner",
    "third-party": "a third party outside MAPPA",
}


def kind_of(agency_type: str) -> str | None:
    """An agency type's kind, or None for a type the directory does not know."""
    try:
        return KIND_OF_TYPE[AgencyType(agency_type)].value
    except ValueError:
        return None


def regime_of(policy: PolicySet, sender_type: str, purpose: str) -> str:
    """Which regime governs: "law-enforcement" (DPA 2018 Part 3) or "general" (UK GDPR)."""
    term = policy.purposes.get(purpose)
    if (
        sender_type in policy.data_protection.competent_authorities
        and term is not None
        and term.law_enforcement
    ):
        return "law-enforcement"
    return "general"


@dataclass
class LawfulFinding:
    """The lawful test for one request: reasons it fails, rules fired, the data protection route,
    and whether Part 3 sensitive processing makes every strictly-necessary part due."""

    reasons: list[str]
    rules: list[str]
    data_protection: dict[str, Any]
    strictly_necessary: bool


def lawful_test(policy: PolicySet, request: ShareRequest) -> LawfulFinding:
    """Test 1: the gateway (lawful_bases.toml), the boundary of the law's reach
    (boundaries.toml), and the data protection route with its condition (conditions.toml)."""
    reasons: list[str] = []
    rules: list[str] = []
    sender_type, purpose = request.sender_type, request.purpose
    sender_kind = kind_of(sender_type)
    recipient_kinds = {t: kind_of(t) for t in request.recipient_types}
    basis = policy.lawful_bases.get(request.lawful_basis)
    categories = policy.categories
    known = [c for c in dict.fromkeys(request.data_categories) if c in categories]
    dp = policy.data_protection
    jurisdiction = request.jurisdiction
    if purpose not in policy.purposes:
        reasons.append(f"'{purpose}' is not a purpose in the catalogue; choose one from the list.")
    if sender_kind is None:
        reasons.append(f"'{sender_type}' is not a known agency type.")
    if basis is None:
        reasons.append(
            f"'{request.lawful_basis}' is not a lawful basis in the catalogue; "
            "choose one from the list."
        )
    else:
        rules.append(f"lawful_bases.{basis.name}")
        if jurisdiction not in basis.jurisdictions:
            reasons.append(
                f"{basis.label} is not law in {JURISDICTION_LABEL.get(jurisdiction, jurisdiction)}."
                + suggest_bases(policy, request)
            )
        if sender_kind is not None and not basis.relied_on(sender_type, sender_kind):
            reasons.append(
                f"{_sentence(_type_label(sender_type, sender_kind))} cannot rely on "
                f"{basis.label}." + suggest_bases(policy, request)
            )
        for agency_type in sorted(t for t, k in recipient_kinds.items() if k is not None):
            if not basis.reaches(agency_type, recipient_kinds[agency_type]):
                reasons.append(
                    f"{basis.label} does not cover sharing with "
                    f"{_type_label(agency_type, recipient_kinds[agency_type])}."
                    + suggest_bases(policy, request)
                )
        if purpose in policy.purposes and purpose not in basis.purposes:
            reasons.append(f"{basis.label} does not support the purpose '{purpose}'.")
        if basis.legitimate_interests and sender_type in dp.public_authorities:
            reasons.append(
                "Public authorities never rely on legitimate interests (UK GDPR Art 6(1), last "
                "sentence): cite the statutory gateway or common law power you act under."
            )

    # Area boundaries: a recipient of another jurisdiction outside the case's arrangements is
    # beyond the sender's law; the share travels as a request for information or a transfer.
    crossing = [t for t, other in request.outside() if other]
    if crossing:
        boundary = policy.other_jurisdiction
        rules.append("boundaries.other-jurisdiction")
        if request.packet_type not in boundary.travels:
            reasons.append(
                f"{boundary.label}: {', '.join(crossing)} "
                f"{'is' if len(crossing) == 1 else 'are'} not active on this case."
            )

    # The data protection route.
    regime = regime_of(policy, sender_type, purpose)
    rules.append(f"regimes.{regime}")
    special = [c for c in known if categories[c].special_category]
    criminal = [c for c in known if categories[c].criminal_offence]
    cited = request.schedule1_condition
    condition = policy.conditions.get(cited) if cited else None
    record: dict[str, Any] = {
        "regime": regime,
        "basis_nature": basis.nature if basis is not None else None,
        "special_category": bool(special),
        "criminal_offence": bool(criminal),
        "condition": None,
        "policy_document": None,
        "confidence": None,
    }
    strict = False
    if cited and condition is None:
        reasons.append(f"'{cited}' is not a data protection condition the policy knows.")
    if regime == "law-enforcement":
        needed = bool(special)
        strict = needed
        what = "Sensitive processing under DPA 2018 Part 3 (" + _labels(categories, special) + ")"
        schedule = 8
    else:
        needed = bool(special or criminal)
        parts = []
        if special:
            parts.append("special category data (Art 9: " + _labels(categories, special) + ")")
        if criminal:
            parts.append("criminal offence data (Art 10)")
        what = "Under UK GDPR, " + " and ".join(parts)
        schedule = 1
    if needed and cited and condition is not None:
        wrong = _condition_problem(condition, schedule, bool(special), request, policy)
        if wrong:
            reasons.append(wrong + _suggest_conditions(policy, schedule, bool(special), request))
        else:
            rules.append(f"conditions.{condition.name}")
            record["condition"] = condition.name
            if condition.policy_document is not None:
                document = policy.policy_documents[condition.policy_document]
                record["policy_document"] = {"uri": document.uri, "version": document.version}
    elif needed and not cited:
        reasons.append(
            f"{what} needs a DPA 2018 Schedule {schedule} condition: cite one."
            + _suggest_conditions(policy, schedule, bool(special), request)
        )

    # The duty of confidence: health and social care senders apply the public interest test.
    if sender_type in dp.confidence_owed_by:
        part = dp.confidence_part
        if basis is not None and basis.overrides_confidence:
            # A disclosure the law compels is an exception to confidence: no test to apply.
            rules.append("confidence.required-by-law")
            record["confidence"] = "required-by-law"
        elif long_enough(request.necessity.get(part), policy.necessity_min_chars):
            rules.append("confidence.public-interest-test")
            record["confidence"] = "public-interest-test"
        else:
            reasons.append(
                f"{dp.confidence_label}: {_type_label(sender_type, sender_kind)} owes a duty of "
                f"confidence; state {policy.necessity_parts[part][:1].lower()}"
                f"{policy.necessity_parts[part][1:]} (at least {policy.necessity_min_chars} "
                "characters)."
            )
    return LawfulFinding(reasons, rules, record, strict)


def _labels(categories: Mapping[str, Category], names: Iterable[str]) -> str:
    return ", ".join(categories[c].label.lower() for c in names)


def _condition_problem(
    condition: Condition, schedule: int, special: bool, request: ShareRequest, policy: PolicySet
) -> str | None:
    purpose = request.purpose
    if condition.schedule != schedule:
        if schedule == 8:
            return (
                f"{condition.label} is a Schedule 1 condition; a competent authority's sensitive "
                "processing for a law enforcement purpose needs a Schedule 8 condition."
            )
        return (
            f"{condition.label} is a Schedule 8 condition, for competent authorities' law "
            "enforcement processing; under UK GDPR cite a Schedule 1 condition."
        )
    if special and condition.part == 3:
        return (
            f"{condition.label} covers criminal offence data only; special category data needs a "
            "Schedule 1 Part 1 or Part 2 condition."
        )
    if purpose not in condition.purposes:
        label = policy.purposes[purpose].label.lower() if purpose in policy.purposes else purpose
        return f"{condition.label} cannot carry the purpose '{label}'."
    if condition.relied_on_by is not None and request.sender_type not in condition.relied_on_by:
        return (
            f"{condition.label} is only for processing by or under a health or social work "
            f"professional (UK GDPR Art 9(3)); {request.sender_type} cannot rely on it."
        )
    return None


def _suggest_conditions(
    policy: PolicySet, schedule: int, special: bool, request: ShareRequest
) -> str:
    fits = [
        c.label
        for c in policy.conditions.values()
        if c.schedule == schedule
        and not (special and c.part == 3)
        and request.purpose in c.purposes
        and (c.relied_on_by is None or request.sender_type in c.relied_on_by)
    ]
    return f" Conditions that would: {'; '.join(fits)}." if fits else ""


def dpv_terms(
    policy: PolicySet,
    request: ShareRequest,
    basis: LawfulBasis | None,
    route: Mapping[str, Any],
    known: Iterable[str],
) -> dict[str, Any]:
    """The share in DPV terms: purpose, the gateway's legal basis, the UK GDPR basis and the
    condition's Art 9 term where UK GDPR applies, and the personal-data categories."""
    categories = policy.categories
    purpose = policy.purposes.get(request.purpose)
    terms: dict[str, Any] = {
        "purpose": purpose.dpv if purpose is not None else None,
        "legal_basis": basis.dpv if basis else None,
        "personal_data": sorted({categories[c].dpv for c in known if categories[c].dpv}),
    }
    if route.get("regime") == "general" and basis is not None:
        terms["gdpr_basis"] = (
            "eu-gdpr:A6-1-f" if basis.legitimate_interests else policy.data_protection.general_dpv
        )
    condition = policy.conditions.get(route.get("condition") or "")
    # The condition's DPV term is its Art 9(2) route: it says something only when Art 9 is engaged.
    if condition is not None and condition.dpv and route.get("special_category"):
        terms["condition"] = condition.dpv
    return terms


def suggest_bases(policy: PolicySet, request: ShareRequest) -> str:
    """The gateways the sender could rely on for these recipients and this purpose, here."""
    sender_kind = kind_of(request.sender_type)
    options = [
        b.label
        for b in policy.lawful_bases.values()
        if request.jurisdiction in b.jurisdictions
        and (sender_kind is None or b.relied_on(request.sender_type, sender_kind))
        and all(b.reaches(t, kind_of(t)) for t in request.recipient_types)
        and request.purpose in b.purposes
        and not (
            b.legitimate_interests
            and request.sender_type in policy.data_protection.public_authorities
        )
    ]
    return f" Bases that would: {'; '.join(options)}." if options else ""


def _sentence(text: str) -> str:
    """Capitalised for the start of a sentence, the rest left as written."""
    return text[:1].upper() + text[1:]


def _type_label(agency_type: str, kind: str | None) -> str:
    """How a refusal names an agency type: "a Duty to Cooperate agency (housing)"."""
    if kind is None:
        return f"'{agency_type}'"
    return f"{KIND_LABEL[kind]} ({agency_type})"
