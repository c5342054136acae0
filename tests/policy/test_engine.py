"""The five-test engine (hub.policy.engine.evaluate), test by test and branch by branch."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest

from hub.config import SOURCE_POLICY_DIR
from hub.policy import engine
from hub.policy.compiled import identical
from hub.policy.engine import evaluate, interpret
from hub.policy.loader import PolicySet, load_policy
from hub.policy.model import (
    AgreementRef,
    ApprovalNeed,
    Decision,
    Outcome,
    Party,
    ShareRequest,
)
from hub.policy.model import Test as PolicyTest

WHY = "Housing must assess the proposed address against the risk management plan."
WHO = "The named housing officer allocating the tenancy and their team leader only."
USE = "To decide the allocation; kept on the housing file until the case closes."
FULL = {"why": WHY, "who": WHO, "use": USE}
REASON = "The victim has asked that her new address be covered by an exclusion zone."
PUBLIC_INTEREST = (
    "He has named a neighbour he blames for his recall; her safety outweighs his confidence."
)


@pytest.fixture
def policy() -> PolicySet:
    return load_policy(SOURCE_POLICY_DIR)


def request(**changes: Any) -> ShareRequest:
    """Police give housing the address and a risk summary at level 2: a share the policy allows."""
    fields: dict[str, Any] = {
        "sender_type": "police",
        "sender_role": "practitioner",
        "recipient_types": ("housing",),
        "packet_type": "note",
        "data_categories": ("address", "risk-summary"),
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "mappa_category": 2,
        "mappa_level": 2,
        "channel": "hub",
        "necessity": {"why": WHY},
    }
    fields.update(changes)
    return ShareRequest(**fields)


def third_party(**changes: Any) -> ShareRequest:
    fields: dict[str, Any] = {
        "recipient_types": ("third-party",),
        "data_categories": ("identity", "offence-history", "risk-summary"),
        "purpose": "public-protection",
        "lawful_basis": "common-law",
        "necessity": FULL,
        **changes,
    }
    return request(**fields)


def failed(decision: Decision) -> dict[str, tuple[str, ...]]:
    return {t.test.value: t.reasons for t in decision.failed}


# PERMIT, and what every decision carries.


def test_a_permitted_share_and_what_it_carries(policy: PolicySet) -> None:
    decision = evaluate(policy, request())
    assert decision.outcome is Outcome.PERMIT
    assert decision.outcome.plain == "allow"
    assert [t.test for t in decision.tests] == list(PolicyTest)
    assert all(t.passed and t.reasons == () for t in decision.tests)
    assert decision.failed == ()
    assert decision.message() == "The policy allows this share."
    # The police share for a law enforcement purpose: DPA 2018 Part 3, where criminal offence data
    # (the offender's address and risk) is ordinary business and needs no further condition.
    assert decision.rules == (
        "lawful_bases.cja2003-s325",
        "regimes.law-enforcement",
        "packet_types.note",
        "proportionality.housing.level-2",
        "channels.hub",
    )
    assert decision.data_protection == {
        "regime": "law-enforcement",
        "basis_nature": "duty",
        "special_category": False,
        "criminal_offence": True,
        "condition": None,
        "policy_document": None,
        "confidence": None,
    }
    assert decision.dpv == {
        "purpose": "dpv:ProtectionOfPublicSecurity",
        "legal_basis": "dpv:LegalObligation",
        "personal_data": ["pd:Criminal", "pd:PhysicalAddress"],
    }
    isp = policy.agreements["mappa-isp"]
    assert decision.agreements == (AgreementRef("mappa-isp", isp.uri, isp.version),)
    assert str(decision.agreements[0]) == f"{isp.uri} (version {isp.version})"
    assert decision.approvals == ()
    assert decision.policy_version == policy.version
    assert decision.retention_years == 6
    assert decision.approver_is_never_proposer is True


def test_the_record_on_the_header_and_log(policy: PolicySet) -> None:
    decision = evaluate(policy, third_party(mappa_level=3, channel="letter"))
    third = policy.agreements["mappa-guidance-third-party"]
    assert decision.record() == {
        "outcome": "REVIEW",
        "policy_version": policy.version,
        "rules": [
            "lawful_bases.common-law",
            "regimes.law-enforcement",
            "packet_types.note",
            "proportionality.third-party.level-3",
            "channels.letter",
            "approvals.third-party-disclosure",
            "approvals.third-party-disclosure-level-3",
        ],
        "tests": {
            "lawful": True,
            "necessary": True,
            "proportionate": True,
            "secure": True,
            "accountable": True,
        },
        "agreements": [{"uri": third.uri, "version": third.version}],
        "approvals": [
            {
                "role": "coordinator",
                "count": 1,
                "rule": "third-party-disclosure",
                "area": "sender",
            },
            {
                "role": "senior-manager",
                "count": 1,
                "rule": "third-party-disclosure-level-3",
                "area": "sender",
            },
        ],
        # The common law power is an official authority, not legitimate interests; the police
        # disclose for public protection under DPA 2018 Part 3, so there is no UK GDPR basis.
        "dpv": {
            "purpose": "dpv:ProtectionOfPublicSecurity",
            "legal_basis": "dpv:OfficialAuthorityOfController",
            "personal_data": ["pd:Criminal", "pd:CriminalConviction", "pd:Identifying"],
        },
        "data_protection": {
            "regime": "law-enforcement",
            "basis_nature": "power",
            "special_category": False,
            "criminal_offence": True,
            "condition": None,
            "policy_document": None,
            "confidence": None,
        },
    }


def test_a_denied_record_says_which_tests_failed(policy: PolicySet) -> None:
    record = evaluate(policy, request(sender_role="auditor", channel="email")).record()
    assert record["outcome"] == "DENY"
    assert record["tests"] == {
        "lawful": True,
        "necessary": True,
        "proportionate": True,
        "secure": False,
        "accountable": False,
    }
    assert record["approvals"] == []


# Every test is reported, and the message says what would satisfy each.


def test_all_five_tests_are_reported_when_several_fail(policy: PolicySet) -> None:
    decision = evaluate(
        policy,
        request(
            sender_role="auditor",
            lawful_basis="consent",
            necessity={},
            data_categories=("intelligence",),
            channel="fax",
        ),
    )
    assert decision.outcome is Outcome.DENY
    assert decision.outcome.plain == "deny"
    assert len(decision.tests) == 5
    assert [t.test for t in decision.failed] == list(PolicyTest)
    assert all(t.reasons for t in decision.failed)


def test_the_deny_message_names_the_failed_tests_and_what_would_satisfy_them(
    policy: PolicySet,
) -> None:
    # Housing (a public authority) cites legitimate interests, which only a voluntary partner may.
    decision = evaluate(
        policy,
        request(
            sender_type="housing",
            recipient_types=("police",),
            lawful_basis="ukgdpr-6-1-f",
            schedule1_condition="sch1-para10",
            necessity={"why": "x"},
        ),
    )
    message = decision.message()
    assert message.startswith("The policy refuses this share. ")
    assert (
        "Lawful authority: A Duty to Cooperate agency (housing) cannot rely on UK GDPR Art 6(1)(f) "
        "legitimate interests (voluntary partners only). Bases that would: Criminal Justice Act "
        "2003 s325 (MAPPA: the Responsible Authority's arrangements and the duty to co-operate); "
        "Crime and Disorder Act 1998 s115 (power of any person to disclose to a relevant "
        "authority). Public authorities never rely on legitimate interests"
    ) in message
    assert "Necessary: State why sharing this is necessary" in message
    assert "(at least 20 characters)" in message
    for label in ("Proportionate", "Secure", "Accountable"):
        assert f"{label}:" not in message


# Lawful authority.


def test_an_unknown_purpose_basis_and_sender(policy: PolicySet) -> None:
    decision = evaluate(
        policy, request(sender_type="gp-practice", purpose="research", lawful_basis="consent")
    )
    # An unknown sender is no competent authority and an unknown purpose no law enforcement
    # purpose: UK GDPR applies, so the offender's address (criminal offence data) still needs a
    # Schedule 1 condition, and none can be suggested for a purpose the policy does not know.
    assert failed(decision) == {
        "lawful": (
            "'research' is not a purpose in the catalogue; choose one from the list.",
            "'gp-practice' is not a known agency type.",
            "'consent' is not a lawful basis in the catalogue; choose one from the list.",
            "Under UK GDPR, criminal offence data (Art 10) needs a DPA 2018 Schedule 1 condition: "
            "cite one.",
        )
    }
    assert decision.dpv == {
        "purpose": None,
        "legal_basis": None,
        "personal_data": ["pd:Criminal", "pd:PhysicalAddress"],
    }
    assert not any(r.startswith("lawful_bases.") for r in decision.rules)
    assert "regimes.general" in decision.rules
    assert decision.data_protection["basis_nature"] is None


def test_an_unknown_sender_is_offered_bases_for_the_recipient(policy: PolicySet) -> None:
    decision = evaluate(
        policy,
        third_party(sender_type="gp-practice", lawful_basis="cja2003-s325"),
    )
    reasons = failed(decision)["lawful"]
    assert reasons[0] == "'gp-practice' is not a known agency type."
    # Who may rely on a gateway is not known for an unknown sender: the bases offered are those
    # that reach the recipient, serve the purpose and are law here.
    assert reasons[1] == (
        "Criminal Justice Act 2003 s325 (MAPPA: the Responsible Authority's arrangements and the "
        "duty to co-operate) does not cover sharing with a third party outside MAPPA "
        "(third-party). Bases that would: Common law power of the police and the Responsible "
        "Authority to disclose to prevent harm (third-party disclosure)."
    )
    assert reasons[2].startswith(
        "Under UK GDPR, criminal offence data (Art 10) needs a DPA 2018 Schedule 1 condition"
    )
    assert len(reasons) == 3


def test_no_suggestion_when_no_basis_would_do(policy: PolicySet) -> None:
    # Housing processes under UK GDPR: the condition is cited, so the gateway is the only reason.
    decision = evaluate(
        policy, third_party(sender_type="housing", schedule1_condition="sch1-para10")
    )
    assert failed(decision) == {
        "lawful": (
            "A Duty to Cooperate agency (housing) cannot rely on Common law power of the police "
            "and the Responsible Authority to disclose to prevent harm (third-party disclosure).",
        )
    }


def test_a_basis_that_does_not_support_the_purpose(policy: PolicySet) -> None:
    decision = evaluate(policy, request(lawful_basis="cda1998-s115", purpose="mappa-meeting"))
    assert failed(decision) == {
        "lawful": (
            "Crime and Disorder Act 1998 s115 (power of any person to disclose to a relevant "
            "authority) does not support the purpose 'mappa-meeting'.",
        )
    }


def test_special_category_data_under_uk_gdpr_needs_a_schedule_1_condition(
    policy: PolicySet,
) -> None:
    # Health is no competent authority: UK GDPR, with the s325 gateway as the basis in law.
    share = request(
        sender_type="health",
        recipient_types=("police",),
        data_categories=("identity", "mental-health", "health"),
        necessity={"why": WHY, "public-interest": PUBLIC_INTEREST},
    )
    refused = evaluate(policy, share)
    assert failed(refused) == {
        "lawful": (
            "Under UK GDPR, special category data (Art 9: mental health needs and their effect on "
            "risk, physical health) and criminal offence data (Art 10) needs a DPA 2018 Schedule 1 "
            "condition: cite one. Conditions that would: DPA 2018 Sch 1 para 6: statutory and "
            "government purposes (substantial public interest); DPA 2018 Sch 1 para 10: "
            "preventing or detecting unlawful acts.",
        )
    }
    unknown = evaluate(policy, replace(share, schedule1_condition="sch1-para99"))
    assert failed(unknown) == {
        "lawful": ("'sch1-para99' is not a data protection condition the policy knows.",)
    }
    allowed = evaluate(policy, replace(share, schedule1_condition="sch1-para10"))
    assert allowed.outcome is Outcome.PERMIT
    assert "conditions.sch1-para10" in allowed.rules
    apd = policy.policy_documents["apd-mappa-part2"]
    assert allowed.data_protection == {
        "regime": "general",
        "basis_nature": "duty",
        "special_category": True,
        "criminal_offence": True,
        "condition": "sch1-para10",
        "policy_document": {"uri": apd.uri, "version": apd.version},
        "confidence": "public-interest-test",
    }
    assert allowed.dpv["gdpr_basis"] == "eu-gdpr:A6-1-e"
    assert allowed.dpv["condition"] == "eu-gdpr:A9-2-g"
    # The offender's identity alone is still criminal offence data (Art 10, DPA 2018 s11(2)): it
    # needs a Schedule 1 condition too, and Part 3 (criminal offence data only) conditions do.
    plain = evaluate(policy, replace(share, data_categories=("identity",)))
    assert failed(plain) == {
        "lawful": (
            "Under UK GDPR, criminal offence data (Art 10) needs a DPA 2018 Schedule 1 condition: "
            "cite one. Conditions that would: DPA 2018 Sch 1 para 6: statutory and government "
            "purposes (substantial public interest); DPA 2018 Sch 1 para 10: preventing or "
            "detecting unlawful acts.",
        )
    }
    # A notification carries no personal data of either kind: no condition is needed.
    notice = evaluate(policy, replace(share, data_categories=("notification",)))
    assert notice.outcome is Outcome.PERMIT
    assert not any(r.startswith("conditions.") for r in notice.rules)


def test_part_3_sensitive_processing_needs_schedule_8_and_every_part(policy: PolicySet) -> None:
    """DPA 2018 s35(5): health data shared by a competent authority for a law enforcement purpose
    needs a Schedule 8 condition and must be strictly necessary (why, who and use all stated)."""
    share = request(recipient_types=("probation",), data_categories=("identity", "mental-health"))
    refused = evaluate(policy, share)
    assert set(failed(refused)) == {"lawful", "necessary"}
    assert failed(refused)["lawful"] == (
        "Sensitive processing under DPA 2018 Part 3 (mental health needs and their effect on "
        "risk) needs a DPA 2018 Schedule 8 condition: cite one. Conditions that would: DPA 2018 "
        "Sch 8 para 1: statutory etc. purposes (substantial public interest).",
    )
    assert len(failed(refused)["necessary"]) == 2
    cited = replace(share, schedule1_condition="sch8-para1")
    assert set(failed(evaluate(policy, cited))) == {"necessary"}
    allowed = evaluate(policy, replace(cited, necessity=FULL))
    assert allowed.outcome is Outcome.PERMIT
    assert "conditions.sch8-para1" in allowed.rules
    apd = policy.policy_documents["apd-mappa-part3"]
    assert allowed.data_protection["policy_document"] == {"uri": apd.uri, "version": apd.version}
    # No UK GDPR basis under Part 3, and a Schedule 8 condition has no DPV term.
    assert "gdpr_basis" not in allowed.dpv and "condition" not in allowed.dpv


def test_a_sender_owing_confidence_states_the_public_interest(policy: PolicySet) -> None:
    share = request(
        sender_type="mental-health",
        recipient_types=("police",),
        data_categories=("identity", "mental-health"),
        schedule1_condition="sch1-para10",
    )
    assert failed(evaluate(policy, share)) == {
        "lawful": (
            "Duty of confidence: public interest test: a Duty to Cooperate agency (mental-health) "
            "owes a duty of confidence; state why the public interest in sharing outweighs the "
            "duty of confidence (public interest test) (at least 20 characters).",
        )
    }
    allowed = evaluate(
        policy, replace(share, necessity={"why": WHY, "public-interest": PUBLIC_INTEREST})
    )
    assert allowed.outcome is Outcome.PERMIT
    assert "confidence.public-interest-test" in allowed.rules
    assert allowed.data_protection["confidence"] == "public-interest-test"


# Necessary.


def test_the_packet_type_decides_the_parts_needed(policy: PolicySet) -> None:
    rfi = request(
        sender_type="housing",
        recipient_types=("police",),
        packet_type="request-for-information",
        data_categories=("identity",),
        schedule1_condition="sch1-para10",  # housing under UK GDPR: the offender's identity
    )
    reasons = failed(evaluate(policy, rfi))["necessary"]
    assert [r.split(" (")[0] for r in reasons] == [
        "State how the information will be used, and what will be done with it afterwards",
        "State which individuals need access, and why them",
    ]
    assert evaluate(policy, replace(rfi, necessity=FULL)).outcome is Outcome.PERMIT


def test_outside_mappa_every_part_is_needed_whatever_the_packet(policy: PolicySet) -> None:
    decision = evaluate(policy, third_party(necessity={"why": WHY}))
    assert set(failed(decision)) == {"necessary"}
    assert len(failed(decision)["necessary"]) == 2


def test_an_unknown_packet_type_needs_every_part(policy: PolicySet) -> None:
    decision = evaluate(policy, request(packet_type="memo"))
    assert failed(decision) == {
        "necessary": failed(decision)["necessary"],
        "proportionate": ("'memo' is not a packet type the policy knows.",),
    }
    assert len(failed(decision)["necessary"]) == 2
    assert decision.retention_years is None
    assert evaluate(policy, request(packet_type="memo", necessity=FULL)).failed[0].test is (
        PolicyTest.PROPORTIONATE
    )


def test_whitespace_does_not_count_towards_a_statement(policy: PolicySet) -> None:
    decision = evaluate(policy, request(necessity={"why": "   short   " + " " * 30}))
    assert set(failed(decision)) == {"necessary"}


# Proportionate.


def test_categories_must_be_named_and_known(policy: PolicySet) -> None:
    assert failed(evaluate(policy, request(data_categories=()))) == {
        "proportionate": ("Name the data categories the share carries.",)
    }
    decision = evaluate(policy, request(data_categories=("address", "biometrics", "dna")))
    assert failed(decision) == {"proportionate": ("Unknown data categories: biometrics, dna.",)}


def test_a_repeated_category_is_counted_once(policy: PolicySet) -> None:
    decision = evaluate(policy, request(data_categories=("health", "health")))
    assert len(failed(decision)["proportionate"]) == 1


def test_the_packet_type_limits_what_it_carries(policy: PolicySet) -> None:
    decision = evaluate(
        policy,
        request(
            recipient_types=("police",), packet_type="referral", data_categories=("intelligence",)
        ),
    )
    assert failed(decision) == {
        "proportionate": (
            "MAPPA referral (MAPPA A) cannot carry police or prison security intelligence.",
        )
    }


@pytest.mark.parametrize(("level", "category"), [(0, 2), (4, 2), (2, 0), (2, 4)])
def test_the_case_needs_a_level_and_category(policy: PolicySet, level: int, category: int) -> None:
    decision = evaluate(policy, request(mappa_level=level, mappa_category=category))
    assert failed(decision) == {
        "proportionate": ("The case needs a MAPPA category and level of 1, 2 or 3.",)
    }
    assert not any(r.startswith("proportionality.") for r in decision.rules)


def test_multiple_recipients_where_one_is_refused(policy: PolicySet) -> None:
    # Health data from the police for risk management is Part 3 sensitive processing: the Schedule
    # 8 condition and every part of the statement are given, so proportionality alone refuses.
    decision = evaluate(
        policy,
        request(
            recipient_types=("police", "housing", "health"),
            data_categories=("address", "health"),
            schedule1_condition="sch8-para1",
            necessity=FULL,
        ),
    )
    assert decision.outcome is Outcome.DENY
    assert failed(decision) == {
        "proportionate": (
            "Local housing authority or registered social landlord (Duty to Cooperate) may not "
            "receive physical health for a level 2 case.",
        )
    }
    assert {
        "proportionality.police.level-2",
        "proportionality.housing.level-2",
        "proportionality.health.level-2",
    } <= set(decision.rules)
    assert decision.approvals == ()


def test_an_unknown_recipient_type(policy: PolicySet) -> None:
    decision = evaluate(policy, request(recipient_types=("housing", "gp-practice")))
    assert failed(decision) == {
        "proportionate": ("No sharing rule covers recipients of type 'gp-practice'.",)
    }


def test_a_category_extra_for_a_mappa_category(policy: PolicySet) -> None:
    share = request(recipient_types=("childrens-social-care",), data_categories=("registration",))
    assert evaluate(policy, replace(share, mappa_category=1)).outcome is Outcome.PERMIT
    assert evaluate(policy, replace(share, mappa_category=2)).outcome is Outcome.DENY


def test_restricted_with_reason_review_needs_a_reason(policy: PolicySet) -> None:
    share = request(
        sender_type="victim-liaison",
        recipient_types=("probation",),
        purpose="victim-safety",
        data_categories=("identity", "victim-information"),
    )
    refused = evaluate(policy, share)
    assert failed(refused) == {
        "proportionate": (
            "Victim information is kept apart from offender-facing roles: Probation offender "
            "management (Responsible Authority; offender-facing) may not receive it. State the "
            "reason it must go to them; a coordinator then decides.",
        )
    }
    assert "restricted.victim-information" in refused.rules
    assert evaluate(policy, replace(share, restricted_reason="asked")).outcome is Outcome.DENY
    review = evaluate(policy, replace(share, restricted_reason=REASON))
    assert review.outcome is Outcome.REVIEW
    assert review.outcome.plain == "needs approval"
    assert review.approvals == (ApprovalNeed("restricted-category-with-reason", "coordinator", 1),)
    assert review.message() == "This share needs approval before it can be sent (1 coordinator)."
    assert [a.id for a in review.agreements] == ["mappa-isp", "victim-contact-scheme"]
    assert review.rules[-1] == "approvals.restricted-category-with-reason"


def test_restricted_with_reason_deny_is_refused_even_with_a_reason(policy: PolicySet) -> None:
    decision = evaluate(
        policy,
        request(
            recipient_types=("childrens-social-care",),
            data_categories=("identity", "intelligence"),
            restricted_reason="Intelligence says he is living with a family with two children.",
        ),
    )
    assert decision.outcome is Outcome.DENY
    assert failed(decision) == {
        "proportionate": (
            "Intelligence stays within the Responsible Authority; sources must be protected: "
            "Children's social care (Duty to Cooperate) may not receive it.",
        )
    }
    assert "restricted.intelligence" in decision.rules
    assert "approvals.restricted-category-with-reason" not in decision.rules


def test_a_restricted_category_the_recipient_may_receive_is_not_restricted(
    policy: PolicySet,
) -> None:
    decision = evaluate(
        policy, request(recipient_types=("police",), data_categories=("intelligence",))
    )
    assert decision.outcome is Outcome.PERMIT
    assert "restricted.intelligence" not in decision.rules


# Secure.


def test_an_unknown_channel(policy: PolicySet) -> None:
    decision = evaluate(policy, request(channel="fax"))
    assert failed(decision) == {"secure": ("'fax' is not a channel the policy allows.",)}
    assert not any(r.startswith("channels.") for r in decision.rules)


def test_a_channel_limits_categories_and_recipients(policy: PolicySet) -> None:
    decision = evaluate(policy, third_party(channel="email", data_categories=("identity",)))
    assert failed(decision) == {
        "secure": (
            "Email: a notification that something is waiting in the hub, never case content "
            "cannot carry identity (names, date of birth, references): send it as a packet "
            "through the hub.",
            "Email: a notification that something is waiting in the hub, never case content is "
            "not a channel to a third party outside MAPPA.",
        )
    }
    notice = evaluate(policy, request(channel="email", data_categories=("notification",)))
    assert notice.outcome is Outcome.PERMIT
    assert "channels.email" in notice.rules
    assert notice.dpv["personal_data"] == []


def test_a_channel_for_any_category_but_only_some_recipients(policy: PolicySet) -> None:
    decision = evaluate(policy, request(channel="visor-export"))
    assert failed(decision) == {
        "secure": (
            "ViSOR-style nominal record export is not a channel to a Duty to Cooperate agency.",
        )
    }
    share = request(recipient_types=("probation",), channel="visor-export")
    assert evaluate(policy, share).outcome is Outcome.PERMIT


# Accountable, and approvals.


@pytest.mark.parametrize("role", ["auditor", "agency-admin", "lay-adviser"])
def test_only_a_sharing_role_may_propose(policy: PolicySet, role: str) -> None:
    assert failed(evaluate(policy, request(sender_role=role))) == {
        "accountable": ("Your role cannot propose a share of case information.",)
    }


@pytest.mark.parametrize("role", ["practitioner", "coordinator", "senior-manager"])
def test_sharing_roles(policy: PolicySet, role: str) -> None:
    assert evaluate(policy, request(sender_role=role)).outcome is Outcome.PERMIT


def test_a_share_needs_a_recipient(policy: PolicySet) -> None:
    decision = evaluate(policy, request(recipient_types=()))
    assert failed(decision) == {"accountable": ("Name at least one recipient.",)}


def test_approvals_by_recipient_kind_and_level(policy: PolicySet) -> None:
    level_2 = evaluate(policy, third_party())
    assert level_2.outcome is Outcome.REVIEW
    assert [a.role for a in level_2.approvals] == ["coordinator"]
    assert "approvals.third-party-disclosure-level-3" not in level_2.rules
    level_3 = evaluate(policy, third_party(mappa_level=3))
    assert [(a.rule, a.role) for a in level_3.approvals] == [
        ("third-party-disclosure", "coordinator"),
        ("third-party-disclosure-level-3", "senior-manager"),
    ]
    assert level_3.message() == (
        "This share needs approval before it can be sent (1 coordinator, 1 senior-manager)."
    )
    voluntary = evaluate(
        policy,
        third_party(recipient_types=("voluntary",), data_categories=("identity", "risk-summary")),
    )
    assert [a.role for a in voluntary.approvals] == ["coordinator"]


def test_approvals_accumulate_from_several_rules(policy: PolicySet) -> None:
    decision = evaluate(
        policy,
        third_party(
            mappa_level=3,
            purpose="victim-safety",
            data_categories=("identity", "victim-information"),
            restricted_reason=REASON,
        ),
    )
    assert decision.outcome is Outcome.REVIEW
    assert decision.approvals == (
        ApprovalNeed("third-party-disclosure", "coordinator", 1),
        ApprovalNeed("third-party-disclosure-level-3", "senior-manager", 1),
        ApprovalNeed("restricted-category-with-reason", "coordinator", 1),
    )
    assert [a.id for a in decision.agreements] == [
        "mappa-guidance-third-party",
        "victim-contact-scheme",
        "mappa-isp",
    ]


def test_no_approvals_on_a_denied_share(policy: PolicySet) -> None:
    decision = evaluate(policy, third_party(mappa_level=3, channel="fax"))
    assert decision.outcome is Outcome.DENY
    assert "approvals.third-party-disclosure-level-3" in decision.rules
    assert decision.approvals == ()


def test_an_agreement_the_policy_does_not_define_is_refused(policy: PolicySet) -> None:
    """The loader prevents this; the engine still denies by default."""
    agreements = {k: v for k, v in policy.agreements.items() if k != "email-notification"}
    broken = replace(policy, agreements=MappingProxyType(agreements))
    share = request(channel="email", data_categories=("notification",))
    evaluate(policy, share)  # a replace() has its own memo: this is not what it answers
    decision = interpret(broken, share)
    assert failed(decision) == {
        "accountable": ("Rule names an unknown agreement 'email-notification'.",)
    }
    assert [a.id for a in decision.agreements] == ["mappa-isp"]
    assert identical(evaluate(broken, share), decision)


# Area boundaries (boundaries.toml).


def test_another_area_not_active_on_the_case_needs_both_areas_coordinators(
    policy: PolicySet,
) -> None:
    share = request(sender_area="north", recipients=(Party("housing", area="south"),))
    decision = evaluate(policy, share)
    assert decision.outcome is Outcome.REVIEW
    assert "boundaries.other-area" in decision.rules
    assert decision.approvals == (
        ApprovalNeed("other-area", "coordinator", 1, "sender"),
        ApprovalNeed("other-area", "coordinator", 1, "recipient"),
    )
    assert decision.message() == (
        "This share needs approval before it can be sent "
        "(1 coordinator, 1 coordinator of the recipient's area)."
    )
    assert decision.record()["approvals"][1] == {
        "role": "coordinator",
        "count": 1,
        "rule": "other-area",
        "area": "recipient",
    }
    # Active on the case, or of the sender's own area: inside the arrangements.
    for inside in (Party("housing", area="south", active=True), Party("housing", area="north")):
        within = evaluate(policy, replace(share, recipients=(inside,)))
        assert within.outcome is Outcome.PERMIT
        assert "boundaries.other-area" not in within.rules
    # A request for information travels between areas without that approval.
    rfi = replace(
        share, packet_type="request-for-information", data_categories=("identity",), necessity=FULL
    )
    travels = evaluate(policy, rfi)
    assert travels.outcome is Outcome.PERMIT
    assert "boundaries.other-area" in travels.rules


def test_another_jurisdiction_not_active_on_the_case_is_beyond_the_senders_law(
    policy: PolicySet,
) -> None:
    share = request(
        sender_area="north",
        recipients=(Party("housing", area="glasgow", jurisdiction="scotland"),),
    )
    decision = evaluate(policy, share)
    assert failed(decision) == {
        "lawful": (f"{policy.other_jurisdiction.label}: housing is not active on this case.",)
    }
    assert "boundaries.other-jurisdiction" in decision.rules
    assert "boundaries.other-area" not in decision.rules
    assert [a.id for a in decision.agreements] == ["cross-border-protocol", "mappa-isp"]
    rfi = replace(
        share, packet_type="request-for-information", data_categories=("identity",), necessity=FULL
    )
    assert evaluate(policy, rfi).outcome is Outcome.PERMIT
    active = (Party("housing", area="glasgow", jurisdiction="scotland", active=True),)
    assert evaluate(policy, replace(share, recipients=active)).outcome is Outcome.PERMIT


# The per-version memo.


def test_a_decision_is_memoised_per_shape(policy: PolicySet) -> None:
    first = evaluate(policy, request())
    assert evaluate(policy, request(necessity={"why": WHY + " Worded differently."})) is first
    assert evaluate(policy, request(necessity={"why": "too short"})) is not first
    assert len(policy.decisions) == 2


def test_a_reason_counts_by_length_in_the_memo(policy: PolicySet) -> None:
    share = request(
        sender_type="victim-liaison",
        recipient_types=("probation",),
        purpose="victim-safety",
        data_categories=("victim-information",),
    )
    assert evaluate(policy, replace(share, restricted_reason="asked")).outcome is Outcome.DENY
    assert evaluate(policy, replace(share, restricted_reason=REASON)).outcome is Outcome.REVIEW


def test_the_memo_is_bounded(policy: PolicySet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_CACHE_LIMIT", 2)
    for level in (1, 2, 3):
        evaluate(policy, request(mappa_level=level))
    assert len(policy.decisions) == 1
    assert evaluate(policy, request(mappa_level=3)).outcome is Outcome.PERMIT


def test_a_non_decision_in_the_memo_is_not_trusted(policy: PolicySet) -> None:
    evaluate(policy, request())
    (key,) = policy.decisions
    policy.decisions[key] = "tampered"
    assert isinstance(evaluate(policy, request()), Decision)
    assert isinstance(policy.decisions[key], Decision)
