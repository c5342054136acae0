"""The sharing rules as a W3C ODRL 2.2 policy in JSON-LD, with their DPV terms.

The UK multi-agency information sharing (MAIS) draft standard encodes sharing agreements in ODRL;
this export lets another system, or an auditor, read the hub's rules in that form. One ``Set``
policy, its uid the policy version:

- a permission per (recipient type, MAPPA level): action ``distribute``; the data categories as
  targets, each typed with its DPV personal-data term (``pd:``); constraints on the recipient, the
  level, the purpose (``odrl:purpose``), the lawful basis and the delivery channel; the agreement it
  implements; approvals as duties. A permission per MAPPA category extra, and per recipient type
  one for the restricted categories a stated reason lets through (split by level where the
  categories or approvals differ), with the coordinator's approval as a duty;
- prohibitions: the restricted categories, what a channel may not carry, and shares across a
  jurisdiction boundary; ``conflict`` is ``prohibit``, as the engine refuses whatever any test
  refuses;
- an obligation: both areas' approval for a share to another area's agency not on the case;
- the catalogue the rules name: purposes (``dpv:hasPurpose``, each typed with its DPV purpose), the
  lawful bases (``dpv:hasLegalBasis``: the gateway's DPV legal basis, statute, reach and purposes),
  the DPA 2018 Schedule 1 and 8 conditions with their appropriate policy documents, the regimes,
  the channels, the data categories, the agency types and the agreements.

The document's ``@context`` is the ODRL context IRI and the hub's own context (shipped in this
package as ``hub-context.jsonld`` and written inline), which defines the ``dpv:``, ``pd:``,
``eu-gdpr:`` and ``hub:`` prefixes. Nothing is fetched at run time: ``document_loader`` serves the
copy of the W3C ODRL 2.2 context shipped with the hub (``odrl-context.jsonld``) for the ODRL context
IRI and refuses every other URL; ``expand`` expands a document with it. With pyld directly (whose
default loader would fetch the context over the network)::

    from pyld import jsonld
    from hub.policy.odrl import document_loader
    jsonld.expand(doc, {"documentLoader": document_loader})

Hub individuals (purposes, categories, agency types, rules...) are ``urn:mappa-hub:<kind>:<name>``
IRIs; terms ODRL and DPV lack are in the ``hub:`` vocabulary, each listed in ``HUB_TERMS``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache, partial
from importlib import resources
from typing import Any

from hub.model.directory import AgencyKind, AgencyType
from hub.policy.loader import LEVELS, PolicySet, kind_of

ODRL_CONTEXT = "http://www.w3.org/ns/odrl.jsonld"
# The JSON-LD documents the hub serves itself, by URL: the W3C ODRL 2.2 context under both schemes.
SHIPPED_DOCUMENTS = {
    "http://www.w3.org/ns/odrl.jsonld": "odrl-context.jsonld",
    "https://www.w3.org/ns/odrl.jsonld": "odrl-context.jsonld",
}
HUB_CONTEXT_FILE = "hub-context.jsonld"
NS = "https://mappa-hub.example/ns#"
PROFILE = "https://mappa-hub.example/ns"
PREFIXES = {
    "dpv": "https://w3id.org/dpv#",
    "pd": "https://w3id.org/dpv/pd#",
    "eu-gdpr": "https://w3id.org/dpv/legal/eu/gdpr#",
    "hub": NS,
}
# UK GDPR Art 6(1)(f): the Art 6 basis of a gateway marked legitimate_interests (as the engine's
# decision record gives it); every other gateway is the basis in law of the general regime's term.
LEGITIMATE_INTERESTS = "eu-gdpr:A6-1-f"
ALL_CATEGORIES = "urn:mappa-hub:data-categories"
ANYONE = "*"  # relied_on_by: any person

# The hub: vocabulary: every term the export uses that ODRL 2.2 and DPV 2.2 do not have.
HUB_TERMS: dict[str, str] = {
    # Classes.
    "Agreement": "A sharing agreement or protocol (agreements.toml) that rules implement.",
    "AppropriatePolicyDocument": "An appropriate policy document (DPA 2018 Sch 1 para 39, s42).",
    "Channel": "A way a share may leave the hub (channels.toml).",
    "Regime": "A data protection regime: DPA 2018 Part 3, or UK GDPR with DPA 2018 Part 2.",
    "Schedule1Condition": "A DPA 2018 Schedule 1 condition (UK GDPR Art 9 and 10 data).",
    "Schedule8Condition": "A DPA 2018 Schedule 8 condition (Part 3 sensitive processing).",
    # Individuals.
    "AnyPerson": "Anyone at all may rely on the gateway.",
    "AnyDataCategory": "The channel may carry any data category the other tests allow.",
    "AnyRecipient": "The channel may reach any kind of recipient.",
    "OtherArea": "An agency of another MAPPA area of the same jurisdiction, not active on the case.",
    "OtherJurisdiction": "An agency of another UK jurisdiction, not active on the case.",
    "SenderArea": "The MAPPA area of the sender.",
    "RecipientArea": "The MAPPA area of the recipient.",
    # Action.
    "obtainApproval": "Have the share approved before it is sent (approvals.toml).",
    # Left operands.
    "mappaLevel": "The MAPPA level (1, 2 or 3) of the case the share is about.",
    "mappaCategory": "The MAPPA category (1, 2 or 3) of the case the share is about.",
    "lawfulBasis": "The lawful basis (gateway) the sender cites.",
    "packetType": "The packet type of the share.",
    "recipientArea": "Where the recipient stands relative to the case's arrangements.",
    "restrictedReasonStated": "Whether the sender stated why a restricted category must go.",
    # Properties.
    "agencyKind": "The kind of an agency type (responsible authority, duty to cooperate...).",
    "agencyType": "An agency type the policy names.",
    "agreement": "The sharing agreement a rule, channel or boundary implements.",
    "approvalCount": "How many people of the role must approve.",
    "approvalRule": "The approval rule (approvals.toml) a duty comes from.",
    "approverIsNeverProposer": "Whether the proposer of a share may never approve it.",
    "approverRole": "The role that approves.",
    "approvingArea": "Whose area's people approve.",
    "carries": "A data category the channel may carry.",
    "channel": "A channel the policy allows.",
    "competentAuthority": "An agency type that is a competent authority (DPA 2018 Sch 7).",
    "condition": "A DPA 2018 Schedule 1 or 8 condition the policy knows.",
    "criminalOffence": "Personal data relating to criminal convictions and offences (Art 10).",
    "dataCategory": "A data category in the catalogue.",
    "lawEnforcement": "A law enforcement purpose (DPA 2018 s31).",
    "nature": "Whether the gateway is a duty, a power or a presumption to disclose.",
    "policyDocument": "An appropriate policy document.",
    "publicAuthority": "An agency type that is a public authority (no legitimate interests).",
    "recipientKind": "A kind of recipient the channel may reach.",
    "regime": "A data protection regime, or the one a condition belongs to.",
    "reliedOnBy": "Who may rely on the gateway: kinds, agency types or anyone.",
    "schedule": "The DPA 2018 schedule of a condition (1 or 8).",
    "schedulePart": "The part of DPA 2018 Schedule 1 a condition is in.",
    "specialCategory": "Special category data (UK GDPR Art 9(1)).",
    "statute": "The law (legislation.gov.uk) or guidance a gateway, condition or regime is.",
    "ukGdprBasis": "The UK GDPR Art 6 basis a gateway is the basis in law of (Art 6(3)).",
}


class ContextRefused(LookupError):
    """A JSON-LD processor asked for a document the hub does not ship: nothing is fetched."""


@cache
def _shipped_text(name: str) -> str:
    return resources.files("hub.policy").joinpath(name).read_text(encoding="utf-8")


def shipped_document(name: str) -> dict[str, Any]:
    """A fresh copy of a JSON-LD document shipped in hub/policy."""
    document: dict[str, Any] = json.loads(_shipped_text(name))
    return document


def document_loader(url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A pyld document loader that never touches the network: the shipped copy of the ODRL
    context for the ODRL context IRI, and ``ContextRefused`` for any other URL."""
    name = SHIPPED_DOCUMENTS.get(url)
    if name is None:
        raise ContextRefused(f"{url}: the hub does not ship this document and fetches nothing")
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": shipped_document(name),
    }


