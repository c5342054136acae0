"""Test 1, lawful authority (hub.policy.lawful): the gateway, the reach of the law across area and
jurisdiction boundaries, the data protection route (DPA 2018 Part 3 or UK GDPR) with its Schedule 1
or Schedule 8 condition, and the duty of confidence. Branch by branch, with the words a user is
told and the gateways or conditions each refusal suggests."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest

from hub.config import SOURCE_POLICY_DIR
from hub.policy.engine import evaluate
from hub.policy.lawful import (
    JURISDICTION_LABEL,
    KIND_LABEL,
    LawfulFinding,
    _type_label,
    dpv_terms,
    kind_of,
    lawful_test,
    regime_of,
    suggest_bases,
)
from hub.policy.loader import Category, PolicySet, load_policy
from hub.policy.model import Outcome, Party, ShareRequest

WHY = "His risk of serious harm has risen since he was recalled to custody."
WHO = "The offender manager and the police public protection officer for the case only."
USE = "To revise the plan and licence conditions at the review; kept on the case record."
PUBLIC_INTEREST = "He has named a neighbour he blames for his recall; her safety outweighs it."
FULL = {"why": WHY, "who": WHO, "use": USE}

S325 = (
    "Criminal Justice Act 2003 s325 (MAPPA: the Responsible Authority's arrangements and the duty "
    "to co-operate)"
)
S115 = "Crime and Disorder Act 1998 s115 (power of any person to disclose to a relevant authority)"
MOSA = (
    "Management of Offenders etc. (Scotland) Act 2005 ss10-11 (MAPPA in Scotland: joint "
    "arrangements and co-operation)"
)
CJNIO = (
    "Criminal Justice (Northern Ireland) Order 2008 arts 49-50 (PPANI: guidance to agencies and "
    "their duty to co-operate)"
)
COMMON_LAW = (
    "Common law power of the police and the Responsible Authority to disclose to prevent harm "
    "(third-party disclosure)"
)
LEGITIMATE = "UK GDPR Art 6(1)(f) legitimate interests (voluntary partners only)"
PARA6 = "DPA 2018 Sch 1 para 6: statutory and government purposes (substantial public interest)"
PARA10 = "DPA 2018 Sch 1 para 10: preventing or detecting unlawful acts"
PARA18 = "DPA 2018 Sch 1 para 18: safeguarding of children and of individuals at risk"
PARA2 = "DPA 2018 Sch 1 para 2: health or social care purposes"
PARA30 = "DPA 2018 Sch 1 para 30: protecting an individual's vital interests (criminal offence data only)"
SCH8_PARA1 = "DPA 2018 Sch 8 para 1: statutory etc. purposes (substantial public interest)"
SCH8_PARA3 = "DPA 2018 Sch 8 para 3: protecting an individual's vital interests"
SCH8_PARA4 = "DPA 2018 Sch 8 para 4: safeguarding of children and of individuals at risk"


@pytest.fixture(scope="module")
def policy() -> PolicySet:
    return load_policy(SOURCE_POLICY_DIR)


def share(**changes: Any) -> ShareRequest:
    """The police tell probation of the offender's risk under s325, in England: lawful as it is
    (Part 3, criminal offence data only, so no condition is needed)."""
    fields: dict[str, Any] = {
        "sender_type": "police",
        "sender_role": "practitioner",
        "recipient_types": ("probation",),
        "packet_type": "note",
        "data_categories": ("identity", "risk-summary"),
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "mappa_category": 2,
        "mappa_level": 2,
        "necessity": {"why": WHY},
    }
    fields.update(changes)
    return ShareRequest(**fields)


def route(**changes: Any) -> dict[str, Any]:
    """The data_protection record of a lawful share with no condition, changed as given."""
    record: dict[str, Any] = {
        "regime": "law-enforcement",
        "basis_nature": "duty",
        "special_category": False,
        "criminal_offence": True,
        "condition": None,
        "policy_document": None,
        "confidence": None,
    }
    record.update(changes)
    return record


def document(policy: PolicySet, name: str) -> dict[str, str]:
    d = policy.policy_documents[name]
    return {"uri": d.uri, "version": d.version}


# Helpers: kinds, regimes, labels.


def test_kind_of_a_known_and_an_unknown_agency_type() -> None:
    assert kind_of("police") == "responsible-authority"
    assert kind_of("housing") == "duty-to-cooperate"
    assert kind_of("voluntary") == "voluntary"
    assert kind_of("third-party") == "third-party"
    assert kind_of("gp-practice") is None


def test_type_label() -> None:
    assert _type_label("housing", "duty-to-cooperate") == "a Duty to Cooperate agency (housing)"
    assert _type_label("gp-practice", None) == "'gp-practice'"
    assert set(KIND_LABEL) == {
        "responsible-authority",
        "duty-to-cooperate",
        "voluntary",
        "third-party",
    }
    assert JURISDICTION_LABEL["scotland"] == "Scotland"


@pytest.mark.parametrize(
    ("sender", "purpose", "regime"),
    [
        ("police", "risk-management", "law-enforcement"),  # competent authority, s31 purpose
        ("police", "safeguarding-children", "general"),  # a welfare purpose, not s31
        ("police", "research", "general"),  # a purpose the policy does not know
        ("youth-offending", "victim-safety", "law-enforcement"),  # DPA 2018 Sch 7
        ("criminal-justice-social-work", "public-protection", "law-enforcement"),
        ("housing", "risk-management", "general"),  # no competent authority
        ("health", "public-protection", "general"),
        ("gp-practice", "risk-management", "general"),
    ],
)
def test_regime_of(policy: PolicySet, sender: str, purpose: str, regime: str) -> None:
    assert regime_of(policy, sender, purpose) == regime


def test_a_lawful_share_and_its_finding(policy: PolicySet) -> None:
    finding = lawful_test(policy, share())
    assert finding == LawfulFinding(
        reasons=[],
        rules=["lawful_bases.cja2003-s325", "regimes.law-enforcement"],
        data_protection=route(),
        strictly_necessary=False,
    )


# The catalogue: purpose, sender and basis must be known.


def test_unknown_purpose_sender_and_basis(policy: PolicySet) -> None:
    finding = lawful_test(
        policy,
        share(
            sender_type="gp-practice",
            purpose="research",
            lawful_basis="consent",
            data_categories=("notification",),
        ),
    )
    assert finding.reasons == [
        "'research' is not a purpose in the catalogue; choose one from the list.",
        "'gp-practice' is not a known agency type.",
        "'consent' is not a lawful basis in the catalogue; choose one from the list.",
    ]
    assert finding.rules == ["regimes.general"]
    assert finding.data_protection == route(
        regime="general", basis_nature=None, criminal_offence=False
    )


def test_an_unknown_sender_is_not_asked_whether_it_may_rely_on_the_gateway(
    policy: PolicySet,
) -> None:
    """Who may rely on a gateway cannot be judged for an unknown sender: only that it is unknown
    is said, and the gateways offered are those that reach the recipient and serve the purpose."""
    finding = lawful_test(
        policy,
        share(
            sender_type="gp-practice", recipient_types=("third-party",), purpose="public-protection"
        ),
    )
    assert finding.reasons[:2] == [
        "'gp-practice' is not a known agency type.",
        f"{S325} does not cover sharing with a third party outside MAPPA (third-party). "
        f"Bases that would: {COMMON_LAW}.",
    ]


def test_an_unknown_recipient_type_is_left_to_proportionality(policy: PolicySet) -> None:
    finding = lawful_test(policy, share(recipient_types=("gp-practice", "probation")))
    assert finding.reasons == []


# The gateway: where the law runs, who may rely on it, whom it reaches, what it serves.


def test_a_scottish_sender_citing_s325_is_offered_the_scottish_act(policy: PolicySet) -> None:
    finding = lawful_test(
        policy,
        share(
            jurisdiction="scotland",
            recipient_types=("criminal-justice-social-work",),
        ),
    )
    assert finding.reasons == [f"{S325} is not law in Scotland. Bases that would: {MOSA}."]
    assert finding.rules == ["lawful_bases.cja2003-s325", "regimes.law-enforcement"]
    allowed = lawful_test(
        policy,
        share(
            jurisdiction="scotland",
            recipient_types=("criminal-justice-social-work",),
            lawful_basis="mosa2005-s10",
        ),
    )
    assert allowed.reasons == []


def test_a_northern_irish_sender_citing_the_scottish_act(policy: PolicySet) -> None:
    finding = lawful_test(
        policy, share(jurisdiction="northern-ireland", lawful_basis="mosa2005-s10")
    )
    assert finding.reasons == [f"{MOSA} is not law in Northern Ireland. Bases that would: {CJNIO}."]


def test_a_jurisdiction_the_hub_does_not_know_is_named_as_given(policy: PolicySet) -> None:
    finding = lawful_test(policy, share(jurisdiction="isle-of-man"))
    assert finding.reasons == [f"{S325} is not law in isle-of-man."]


def test_the_common_law_runs_in_all_three_jurisdictions(policy: PolicySet) -> None:
    for jurisdiction in JURISDICTION_LABEL:
        finding = lawful_test(
            policy,
            share(
                jurisdiction=jurisdiction,
                recipient_types=("third-party",),
                purpose="public-protection",
                lawful_basis="common-law",
            ),
        )
        assert finding.reasons == [], jurisdiction


def test_a_sender_who_cannot_rely_on_the_gateway(policy: PolicySet) -> None:
    finding = lawful_test(
        policy,
        share(
            sender_type="housing",
            recipient_types=("third-party",),
            purpose="public-protection",
            lawful_basis="common-law",
            schedule1_condition="sch1-para10",
        ),
    )
    # No gateway lets housing tell a third party: nothing is suggested.
    assert finding.reasons == [f"A Duty to Cooperate agency (housing) cannot rely on {COMMON_LAW}."]


def test_the_sender_label_keeps_its_capitals_at_the_start_of_a_sentence(policy: PolicySet) -> None:
    finding = lawful_test(
        policy,
        share(
            sender_type="housing", lawful_basis="cja2003-s327a", recipient_types=("third-party",)
        ),
    )
    assert finding.reasons[0].startswith("A Duty to Cooperate agency (housing) cannot rely on")


def test_a_gateway_that_does_not_reach_a_recipient(policy: PolicySet) -> None:
    """s115 reaches only relevant authorities (s115(2)): not prisons or Jobcentre Plus."""
    finding = lawful_test(
        policy,
        share(
            sender_type="housing",
            recipient_types=("jobcentre-plus", "police", "prison"),
            lawful_basis="cda1998-s115",
            schedule1_condition="sch1-para10",
        ),
    )
    # One reason per recipient it does not reach, in order; s325 reaches them all.
    assert finding.reasons == [
        f"{S115} does not cover sharing with a Duty to Cooperate agency (jobcentre-plus). "
        f"Bases that would: {S325}.",
        f"{S115} does not cover sharing with a Responsible Authority agency (prison). "
        f"Bases that would: {S325}.",
    ]


def test_a_gateway_that_does_not_serve_the_purpose(policy: PolicySet) -> None:
    finding = lawful_test(policy, share(lawful_basis="cda1998-s115", purpose="mappa-meeting"))
    assert finding.reasons == [f"{S115} does not support the purpose 'mappa-meeting'."]


def test_the_purpose_is_not_checked_against_the_gateway_when_unknown(policy: PolicySet) -> None:
    finding = lawful_test(policy, share(purpose="research", data_categories=("notification",)))
    assert finding.reasons == [
        "'research' is not a purpose in the catalogue; choose one from the list."
    ]


def test_a_public_authority_citing_legitimate_interests_is_refused(policy: PolicySet) -> None:
    finding = lawful_test(
        policy,
        share(
            sender_type="housing",
            recipient_types=("police",),
            lawful_basis="ukgdpr-6-1-f",
            schedule1_condition="sch1-para10",
        ),
    )
    assert finding.reasons == [
        f"A Duty to Cooperate agency (housing) cannot rely on {LEGITIMATE}. "
        f"Bases that would: {S325}; {S115}.",
        "Public authorities never rely on legitimate interests (UK GDPR Art 6(1), last "
        "sentence): cite the statutory gateway or common law power you act under.",
    ]


def test_legitimate_interests_are_refused_to_a_public_authority_even_if_listed(
    policy: PolicySet,
) -> None:
    """Art 6(1), last sentence, holds whatever relied_on_by says: a file that lists a public
    authority is still refused for it, and legitimate interests are never suggested to it."""
    basis = policy.lawful_bases["ukgdpr-6-1-f"]
    widened = replace(basis, relied_on_by=basis.relied_on_by | {"housing"})
    changed = replace(
        policy, lawful_bases=MappingProxyType({**policy.lawful_bases, "ukgdpr-6-1-f": widened})
    )
    request = share(
        sender_type="housing",
        recipient_types=("police",),
        lawful_basis="ukgdpr-6-1-f",
        schedule1_condition="sch1-para10",
    )
    assert lawful_test(changed, request).reasons == [
        "Public authorities never rely on legitimate interests (UK GDPR Art 6(1), last "
        "sentence): cite the statutory gateway or common law power you act under."
    ]
    refused = lawful_test(changed, replace(request, lawful_basis="cja2003-s327a"))
    assert LEGITIMATE not in " ".join(refused.reasons)


def test_a_voluntary_partner_relies_on_legitimate_interests(policy: PolicySet) -> None:
    request = share(
        sender_type="voluntary",
        recipient_types=("police",),
        lawful_basis="ukgdpr-6-1-f",
        schedule1_condition="sch1-para10",
    )
    finding = lawful_test(policy, request)
    assert finding.reasons == []
    assert finding.rules == [
        "lawful_bases.ukgdpr-6-1-f",
        "regimes.general",
        "conditions.sch1-para10",
    ]
    assert finding.data_protection == route(
        regime="general",
        basis_nature="power",
        condition="sch1-para10",
        policy_document=document(policy, "apd-mappa-part2"),
    )
    # And legitimate interests are what is suggested to a voluntary partner citing s327A.
    refused = lawful_test(policy, replace(request, lawful_basis="cja2003-s327a"))
    assert refused.reasons[0] == (
        "A voluntary partner (voluntary) cannot rely on Criminal Justice Act 2003 s327A (child "
        "sex offender disclosure: presumption to disclose). Bases that would: "
        f"{S115}; {LEGITIMATE}."
    )


def test_suggest_bases(policy: PolicySet) -> None:
    assert suggest_bases(policy, share()) == f" Bases that would: {S325}; {S115}."
    assert suggest_bases(policy, share(purpose="research")) == ""
    assert suggest_bases(policy, share(jurisdiction="scotland")) == f" Bases that would: {MOSA}."
    # An unknown sender: any gateway that reaches the recipients and serves the purpose here,
    # legitimate interests included (an unknown type is not listed as a public authority).
    assert suggest_bases(policy, share(sender_type="gp-practice")) == (
        f" Bases that would: {S325}; {S115}; {LEGITIMATE}."
    )
    # A public authority is never offered legitimate interests.
    assert LEGITIMATE not in suggest_bases(policy, share(sender_type="housing"))
    # An unknown recipient type is reached only by a gateway that names no kinds.
    assert suggest_bases(policy, share(recipient_types=("gp-practice",))) == ""


# Area and jurisdiction boundaries.


def test_a_recipient_of_another_jurisdiction_outside_the_case_is_refused(policy: PolicySet) -> None:
    label = policy.other_jurisdiction.label
    outside = Party("probation", area="glasgow", jurisdiction="scotland")
    finding = lawful_test(policy, share(sender_area="london", recipients=(outside,)))
    assert finding.reasons == [f"{label}: probation is not active on this case."]
    assert finding.rules == [
        "lawful_bases.cja2003-s325",
        "boundaries.other-jurisdiction",
        "regimes.law-enforcement",
    ]
    two = (outside, Party("police", area="belfast", jurisdiction="northern-ireland"))
    finding = lawful_test(policy, share(sender_area="london", recipients=two))
    assert finding.reasons == [f"{label}: police, probation are not active on this case."]


@pytest.mark.parametrize("packet_type", ["request-for-information", "case-transfer"])
def test_a_request_for_information_or_a_transfer_travels_to_another_jurisdiction(
    policy: PolicySet, packet_type: str
) -> None:
    outside = Party("probation", area="glasgow", jurisdiction="scotland")
    finding = lawful_test(
        policy, share(sender_area="london", recipients=(outside,), packet_type=packet_type)
    )
    assert finding.reasons == []
    assert "boundaries.other-jurisdiction" in finding.rules


@pytest.mark.parametrize(
    "party",
    [
        Party("probation", area="glasgow", jurisdiction="scotland", active=True),  # active
        Party("probation", area="london", jurisdiction="scotland"),  # the sender's own area
        Party("probation", area="kent", jurisdiction="england-and-wales"),  # another area only
        Party("probation", area="kent"),  # no jurisdiction given: the sender's
        Party("probation"),  # no area given: the sender's
    ],
)
def test_who_is_not_beyond_the_senders_law(policy: PolicySet, party: Party) -> None:
    finding = lawful_test(policy, share(sender_area="london", recipients=(party,)))
    assert finding.reasons == []
    assert "boundaries.other-jurisdiction" not in finding.rules


# The data protection route: DPA 2018 Part 3.


def test_part_3_needs_no_condition_for_criminal_offence_data(policy: PolicySet) -> None:
    finding = lawful_test(policy, share(data_categories=("offence-history", "licence-conditions")))
    assert finding.reasons == []
    assert finding.strictly_necessary is False


def test_part_3_sensitive_processing_needs_a_schedule_8_condition(policy: PolicySet) -> None:
    finding = lawful_test(policy, share(data_categories=("identity", "mental-health", "health")))
    assert finding.reasons == [
        "Sensitive processing under DPA 2018 Part 3 (mental health needs and their effect on "
        f"risk, physical health) needs a DPA 2018 Schedule 8 condition: cite one. Conditions that "
        f"would: {SCH8_PARA1}."
    ]
    assert finding.strictly_necessary is True
    assert finding.data_protection == route(special_category=True)


def test_part_3_sensitive_processing_with_its_condition(policy: PolicySet) -> None:
    finding = lawful_test(
        policy,
        share(
            purpose="victim-safety",
            data_categories=("mental-health",),
            schedule1_condition="sch8-para3",
        ),
    )
    assert finding.reasons == []
    assert finding.rules == [
        "lawful_bases.cja2003-s325",
        "regimes.law-enforcement",
        "conditions.sch8-para3",
    ]
    assert finding.strictly_necessary is True
    assert finding.data_protection == route(
        special_category=True,
        condition="sch8-para3",
        policy_document=document(policy, "apd-mappa-part3"),
    )


def test_a_schedule_1_condition_cited_for_part_3_sensitive_processing(policy: PolicySet) -> None:
    finding = lawful_test(
        policy, share(data_categories=("mental-health",), schedule1_condition="sch1-para6")
    )
    assert finding.reasons == [
        f"{PARA6} is a Schedule 1 condition; a competent authority's sensitive processing for a "
        "law enforcement purpose needs a Schedule 8 condition. Conditions that would: "
        f"{SCH8_PARA1}."
    ]
    assert finding.data_protection["condition"] is None
    assert not any(r.startswith("conditions.") for r in finding.rules)


def test_a_schedule_8_condition_for_the_wrong_purpose(policy: PolicySet) -> None:
    finding = lawful_test(
        policy, share(data_categories=("mental-health",), schedule1_condition="sch8-para3")
    )
    assert finding.reasons == [
        f"{SCH8_PARA3} cannot carry the purpose 'managing the risk an offender poses'. "
        f"Conditions that would: {SCH8_PARA1}."
    ]


def test_a_condition_cited_where_none_is_needed_is_not_recorded(policy: PolicySet) -> None:
    finding = lawful_test(policy, share(schedule1_condition="sch8-para1"))
    assert finding.reasons == []
    assert finding.rules == ["lawful_bases.cja2003-s325", "regimes.law-enforcement"]
    assert finding.data_protection["condition"] is None


def test_an_unknown_condition(policy: PolicySet) -> None:
    finding = lawful_test(policy, share(schedule1_condition="sch8-para99"))
    assert finding.reasons == ["'sch8-para99' is not a data protection condition the policy knows."]
    special = lawful_test(
        policy, share(data_categories=("mental-health",), schedule1_condition="sch8-para99")
    )
    # Not also told to cite one: the one cited is what is wrong.
    assert special.reasons == ["'sch8-para99' is not a data protection condition the policy knows."]


# The data protection route: UK GDPR.


def test_under_uk_gdpr_criminal_offence_data_needs_a_schedule_1_condition(
    policy: PolicySet,
) -> None:
    finding = lawful_test(policy, share(sender_type="housing", recipient_types=("police",)))
    assert finding.reasons == [
        "Under UK GDPR, criminal offence data (Art 10) needs a DPA 2018 Schedule 1 condition: cite "
        f"one. Conditions that would: {PARA6}; {PARA10}."
    ]
    assert finding.strictly_necessary is False
    assert finding.data_protection == route(regime="general")


def test_a_competent_authority_safeguarding_is_under_uk_gdpr(policy: PolicySet) -> None:
    finding = lawful_test(policy, share(purpose="safeguarding-children"))
    assert finding.rules == ["lawful_bases.cja2003-s325", "regimes.general"]
    assert finding.reasons == [
        "Under UK GDPR, criminal offence data (Art 10) needs a DPA 2018 Schedule 1 condition: cite "
        f"one. Conditions that would: {PARA6}; {PARA18}."
    ]
    allowed = lawful_test(
        policy, share(purpose="safeguarding-children", schedule1_condition="sch1-para18")
    )
    assert allowed.reasons == []
    assert allowed.strictly_necessary is False


def test_under_uk_gdpr_special_category_and_criminal_offence_data(policy: PolicySet) -> None:
    finding = lawful_test(
        policy,
        share(
            sender_type="housing",
            recipient_types=("police",),
            purpose="public-protection",
            lawful_basis="cda1998-s115",
            data_categories=("identity", "health"),
        ),
    )
    # Para 30 (Part 3 of Schedule 1) carries criminal offence data only: not suggested here.
    assert finding.reasons == [
        "Under UK GDPR, special category data (Art 9: physical health) and criminal offence data "
        f"(Art 10) needs a DPA 2018 Schedule 1 condition: cite one. Conditions that would: {PARA6}; "
        f"{PARA10}."
    ]
    assert finding.data_protection == route(
        regime="general", basis_nature="power", special_category=True
    )


def test_under_uk_gdpr_special_category_data_alone(policy: PolicySet) -> None:
    """A special category that is not criminal offence data (none is, in the shipped catalogue)."""
    health = policy.categories["health"]
    wellbeing = Category("wellbeing", "Wellbeing", "pd:Health", True, False)
    changed = replace(
        policy, categories=MappingProxyType({**policy.categories, "wellbeing": wellbeing})
    )
    finding = lawful_test(
        changed,
        share(sender_type="housing", recipient_types=("police",), data_categories=("wellbeing",)),
    )
    assert health.criminal_offence
    assert finding.reasons == [
        "Under UK GDPR, special category data (Art 9: wellbeing) needs a DPA 2018 Schedule 1 "
        f"condition: cite one. Conditions that would: {PARA6}; {PARA10}."
    ]
    assert finding.data_protection == route(
        regime="general", special_category=True, criminal_offence=False
    )


def test_data_that_is_neither_needs_no_condition(policy: PolicySet) -> None:
    finding = lawful_test(
        policy,
        share(
            sender_type="housing",
            recipient_types=("police",),
            data_categories=("notification", "victim-address", "no-such-category"),
        ),
    )
    assert finding.reasons == []
    assert finding.data_protection == route(regime="general", criminal_offence=False)


def test_a_schedule_8_condition_cited_under_uk_gdpr(policy: PolicySet) -> None:
    finding = lawful_test(
        policy,
        share(sender_type="housing", recipient_types=("police",), schedule1_condition="sch8-para1"),
    )
    assert finding.reasons == [
        f"{SCH8_PARA1} is a Schedule 8 condition, for competent authorities' law enforcement "
        f"processing; under UK GDPR cite a Schedule 1 condition. Conditions that would: {PARA6}; "
        f"{PARA10}."
    ]
    assert finding.data_protection["condition"] is None


def test_a_part_3_condition_cited_for_special_category_data(policy: PolicySet) -> None:
    request = share(
        sender_type="housing",
        recipient_types=("police",),
        purpose="public-protection",
        lawful_basis="cda1998-s115",
        data_categories=("identity", "mental-health"),
        schedule1_condition="sch1-para30",
    )
    assert lawful_test(policy, request).reasons == [
        f"{PARA30} covers criminal offence data only; special category data needs a Schedule 1 "
        f"Part 1 or Part 2 condition. Conditions that would: {PARA6}; {PARA10}."
    ]
    # For criminal offence data alone it serves, and needs no appropriate policy document.
    plain = lawful_test(policy, replace(request, data_categories=("identity",)))
    assert plain.reasons == []
    assert plain.data_protection == route(
        regime="general", basis_nature="power", condition="sch1-para30"
    )


def test_a_condition_cited_for_a_purpose_it_cannot_carry(policy: PolicySet) -> None:
    """Para 18 (safeguarding) cannot carry an accommodation placement: that needs para 6."""
    finding = lawful_test(
        policy,
        share(
            sender_type="housing",
            recipient_types=("police",),
            purpose="accommodation-placement",
            schedule1_condition="sch1-para18",
        ),
    )
    assert finding.reasons == [
        f"{PARA18} cannot carry the purpose 'finding and approving accommodation for the "
        f"offender'. Conditions that would: {PARA6}."
    ]


def test_a_condition_cited_for_an_unknown_purpose(policy: PolicySet) -> None:
    finding = lawful_test(
        policy,
        share(
            sender_type="housing",
            recipient_types=("police",),
            purpose="research",
            schedule1_condition="sch1-para10",
        ),
    )
    assert finding.reasons == [
        "'research' is not a purpose in the catalogue; choose one from the list.",
        f"{PARA10} cannot carry the purpose 'research'.",
    ]


def test_schedule_1_para_2_is_for_health_and_social_work_professionals(
    policy: PolicySet,
) -> None:
    request = share(
        sender_type="housing",
        recipient_types=("probation",),
        purpose="pre-release-planning",
        data_categories=("identity", "mental-health"),
        schedule1_condition="sch1-para2",
    )
    assert lawful_test(policy, request).reasons == [
        f"{PARA2} is only for processing by or under a health or social work professional (UK "
        f"GDPR Art 9(3)); housing cannot rely on it. Conditions that would: {PARA6}."
    ]
    # A mental health trust may, having applied the public interest test; para 2 needs no
    # appropriate policy document.
    health = replace(
        request,
        sender_type="mental-health",
        necessity={"why": WHY, "public-interest": PUBLIC_INTEREST},
    )
    finding = lawful_test(policy, health)
    assert finding.reasons == []
    assert finding.rules == [
        "lawful_bases.cja2003-s325",
        "regimes.general",
        "conditions.sch1-para2",
        "confidence.public-interest-test",
    ]
    assert finding.data_protection == route(
        regime="general",
        special_category=True,
        condition="sch1-para2",
        confidence="public-interest-test",
    )
    # And it is suggested to them when they cite one that does not fit.
    wrong = lawful_test(policy, replace(health, schedule1_condition="sch1-para18"))
    assert wrong.reasons == [
        f"{PARA18} cannot carry the purpose 'planning release from custody or hospital'. "
        f"Conditions that would: {PARA6}; {PARA2}."
    ]


# The duty of confidence.


@pytest.mark.parametrize(
    "sender", ["health", "mental-health", "childrens-social-care", "adult-social-care"]
)
def test_a_sender_who_owes_confidence_applies_the_public_interest_test(
    policy: PolicySet, sender: str
) -> None:
    request = share(
        sender_type=sender,
        recipient_types=("police",),
        data_categories=("notification",),
    )
    finding = lawful_test(policy, request)
    assert finding.reasons == [
        f"Duty of confidence: public interest test: a Duty to Cooperate agency ({sender}) owes a "
        "duty of confidence; state why the public interest in sharing outweighs the duty of "
        "confidence (public interest test) (at least 20 characters)."
    ]
    assert "confidence.public-interest-test" not in finding.rules
    short = replace(request, necessity={"why": WHY, "public-interest": "Public safety."})
    assert len(lawful_test(policy, short).reasons) == 1
    stated = replace(request, necessity={"why": WHY, "public-interest": PUBLIC_INTEREST})
    finding = lawful_test(policy, stated)
    assert finding.reasons == []
    assert finding.rules[-1] == "confidence.public-interest-test"
    assert finding.data_protection["confidence"] == "public-interest-test"


def test_a_statutory_power_does_not_override_confidence(policy: PolicySet) -> None:
    """s115 is a power to disclose, not a duty: the public interest test is still needed."""
    finding = lawful_test(
        policy,
        share(
            sender_type="health",
            recipient_types=("police",),
            purpose="crime-prevention",
            lawful_basis="cda1998-s115",
            data_categories=("identity",),
            schedule1_condition="sch1-para10",
        ),
    )
    assert [r.split(":")[0] for r in finding.reasons] == ["Duty of confidence"]


def test_a_disclosure_the_law_compels_is_an_exception_to_confidence(policy: PolicySet) -> None:
    """Care Act 2014 s45: the person a Safeguarding Adults Board asks must supply the information,
    so no public interest test is asked of a health sender (overrides_confidence = true)."""
    request = share(
        sender_type="mental-health",
        recipient_types=("adult-social-care",),
        purpose="safeguarding-adults",
        lawful_basis="care-act-2014-s45",
        data_categories=("identity", "mental-health"),
        schedule1_condition="sch1-para18",
    )
    finding = lawful_test(policy, request)
    assert finding.reasons == []
    assert finding.rules == [
        "lawful_bases.care-act-2014-s45",
        "regimes.general",
        "conditions.sch1-para18",
        "confidence.required-by-law",
    ]
    assert finding.data_protection == route(
        regime="general",
        special_category=True,
        condition="sch1-para18",
        policy_document=document(policy, "apd-mappa-part2"),
        confidence="required-by-law",
    )
    # A power is no compulsion: under s115 the same sender applies the public interest test.
    power = lawful_test(
        policy,
        replace(
            request,
            recipient_types=("police",),
            purpose="crime-prevention",
            lawful_basis="cda1998-s115",
            schedule1_condition="sch1-para10",
        ),
    )
    assert [r.split(":")[0] for r in power.reasons] == ["Duty of confidence"]
    # A sender who owes no confidence has no exception recorded either.
    housing = lawful_test(policy, replace(request, sender_type="housing"))
    assert housing.data_protection["confidence"] is None
    assert not any(r.startswith("confidence.") for r in housing.rules)
    assert [n for n, b in policy.lawful_bases.items() if b.overrides_confidence] == [
        "care-act-2014-s45"
    ]


def test_no_confidence_test_for_senders_who_owe_none(policy: PolicySet) -> None:
    finding = lawful_test(policy, share(necessity={"why": WHY, "public-interest": PUBLIC_INTEREST}))
    assert finding.data_protection["confidence"] is None
    assert "confidence.public-interest-test" not in finding.rules


# DPV terms.


def test_dpv_terms_under_part_3(policy: PolicySet) -> None:
    request = share(data_categories=("identity", "mental-health"), schedule1_condition="sch8-para1")
    finding = lawful_test(policy, request)
    basis = policy.lawful_bases["cja2003-s325"]
    terms = dpv_terms(
        policy, request, basis, finding.data_protection, ["identity", "mental-health"]
    )
    # No UK GDPR basis under Part 3, and Schedule 8 has no DPV term.
    assert terms == {
        "purpose": "dpv:ProtectionOfPublicSecurity",
        "legal_basis": "dpv:LegalObligation",
        "personal_data": ["pd:Identifying", "pd:MentalHealth"],
    }


def test_dpv_terms_under_uk_gdpr_public_task(policy: PolicySet) -> None:
    request = share(
        sender_type="health",
        recipient_types=("police",),
        data_categories=("identity", "mental-health"),
        schedule1_condition="sch1-para10",
        necessity={"why": WHY, "public-interest": PUBLIC_INTEREST},
    )
    decision = evaluate(policy, request)
    assert decision.outcome is Outcome.PERMIT
    assert decision.dpv == {
        "purpose": "dpv:ProtectionOfPublicSecurity",
        "legal_basis": "dpv:LegalObligation",
        "personal_data": ["pd:Identifying", "pd:MentalHealth"],
        "gdpr_basis": "eu-gdpr:A6-1-e",
        "condition": "eu-gdpr:A9-2-g",
    }


def test_dpv_terms_for_legitimate_interests(policy: PolicySet) -> None:
    request = share(
        sender_type="voluntary",
        recipient_types=("police",),
        lawful_basis="ukgdpr-6-1-f",
        data_categories=("identity",),
        schedule1_condition="sch1-para30",
        purpose="public-protection",
    )
    finding = lawful_test(policy, request)
    basis = policy.lawful_bases["ukgdpr-6-1-f"]
    terms = dpv_terms(policy, request, basis, finding.data_protection, ["identity"])
    # Para 30 has no DPV term: it is left out rather than invented.
    assert terms == {
        "purpose": "dpv:ProtectionOfPublicSecurity",
        "legal_basis": "dpv:LegitimateInterest",
        "personal_data": ["pd:Identifying"],
        "gdpr_basis": "eu-gdpr:A6-1-f",
    }


def test_dpv_terms_without_a_known_purpose_or_basis(policy: PolicySet) -> None:
    request = share(purpose="research", lawful_basis="consent")
    finding = lawful_test(policy, request)
    assert finding.data_protection["regime"] == "general"
    terms = dpv_terms(policy, request, None, finding.data_protection, ["notification", "address"])
    # The notification has no DPV term; without a gateway there is no UK GDPR basis to name.
    assert terms == {"purpose": None, "legal_basis": None, "personal_data": ["pd:PhysicalAddress"]}


def test_the_engine_records_the_route(policy: PolicySet) -> None:
    request = share(
        purpose="victim-safety",
        data_categories=("identity", "mental-health"),
        schedule1_condition="sch8-para3",
        necessity=FULL,
    )
    decision = evaluate(policy, request)
    assert decision.outcome is Outcome.PERMIT
    assert decision.data_protection == route(
        special_category=True,
        condition="sch8-para3",
        policy_document=document(policy, "apd-mappa-part3"),
    )
    assert decision.record()["data_protection"] == dict(decision.data_protection)
