"""The proportionality and approval rules as a W3C ODRL policy (JSON-LD).

The UK multi-agency information sharing (MAIS) draft standard encodes sharing agreements in ODRL;
this export lets another system, or an auditor, read the hub's rules in that form. One permission
per (recipient type, MAPPA level): action distribute, the data categories as targets (with their
DPV personal-data terms), the agreement it implements; approvals become duties; restricted
categories become prohibitions.
"""

from __future__ import annotations

from typing import Any

from hub.policy.loader import LEVELS, PolicySet, kind_of

NS = "https://mappa-hub.example/ns#"


def to_odrl(policy: PolicySet) -> dict[str, Any]:
    permissions: list[dict[str, Any]] = []
    for agency_type, rule in sorted(policy.recipients.items()):
        agreement = policy.agreements[rule.agreement]
        for level in LEVELS:
            targets = sorted(rule.by_level[level])
            if not targets:
                continue
            permissions.append(
                {
                    "uid": f"urn:mappa-hub:rule:proportionality.{agency_type}.level-{level}",
                    "action": "distribute",
                    "assignee": f"mappa:agency-type/{agency_type}",
                    "target": [_target(policy, c) for c in targets],
                    "constraint": [
                        {"leftOperand": "mappa:mappaLevel", "operator": "eq", "rightOperand": level}
                    ],
                    "mappa:agreement": {"@id": agreement.uri, "mappa:version": agreement.version},
                    "duty": [
                        {
                            "action": "mappa:obtainApproval",
                            "mappa:approverRole": role,
                            "mappa:count": approval.count,
                            "mappa:rule": approval.id,
                        }
                        for approval in policy.approval_rules
                        if approval.recipient_kinds is not None
                        and kind_of(agency_type) in approval.recipient_kinds
                        and (approval.levels is None or level in approval.levels)
                        for role in approval.approvers
                    ],
                }
            )
    prohibitions = [
        {
            "uid": f"urn:mappa-hub:rule:restricted.{name}",
            "action": "distribute",
            "target": _target(policy, name),
            "assignee": [
                f"mappa:agency-type/{t}"
                for t, rule in sorted(policy.recipients.items())
                if not any(name in rule.by_level[level] for level in LEVELS)
            ],
            "mappa:unlessStatedReason": restricted.with_reason == "review",
        }
        for name, restricted in sorted(policy.restricted.items())
    ]
    return {
        "@context": [
            "http://www.w3.org/ns/odrl.jsonld",
            {"dpv": "https://w3id.org/dpv#", "pd": "https://w3id.org/dpv/pd#", "mappa": NS},
        ],
        "@type": "Set",
        "uid": f"urn:mappa-hub:policy:{policy.version}",
        "permission": permissions,
        "prohibition": prohibitions,
    }


def _target(policy: PolicySet, category: str) -> dict[str, Any]:
    term = policy.categories[category]
    target: dict[str, Any] = {"@id": f"mappa:data-category/{category}", "title": term.label}
    if term.dpv:
        target["dpv:hasPersonalData"] = term.dpv
    return target