def expand(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document in expanded JSON-LD, its contexts served by ``document_loader`` alone: a
    resolver of its own, so that no context another loader resolved earlier in the process (and
    pyld keeps for the process) stands in for the shipped one."""
    # Imported here: only expansion needs pyld, not the hub or the export.
    from pyld import jsonld  # type: ignore[import-untyped]
    from pyld.context_resolver import ContextResolver  # type: ignore[import-untyped]

    options = {
        "documentLoader": document_loader,
        "contextResolver": ContextResolver({}, document_loader),
    }
    expanded: list[dict[str, Any]] = jsonld.expand(dict(document), options)
    return expanded


def hub_context() -> dict[str, Any]:
    """The hub's JSON-LD context: the dpv:, pd:, eu-gdpr: and hub: prefixes and term types."""
    context: dict[str, Any] = shipped_document(HUB_CONTEXT_FILE)["@context"]
    return context


# IRIs of the hub's own individuals.


def _iri(kind: str, name: str) -> str:
    return f"urn:mappa-hub:{kind}:{name}"


def _rule(name: str) -> str:
    return _iri("rule", name)


def _party(name: str) -> str:
    """A name from relied_on_by or recipients: a kind, an agency type, or "*" for anyone."""
    if name == ANYONE:
        return "hub:AnyPerson"
    if name in {k.value for k in AgencyKind}:
        return _iri("agency-kind", name)
    return _iri("agency-type", name)


def _refs(iris: Iterable[str]) -> list[dict[str, str]]:
    """IRIs as node references, for ``rightOperand`` (which ODRL leaves untyped)."""
    return [{"@id": iri} for iri in iris]


def _types(*types: str) -> list[str]:
    return [t for t in dict.fromkeys(types) if t]


def _constraint(left: str, operator: str, right: Any) -> dict[str, Any]:
    return {"leftOperand": left, "operator": operator, "rightOperand": right}


def to_odrl(policy: PolicySet) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@context": [ODRL_CONTEXT, hub_context()],
        "@type": "Set",
        "uid": _iri("policy", policy.version),
        "profile": PROFILE,
        "conflict": "prohibit",
        "dct:title": "MAPPA Hub sharing rules",
        "owl:versionInfo": policy.version,
        "hub:approverIsNeverProposer": policy.approver_is_never_proposer,
        "permission": _permissions(policy),
        "prohibition": _prohibitions(policy),
    }
    obligation = _other_area(policy)
    if obligation:
        document["obligation"] = [obligation]
    document.update(
        {
            "dpv:hasPurpose": _purposes(policy),
            "dpv:hasLegalBasis": _lawful_bases(policy),
            "hub:condition": _conditions(policy),
            "hub:policyDocument": [
                {
                    "@id": d.uri,
                    "@type": "hub:AppropriatePolicyDocument",
                    "dct:identifier": d.id,
                    "dct:title": d.title,
                    "owl:versionInfo": d.version,
                }
                for _, d in sorted(policy.policy_documents.items())
            ],
            "hub:regime": _regimes(policy),
            "hub:channel": _channels(policy),
            "hub:dataCategory": _categories(policy),
            "hub:agencyType": _agency_types(policy),
            "hub:agreement": [
                {
                    "@id": a.uri,
                    "@type": "hub:Agreement",
                    "dct:identifier": a.id,
                    "dct:title": a.title,
                    "owl:versionInfo": a.version,
                }
                for _, a in sorted(policy.agreements.items())
            ],
        }
    )
    return document


