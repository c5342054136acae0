"""The ODRL export of the rules, and the DPV terms on every decision."""

from __future__ import annotations

from hub.config import SOURCE_POLICY_DIR
from hub.policy.engine import evaluate
from hub.policy.loader import load_policy
from hub.policy.model import ShareRequest
from hub.policy.odrl import to_odrl


def test_odrl_has_a_permission_per_recipient_and_level() -> None:
    policy = load_policy(SOURCE_POLICY_DIR)
    doc = to_odrl(policy)
    assert doc["@type"] == "Set"
    assert doc["uid"] == f"urn:mappa-hub:policy:{policy.version}"
    by_uid = {p["uid"]: p for p in doc["permission"]}
    housing = by_uid["urn:mappa-hub:rule:proportionality.housing.level-2"]
    assert housing["assignee"] == "mappa:agency-type/housing"
    assert {t["@id"] for t in housing["target"]} == {
        f"mappa:data-category/{c}" for c in policy.recipients["housing"].by_level[2]
    }
    assert housing["duty"] == []
    third = by_uid["urn:mappa-hub:rule:proportionality.third-party.level-3"]
    assert sorted(d["mappa:approverRole"] for d in third["duty"]) == [
        "coordinator",
        "senior-manager",
    ]
    victim = next(p for p in doc["prohibition"] if p["uid"].endswith("victim-information"))
    assert "mappa:agency-type/probation" in victim["assignee"]
    assert "mappa:agency-type/victim-liaison" not in victim["assignee"]
    assert victim["mappa:unlessStatedReason"] is True


def test_decision_carries_dpv_terms() -> None:
    policy = load_policy(SOURCE_POLICY_DIR)
    decision = evaluate(
        policy,
        ShareRequest(
            sender_type="police",
            sender_role="practitioner",
            recipient_types=("mental-health",),
            packet_type="note",
            data_categories=("mental-health", "risk-summary"),
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            mappa_category=2,
            mappa_level=2,
            necessity={"why": "The forensic team must see the revised risk picture."},
        ),
    )
    assert decision.record()["dpv"] == {
        "purpose": "dpv:PublicSafety",
        "legal_basis": "dpv:LegalObligation",
        "personal_data": ["pd:MentalHealth"],
    }