# Rules.


def _permissions(policy: PolicySet) -> list[dict[str, Any]]:
    permissions: list[dict[str, Any]] = []
    for agency_type, rule in sorted(policy.recipients.items()):
        kind = kind_of(agency_type)
        agreement = policy.agreements[rule.agreement].uri
        permission = partial(_permission, policy, agency_type, kind, agreement)
        for level in LEVELS:
            level_scope = [_constraint("hub:mappaLevel", "eq", level)]
            if rule.by_level[level]:
                permissions.append(
                    permission(
                        f"proportionality.{agency_type}.level-{level}",
                        rule.by_level[level],
                        level_scope,
                        _duties(policy, kind, level),
                    )
                )
        for category, extra in sorted(rule.by_category.items()):
            if extra:
                permissions.append(
                    permission(
                        f"proportionality.{agency_type}.category-{category}",
                        extra,
                        [_constraint("hub:mappaCategory", "eq", category)],
                        _duties(policy, kind, None),
                    )
                )
        # The restricted categories a stated reason lets through, with approval: one permission
        # for the levels that refuse the same categories and ask the same approvals.
        groups: list[tuple[list[str], list[dict[str, Any]], list[int]]] = []
        for level in LEVELS:
            reviewable = sorted(
                c
                for c, restricted in policy.restricted.items()
                if restricted.with_reason == "review" and c not in rule.by_level[level]
            )
            if not reviewable:
                continue
            duties = _duties(policy, kind, level, stated_reason=True)
            same = [g for g in groups if g[0] == reviewable and g[1] == duties]
            if same:
                same[0][2].append(level)
            else:
                groups.append((reviewable, duties, [level]))
        for reviewable, duties, levels in groups:
            suffix = "" if tuple(levels) == LEVELS else ".level-" + "-".join(map(str, levels))
            permissions.append(
                permission(
                    f"proportionality.{agency_type}.stated-reason{suffix}",
                    reviewable,
                    [
                        _constraint("hub:mappaLevel", "isAnyOf", levels),
                        _constraint("hub:restrictedReasonStated", "eq", True),
                    ],
                    duties,
                )
            )
    return permissions


def _permission(
    policy: PolicySet,
    agency_type: str,
    kind: str,
    agreement: str,
    name: str,
    targets: Iterable[str],
    scope: list[dict[str, Any]],
    duties: list[dict[str, Any]],
) -> dict[str, Any]:
    wanted = sorted(targets)
    channels = _channels_for(policy, kind, wanted)
    entry: dict[str, Any] = {
        "uid": _rule(name),
        "action": "distribute",
        "target": [_target(policy, c) for c in wanted],
        "constraint": [
            _constraint("recipient", "eq", {"@id": _iri("agency-type", agency_type)}),
            *scope,
            *_lawful_scope(policy, agency_type, kind),
            _constraint("deliveryChannel", "isAnyOf", _refs(channels)),
        ],
        "hub:agreement": agreement,
    }
    if duties:
        entry["duty"] = duties
    return entry


def _lawful_scope(policy: PolicySet, agency_type: str, kind: str) -> list[dict[str, Any]]:
    """The gateways that reach the recipient, and the purposes they serve."""
    bases = [b for _, b in sorted(policy.lawful_bases.items()) if b.reaches(agency_type, kind)]
    purposes = sorted({p for b in bases for p in b.purposes})
    return [
        _constraint("purpose", "isAnyOf", _refs(_iri("purpose", p) for p in purposes)),
        _constraint(
            "hub:lawfulBasis", "isAnyOf", _refs(_iri("lawful-basis", b.name) for b in bases)
        ),
    ]


def _channels_for(policy: PolicySet, kind: str, categories: Iterable[str]) -> list[str]:
    """The channels that reach this kind of recipient and may carry at least one of the
    categories (the channel prohibitions say what each may not carry)."""
    wanted = set(categories)
    return [
        _iri("channel", name)
        for name, channel in sorted(policy.channels.items())
        if (channel.recipient_kinds is None or kind in channel.recipient_kinds)
        and (channel.categories is None or channel.categories & wanted)
    ]


def _duties(
    policy: PolicySet, kind: str, level: int | None, *, stated_reason: bool = False
) -> list[dict[str, Any]]:
    """The approvals a share to this kind of recipient needs, as duties; ``level`` None for a
    permission at every level (a level-bound approval then carries its levels as a constraint)."""
    duties: list[dict[str, Any]] = []
    for approval in policy.approval_rules:
        if approval.recipient_kinds is not None and kind not in approval.recipient_kinds:
            continue
        if approval.restricted_override and not stated_reason:
            continue
        if level is not None and approval.levels is not None and level not in approval.levels:
            continue
        for role in approval.approvers:
            duty: dict[str, Any] = {
                "action": "hub:obtainApproval",
                "hub:approverRole": _iri("role", role),
                "hub:approvalCount": approval.count,
                "hub:approvalRule": _rule(f"approvals.{approval.id}"),
                "hub:agreement": policy.agreements[approval.agreement].uri,
            }
            if level is None and approval.levels is not None:
                duty["constraint"] = [
                    _constraint("hub:mappaLevel", "isAnyOf", sorted(approval.levels))
                ]
            duties.append(duty)
    return duties


def _prohibitions(policy: PolicySet) -> list[dict[str, Any]]:
    prohibitions = []
    # Restricted categories: refused to the recipients whose tables do not list them (at the levels,
    # and outside the MAPPA categories, where they do not); a stated reason turns a "review"
    # refusal into an approval (the stated-reason permissions).
    for name, restricted in sorted(policy.restricted.items()):
        groups: dict[tuple[tuple[int, ...], tuple[int, ...]], list[str]] = {}
        for agency_type, rule in sorted(policy.recipients.items()):
            levels = tuple(level for level in LEVELS if name not in rule.by_level[level])
            if levels:
                extra = tuple(sorted(c for c, cats in rule.by_category.items() if name in cats))
                groups.setdefault((levels, extra), []).append(agency_type)
        for index, ((levels, extra), types) in enumerate(sorted(groups.items())):
            constraints = [
                _constraint("recipient", "isAnyOf", _refs(_iri("agency-type", t) for t in types))
            ]
            if levels != LEVELS:
                constraints.append(_constraint("hub:mappaLevel", "isAnyOf", list(levels)))
            if extra:
                constraints.append(_constraint("hub:mappaCategory", "isNoneOf", list(extra)))
            if restricted.with_reason == "review":
                constraints.append(_constraint("hub:restrictedReasonStated", "eq", False))
            prohibitions.append(
                {
                    "uid": _rule(f"restricted.{name}" + (f".{index + 1}" if index else "")),
                    "action": "distribute",
                    "target": _target(policy, name),
                    "constraint": constraints,
                    "rdfs:label": restricted.label,
                    "hub:agreement": policy.agreements[restricted.agreement].uri,
                }
            )
    # Channels: what each may not carry.
    for name, channel in sorted(policy.channels.items()):
        if channel.categories is None:
            continue
        barred = sorted(set(policy.categories) - channel.categories)
        if barred:
            prohibitions.append(
                {
                    "uid": _rule(f"channels.{name}"),
                    "action": "distribute",
                    "target": [_target(policy, c) for c in barred],
                    "constraint": [
                        _constraint("deliveryChannel", "eq", {"@id": _iri("channel", name)})
                    ],
                    "rdfs:label": channel.label,
                    "hub:agreement": policy.agreements[channel.agreement].uri,
                }
            )
    # Boundaries: another jurisdiction's agency not on the case, except the packet types that
    # travel.
    boundary = policy.other_jurisdiction
    prohibitions.append(
        {
            "uid": _rule("boundaries.other-jurisdiction"),
            "action": "distribute",
            "target": {"uid": ALL_CATEGORIES, "@type": "AssetCollection"},
            "constraint": _boundary_scope(boundary.travels, "hub:OtherJurisdiction"),
            "rdfs:label": boundary.label,
            "hub:agreement": policy.agreements[boundary.agreement].uri,
        }
    )
    return prohibitions


def _boundary_scope(travels: Iterable[str], where: str) -> list[dict[str, Any]]:
    scope = [_constraint("hub:recipientArea", "eq", {"@id": where})]
    packet_types = sorted(travels)
    if packet_types:
        scope.append(
            _constraint(
                "hub:packetType", "isNoneOf", _refs(_iri("packet-type", t) for t in packet_types)
            )
        )
    return scope


def _other_area(policy: PolicySet) -> dict[str, Any] | None:
    """Another area's agency not on the case: a coordinator of each area approves (the engine asks
    for approval here rather than refusing), except for the packet types that travel."""
    boundary = policy.other_area
    if not boundary.approvers:
        return None
    return {
        "uid": _rule("boundaries.other-area"),
        "action": "hub:obtainApproval",
        "constraint": _boundary_scope(boundary.travels, "hub:OtherArea"),
        "hub:approverRole": [_iri("role", r) for r in boundary.approvers],
        "hub:approvalCount": 1,
        "hub:approvingArea": ["hub:SenderArea", "hub:RecipientArea"],
        "rdfs:label": boundary.label,
        "hub:agreement": policy.agreements[boundary.agreement].uri,
    }


# The catalogue the rules name.


def _target(policy: PolicySet, category: str) -> dict[str, Any]:
    target: dict[str, Any] = {"uid": _iri("data-category", category)}
    term = policy.categories[category].dpv
    if term:
        target["@type"] = term
    return target


def _categories(policy: PolicySet) -> list[dict[str, Any]]:
    return [
        {
            "uid": _iri("data-category", name),
            "@type": _types("Asset", c.dpv),
            "rdfs:label": c.label,
            "hub:specialCategory": c.special_category,
            "hub:criminalOffence": c.criminal_offence,
            "partOf": ALL_CATEGORIES,
        }
        for name, c in sorted(policy.categories.items())
    ]


def _purposes(policy: PolicySet) -> list[dict[str, Any]]:
    return [
        {
            "@id": _iri("purpose", name),
            "@type": _types("dpv:Purpose", p.dpv),
            "rdfs:label": p.label,
            "hub:lawEnforcement": p.law_enforcement,
        }
        for name, p in sorted(policy.purposes.items())
    ]


def _lawful_bases(policy: PolicySet) -> list[dict[str, Any]]:
    bases = []
    general = policy.data_protection.general_dpv
    for name, b in sorted(policy.lawful_bases.items()):
        basis: dict[str, Any] = {
            "@id": _iri("lawful-basis", name),
            "@type": _types("dpv:LegalBasis", b.dpv),
            "rdfs:label": b.label,
        }
        if b.statute:
            basis["hub:statute"] = b.statute
        basis.update(
            {
                "hub:nature": b.nature,
                "dpv:hasJurisdiction": [_iri("jurisdiction", j) for j in sorted(b.jurisdictions)],
                "hub:reliedOnBy": [_party(p) for p in sorted(b.relied_on_by)],
                "dpv:hasRecipient": [_party(p) for p in sorted(b.recipients)],
                "dpv:hasPurpose": [_iri("purpose", p) for p in sorted(b.purposes)],
            }
        )
        gdpr = LEGITIMATE_INTERESTS if b.legitimate_interests else general
        if gdpr:
            basis["hub:ukGdprBasis"] = gdpr
        bases.append(basis)
    return bases


def _conditions(policy: PolicySet) -> list[dict[str, Any]]:
    conditions = []
    for name, c in sorted(policy.conditions.items()):
        condition: dict[str, Any] = {
            "@id": _iri("condition", name),
            "@type": _types(f"hub:Schedule{c.schedule}Condition", c.dpv),
            "rdfs:label": c.label,
        }
        if c.statute:
            condition["hub:statute"] = c.statute
        condition["hub:schedule"] = c.schedule
        if c.part is not None:
            condition["hub:schedulePart"] = c.part
        condition["hub:regime"] = _iri(
            "regime", "law-enforcement" if c.schedule == 8 else "general"
        )
        condition["dpv:hasPurpose"] = [_iri("purpose", p) for p in sorted(c.purposes)]
        if c.policy_document is not None:
            condition["hub:policyDocument"] = policy.policy_documents[c.policy_document].uri
        conditions.append(condition)
    return conditions


def _regimes(policy: PolicySet) -> list[dict[str, Any]]:
    dp = policy.data_protection
    general: dict[str, Any] = {
        "@id": _iri("regime", "general"),
        "@type": "hub:Regime",
        "rdfs:label": dp.general_label,
    }
    if dp.general_dpv:
        general["dpv:hasLegalBasis"] = dp.general_dpv
    general["hub:publicAuthority"] = [_iri("agency-type", t) for t in sorted(dp.public_authorities)]
    return [
        {
            "@id": _iri("regime", "law-enforcement"),
            "@type": "hub:Regime",
            "rdfs:label": dp.law_enforcement_label,
            "hub:competentAuthority": [
                _iri("agency-type", t) for t in sorted(dp.competent_authorities)
            ],
        },
        general,
    ]


def _channels(policy: PolicySet) -> list[dict[str, Any]]:
    return [
        {
            "@id": _iri("channel", name),
            "@type": "hub:Channel",
            "rdfs:label": c.label,
            "hub:carries": (
                [_iri("data-category", x) for x in sorted(c.categories)]
                if c.categories is not None
                else ["hub:AnyDataCategory"]
            ),
            "hub:recipientKind": (
                [_iri("agency-kind", k) for k in sorted(c.recipient_kinds)]
                if c.recipient_kinds is not None
                else ["hub:AnyRecipient"]
            ),
            "hub:agreement": policy.agreements[c.agreement].uri,
        }
        for name, c in sorted(policy.channels.items())
    ]


def _agency_types(policy: PolicySet) -> list[dict[str, Any]]:
    types = []
    for agency_type in sorted(t.value for t in AgencyType):
        entry: dict[str, Any] = {
            "@id": _iri("agency-type", agency_type),
            "@type": "PartyCollection",
            "hub:agencyKind": _iri("agency-kind", kind_of(agency_type)),
        }
        rule = policy.recipients.get(agency_type)
        if rule is not None:
            entry["rdfs:label"] = rule.label
        types.append(entry)
    return types
