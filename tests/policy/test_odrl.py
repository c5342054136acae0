"""The ODRL export of the rules, and the DPV terms on every decision.

The export is W3C ODRL 2.2 in JSON-LD. Expanded with pyld against the context shipped in the
package, and nothing from the network, every key it is written with maps to an IRI and nothing is
dropped; it carries the purposes, lawful bases, conditions and channels of the policy.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import pytest
from pyld import jsonld
from pyld.context_resolver import ContextResolver

from hub.config import SOURCE_POLICY_DIR
from hub.policy import odrl
from hub.policy.engine import evaluate
from hub.policy.loader import PolicySet, kind_of, load_policy
from hub.policy.model import ShareRequest
from hub.policy.odrl import ODRL_CONTEXT, ContextRefused, document_loader, to_odrl

ODRL = "http://www.w3.org/ns/odrl/2/"
DPV = "https://w3id.org/dpv#"
PD = "https://w3id.org/dpv/pd#"
GDPR = "https://w3id.org/dpv/legal/eu/gdpr#"
HUB = "https://mappa-hub.example/ns#"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
# Every IRI in the expansion is one of these: nothing relative, no compact IRI left unexpanded.
ABSOLUTE = re.compile(r"^(https?://|urn:)\S+$")
PREFIXED = re.compile(r"^(odrl|dpv|pd|eu-gdpr|hub|dct|rdfs|owl|skos|xsd):")


def full(term: str) -> str:
    """A dpv:, pd: or eu-gdpr: term of the policy files as the IRI it stands for."""
    prefix, _, local = term.partition(":")
    return {"dpv": DPV, "pd": PD, "eu-gdpr": GDPR}[prefix] + local


@pytest.fixture(scope="module")
def policy() -> PolicySet:
    return load_policy(SOURCE_POLICY_DIR)


@pytest.fixture(scope="module")
def doc(policy: PolicySet) -> dict[str, Any]:
    return to_odrl(policy)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a connection or looking up a name fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network call during JSON-LD processing: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


class Expander:
    """pyld with the hub's document loader, recording every URL asked for and every key dropped.
    Each expansion resolves its contexts afresh (pyld otherwise keeps resolved contexts for the
    process), so the loader is seen to serve every one."""

    def __init__(self) -> None:
        self.loaded: list[str] = []
        self.dropped: list[str | None] = []

    def loader(self, url: str, options: dict[str, Any]) -> dict[str, Any]:
        self.loaded.append(url)
        return document_loader(url, options)

    def __call__(self, document: dict[str, Any]) -> list[dict[str, Any]]:
        options = {
            "documentLoader": self.loader,
            "contextResolver": ContextResolver({}, self.loader),
        }
        expanded: list[dict[str, Any]] = jsonld.expand(
            document, options, on_property_dropped=self.dropped.append
        )
        return expanded


@pytest.fixture
def expander(no_network: None) -> Expander:
    return Expander()


@pytest.fixture
def expanded(doc: dict[str, Any], expander: Expander) -> dict[str, Any]:
    result = expander(doc)
    assert len(result) == 1
    return result[0]


def key_mapper(context: Any, expander: Expander) -> Callable[[str], str | None]:
    """What a key of a document under ``context`` expands to: an IRI, a keyword (for an alias such
    as ``uid``), or None if expansion drops it. Found by expanding the key alone, inside a node
    that a marker keeps from being dropped."""
    found: dict[str, str | None] = {}

    def iri(key: str) -> str | None:
        if key not in found:
            probe = {
                "@context": context,
                "@id": "urn:probe:subject",
                "urn:probe:p": {key: "urn:probe:o", "urn:probe:marker": "m"},
            }
            node = expander(probe)[0]["urn:probe:p"][0]
            keys = [k for k in node if k != "urn:probe:marker"]
            found[key] = keys[0] if len(keys) == 1 else None
        return found[key]

    return iri


def walk_keys(
    compact: Any, expanded: Any, iri: Callable[[str], str | None], path: str
) -> Iterator[str]:
    """Every problem found comparing the compact document with its expansion, key by key: a key
    that maps to no IRI, a key missing from the expansion, an IRI left relative or compact, a
    value lost. Arrays keep their order in expansion, so values are compared in order."""
    if isinstance(compact, dict):
        if not isinstance(expanded, dict):
            yield f"{path}: a node became {expanded!r}"
            return
        for key, value in compact.items():
            if key == "@context":
                continue
            where = f"{path}/{key}"
            target = key if key.startswith("@") else iri(key)
            if target is None or not (target.startswith("@") or ABSOLUTE.match(target)):
                yield f"{where}: the key maps to no IRI ({target!r})"
                continue
            if target not in expanded:
                yield f"{where}: dropped (no {target} in the expansion)"
                continue
            if target in ("@id", "@type"):
                ids = expanded[target] if isinstance(expanded[target], list) else [expanded[target]]
                yield from (
                    f"{where}: {i!r} is not an absolute IRI" for i in ids if not ABSOLUTE.match(i)
                )
                continue
            values = value if isinstance(value, list) else [value]
            got = expanded[target]
            if len(values) != len(got):
                yield f"{where}: {len(values)} values became {len(got)}"
                continue
            for index, (c, e) in enumerate(zip(values, got, strict=True)):
                here = f"{where}[{index}]"
                if isinstance(c, dict):
                    yield from walk_keys(c, e, iri, here)
                elif "@id" in e:
                    if not ABSOLUTE.match(e["@id"]):
                        yield f"{here}: {c!r} became {e['@id']!r}, not an absolute IRI"
                elif e.get("@value") != c:
                    yield f"{here}: {c!r} became {e!r}"
                elif isinstance(c, str) and PREFIXED.match(c):
                    yield f"{here}: {c!r} stayed a string; it should be an IRI"
    else:
        yield f"{path}: unexpected value {compact!r}"


def nodes(expanded: Any) -> Iterator[dict[str, Any]]:
    """Every node object in an expanded document."""
    if isinstance(expanded, list):
        for item in expanded:
            yield from nodes(item)
    elif isinstance(expanded, dict):
        yield expanded
        for key, value in expanded.items():
            if not key.startswith("@"):
                yield from nodes(value)


def by_id(expanded: dict[str, Any], prop: str) -> dict[str, dict[str, Any]]:
    return {n["@id"]: n for n in expanded[prop]}


def ids(values: list[dict[str, Any]]) -> set[str]:
    return {v["@id"] for v in values}


# The loader.


def test_the_loader_serves_the_shipped_odrl_context() -> None:
    shipped = json.loads(
        resources.files("hub.policy").joinpath("odrl-context.jsonld").read_text(encoding="utf-8")
    )
    for url in ("http://www.w3.org/ns/odrl.jsonld", "https://www.w3.org/ns/odrl.jsonld"):
        remote = document_loader(url, {})
        assert remote["document"] == shipped
        assert remote["documentUrl"] == url
        assert remote["contextUrl"] is None
    assert shipped["@context"]["odrl"] == ODRL
    # Each caller gets its own copy.
    document_loader(ODRL_CONTEXT, {})["document"]["@context"]["odrl"] = "changed"
    assert document_loader(ODRL_CONTEXT, {})["document"] == shipped


@pytest.mark.parametrize(
    "url",
    [
        "https://w3id.org/dpv",
        "https://www.w3.org/ns/odrl/2/",
        "http://www.w3.org/ns/odrl.jsonld#x",
        "https://example.org/context.jsonld",
        "file:///etc/passwd",
    ],
)
def test_the_loader_refuses_every_other_url(url: str, expander: Expander) -> None:
    with pytest.raises(ContextRefused, match="fetches nothing"):
        document_loader(url, {})
    with pytest.raises(jsonld.JsonLdError) as raised:
        expander({"@context": url, "name": "x"})
    cause: BaseException | None = raised.value
    while cause is not None and not isinstance(cause, ContextRefused):
        cause = cause.__cause__
    assert isinstance(cause, ContextRefused)
    assert expander.loaded == [url]


def test_expansion_makes_no_network_call(doc: dict[str, Any], expander: Expander) -> None:
    expander(doc)
    # The ODRL context, from the package; the hub's context is inline.
    assert expander.loaded == [ODRL_CONTEXT]
    assert doc["@context"][0] == ODRL_CONTEXT
    assert doc["@context"][1] == odrl.hub_context()


def test_the_operators_expand_uses_the_shipped_context(
    doc: dict[str, Any], expanded: dict[str, Any], no_network: None
) -> None:
    assert odrl.expand(doc) == [expanded]
    with pytest.raises(jsonld.JsonLdError):
        odrl.expand({"@context": "https://example.org/context.jsonld", "name": "x"})


# The document expands with nothing dropped.


def test_no_key_is_dropped(
    doc: dict[str, Any], expanded: dict[str, Any], expander: Expander
) -> None:
    assert expander.dropped == []
    iri = key_mapper(doc["@context"], expander)
    problems = list(walk_keys(doc, expanded, iri, ""))
    assert problems == []
    # The walk looked at every key of the document.
    assert iri("permission") == ODRL + "permission"
    assert iri("uid") == "@id"
    assert iri("hub:mappaLevel") == HUB + "mappaLevel"
    assert iri("not-a-term") is None


def test_the_key_walk_finds_a_dropped_key_and_an_unexpanded_term(expander: Expander) -> None:
    context = [ODRL_CONTEXT, odrl.hub_context()]
    broken = {
        "@context": context,
        "@type": "Set",
        "uid": "urn:mappa-hub:policy:x",
        "title": "not an ODRL term",
        "permission": [
            {
                "target": "urn:mappa-hub:data-category:identity",
                "action": "distribute",
                "rdfs:comment": "pd:Identifying",
            }
        ],
    }
    result = expander(broken)[0]
    assert expander.dropped == ["title"]
    problems = list(walk_keys(broken, result, key_mapper(context, expander), ""))
    assert problems == [
        "/title: the key maps to no IRI (None)",
        "/permission[0]/rdfs:comment[0]: 'pd:Identifying' stayed a string; it should be an IRI",
    ]


def test_every_iri_is_absolute(expanded: dict[str, Any]) -> None:
    for node in nodes(expanded):
        for key, value in node.items():
            assert key.startswith("@") or ABSOLUTE.match(key), key
            if key == "@id":
                assert ABSOLUTE.match(value), value
            if key == "@type":
                assert all(ABSOLUTE.match(t) for t in value), value
            if key == "@value" and isinstance(value, str):
                assert not PREFIXED.match(value), value


def test_the_document_converts_to_rdf(doc: dict[str, Any], expander: Expander) -> None:
    nquads = jsonld.to_rdf(
        doc,
        {
            "documentLoader": expander.loader,
            "contextResolver": ContextResolver({}, expander.loader),
            "format": "application/n-quads",
        },
    )
    assert "<urn:mappa-hub:policy:" in nquads
    assert f"<{ODRL}distribute>" in nquads
    assert f"<{PD}MentalHealth>" in nquads
    # No term became a literal.
    assert not re.search(r'"(odrl|dpv|pd|eu-gdpr|hub):', nquads)


# What the policy carries.


def test_odrl_has_a_permission_per_recipient_and_level(
    policy: PolicySet, doc: dict[str, Any]
) -> None:
    assert doc["@type"] == "Set"
    assert doc["uid"] == f"urn:mappa-hub:policy:{policy.version}"
    assert doc["conflict"] == "prohibit"
    by_uid = {p["uid"]: p for p in doc["permission"]}
    for agency_type, rule in policy.recipients.items():
        for level in (1, 2, 3):
            uid = f"urn:mappa-hub:rule:proportionality.{agency_type}.level-{level}"
            assert (uid in by_uid) == bool(rule.by_level[level]), uid
    housing = by_uid["urn:mappa-hub:rule:proportionality.housing.level-2"]
    assert housing["action"] == "distribute"
    assert {t["uid"] for t in housing["target"]} == {
        f"urn:mappa-hub:data-category:{c}" for c in policy.recipients["housing"].by_level[2]
    }
    constraints = {c["leftOperand"]: c for c in housing["constraint"]}
    assert constraints["recipient"]["operator"] == "eq"
    assert constraints["recipient"]["rightOperand"] == {"@id": "urn:mappa-hub:agency-type:housing"}
    assert constraints["hub:mappaLevel"]["rightOperand"] == 2
    assert {"@id": "urn:mappa-hub:purpose:accommodation-placement"} in constraints["purpose"][
        "rightOperand"
    ]
    assert {"@id": "urn:mappa-hub:lawful-basis:cja2003-s325"} in constraints["hub:lawfulBasis"][
        "rightOperand"
    ]
    assert {"@id": "urn:mappa-hub:channel:hub"} in constraints["deliveryChannel"]["rightOperand"]
    assert housing["hub:agreement"] == policy.agreements["mappa-isp"].uri
    assert "duty" not in housing
    third = by_uid["urn:mappa-hub:rule:proportionality.third-party.level-3"]
    assert sorted(d["hub:approverRole"] for d in third["duty"]) == [
        "urn:mappa-hub:role:coordinator",
        "urn:mappa-hub:role:senior-manager",
    ]
    third_2 = by_uid["urn:mappa-hub:rule:proportionality.third-party.level-2"]
    assert [d["hub:approverRole"] for d in third_2["duty"]] == ["urn:mappa-hub:role:coordinator"]


def test_targets_are_typed_with_their_dpv_personal_data_terms(
    policy: PolicySet, doc: dict[str, Any], expanded: dict[str, Any]
) -> None:
    police = next(
        p for p in doc["permission"] if p["uid"].endswith("proportionality.police.level-1")
    )
    assert {"uid": "urn:mappa-hub:data-category:mental-health", "@type": "pd:MentalHealth"} in (
        police["target"]
    )
    assert {"uid": "urn:mappa-hub:data-category:notification"} in police["target"]
    categories = {n["@id"]: n for n in expanded[HUB + "dataCategory"]}
    for name, category in policy.categories.items():
        node = categories[f"urn:mappa-hub:data-category:{name}"]
        assert ODRL + "Asset" in node["@type"]
        if category.dpv:
            assert full(category.dpv) in node["@type"]
        assert node[HUB + "specialCategory"] == [{"@value": category.special_category}]
        assert node[HUB + "criminalOffence"] == [{"@value": category.criminal_offence}]


def test_restricted_categories_are_prohibitions(policy: PolicySet, doc: dict[str, Any]) -> None:
    by_uid = {p["uid"]: p for p in doc["prohibition"]}
    victim = by_uid["urn:mappa-hub:rule:restricted.victim-information"]
    assert victim["action"] == "distribute"
    assert victim["target"]["uid"] == "urn:mappa-hub:data-category:victim-information"
    constraints = {c["leftOperand"]: c for c in victim["constraint"]}
    refused = constraints["recipient"]["rightOperand"]
    assert {"@id": "urn:mappa-hub:agency-type:probation"} in refused
    assert {"@id": "urn:mappa-hub:agency-type:victim-liaison"} not in refused
    assert constraints["hub:restrictedReasonStated"]["rightOperand"] is False
    intelligence = by_uid["urn:mappa-hub:rule:restricted.intelligence"]
    assert "hub:restrictedReasonStated" not in {
        c["leftOperand"] for c in intelligence["constraint"]
    }
    # A stated reason lets a "review" category through, with a coordinator's approval.
    permits = {p["uid"]: p for p in doc["permission"]}
    probation = permits["urn:mappa-hub:rule:proportionality.probation.stated-reason"]
    assert {t["uid"] for t in probation["target"]} == {
        f"urn:mappa-hub:data-category:{c}"
        for c, r in policy.restricted.items()
        if r.with_reason == "review" and c not in policy.recipients["probation"].by_level[1]
    }
    assert {
        "leftOperand": "hub:restrictedReasonStated",
        "operator": "eq",
        "rightOperand": True,
    } in (probation["constraint"])
    assert [d["hub:approvalRule"] for d in probation["duty"]] == [
        "urn:mappa-hub:rule:approvals.restricted-category-with-reason"
    ]


def test_boundaries_are_a_prohibition_and_an_obligation(
    policy: PolicySet, doc: dict[str, Any]
) -> None:
    by_uid = {p["uid"]: p for p in doc["prohibition"]}
    jurisdiction = by_uid["urn:mappa-hub:rule:boundaries.other-jurisdiction"]
    assert jurisdiction["target"]["@type"] == "AssetCollection"
    constraints = {c["leftOperand"]: c for c in jurisdiction["constraint"]}
    assert constraints["hub:recipientArea"]["rightOperand"] == {"@id": "hub:OtherJurisdiction"}
    assert constraints["hub:packetType"]["operator"] == "isNoneOf"
    assert ids(constraints["hub:packetType"]["rightOperand"]) == {
        f"urn:mappa-hub:packet-type:{t}" for t in policy.other_jurisdiction.travels
    }
    [area] = doc["obligation"]
    assert area["uid"] == "urn:mappa-hub:rule:boundaries.other-area"
    assert area["action"] == "hub:obtainApproval"
    assert area["hub:approverRole"] == [
        f"urn:mappa-hub:role:{r}" for r in policy.other_area.approvers
    ]
    assert area["hub:approvingArea"] == ["hub:SenderArea", "hub:RecipientArea"]


def test_every_purpose_appears_with_its_dpv_term(
    policy: PolicySet, expanded: dict[str, Any]
) -> None:
    purposes = by_id(expanded, DPV + "hasPurpose")
    assert set(purposes) == {f"urn:mappa-hub:purpose:{p}" for p in policy.purposes}
    for name, purpose in policy.purposes.items():
        node = purposes[f"urn:mappa-hub:purpose:{name}"]
        assert DPV + "Purpose" in node["@type"]
        if purpose.dpv:
            assert full(purpose.dpv) in node["@type"]
        assert node[RDFS_LABEL] == [{"@value": purpose.label}]
        assert node[HUB + "lawEnforcement"] == [{"@value": purpose.law_enforcement}]


def test_every_lawful_basis_appears_with_its_statute_and_dpv_term(
    policy: PolicySet, expanded: dict[str, Any]
) -> None:
    bases = by_id(expanded, DPV + "hasLegalBasis")
    assert set(bases) == {f"urn:mappa-hub:lawful-basis:{b}" for b in policy.lawful_bases}
    for name, basis in policy.lawful_bases.items():
        node = bases[f"urn:mappa-hub:lawful-basis:{name}"]
        assert full(basis.dpv) in node["@type"]
        assert node[HUB + "statute"] == [{"@id": basis.statute}]
        assert node[HUB + "nature"] == [{"@value": basis.nature}]
        assert ids(node[DPV + "hasPurpose"]) == {
            f"urn:mappa-hub:purpose:{p}" for p in basis.purposes
        }
        assert ids(node[DPV + "hasJurisdiction"]) == {
            f"urn:mappa-hub:jurisdiction:{j}" for j in basis.jurisdictions
        }
        art6 = (
            "eu-gdpr:A6-1-f" if basis.legitimate_interests else policy.data_protection.general_dpv
        )
        assert node[HUB + "ukGdprBasis"] == [{"@id": full(art6)}]
    # Every basis is named by the permissions to the recipients it reaches.
    named = {
        ref["@id"]
        for node in nodes(expanded[ODRL + "permission"])
        for constraint in node.get(ODRL + "constraint", [])
        if constraint[ODRL + "leftOperand"] == [{"@id": HUB + "lawfulBasis"}]
        for ref in constraint[ODRL + "rightOperand"]
    }
    assert named == set(bases)


def test_every_condition_appears_with_its_policy_document(
    policy: PolicySet, expanded: dict[str, Any]
) -> None:
    conditions = by_id(expanded, HUB + "condition")
    assert set(conditions) == {f"urn:mappa-hub:condition:{c}" for c in policy.conditions}
    documents = by_id(expanded, HUB + "policyDocument")
    assert set(documents) == {d.uri for d in policy.policy_documents.values()}
    for name, condition in policy.conditions.items():
        node = conditions[f"urn:mappa-hub:condition:{name}"]
        assert HUB + f"Schedule{condition.schedule}Condition" in node["@type"]
        if condition.dpv:
            assert full(condition.dpv) in node["@type"]
        assert node[HUB + "statute"] == [{"@id": condition.statute}]
        assert node[HUB + "schedule"] == [{"@value": condition.schedule}]
        assert ids(node[DPV + "hasPurpose"]) == {
            f"urn:mappa-hub:purpose:{p}" for p in condition.purposes
        }
        if condition.policy_document is None:
            assert HUB + "policyDocument" not in node
        else:
            uri = policy.policy_documents[condition.policy_document].uri
            assert node[HUB + "policyDocument"] == [{"@id": uri}]
    regimes = by_id(expanded, HUB + "regime")
    general = regimes["urn:mappa-hub:regime:general"]
    assert general[DPV + "hasLegalBasis"] == [{"@id": full(policy.data_protection.general_dpv)}]


def test_every_channel_appears_and_is_named_by_a_permission(
    policy: PolicySet, doc: dict[str, Any], expanded: dict[str, Any]
) -> None:
    channels = by_id(expanded, HUB + "channel")
    assert set(channels) == {f"urn:mappa-hub:channel:{c}" for c in policy.channels}
    for name, channel in policy.channels.items():
        node = channels[f"urn:mappa-hub:channel:{name}"]
        assert node["@type"] == [HUB + "Channel"]
        assert node[HUB + "agreement"] == [{"@id": policy.agreements[channel.agreement].uri}]
        if channel.categories is None:
            assert ids(node[HUB + "carries"]) == {HUB + "AnyDataCategory"}
        else:
            assert ids(node[HUB + "carries"]) == {
                f"urn:mappa-hub:data-category:{c}" for c in channel.categories
            }
    offered: dict[str, set[str]] = {}
    for permission in doc["permission"]:
        constraints = {c["leftOperand"]: c for c in permission["constraint"]}
        recipient = constraints["recipient"]["rightOperand"]["@id"].rsplit(":", 1)[1]
        offered.setdefault(kind_of(recipient), set()).update(
            ids(constraints["deliveryChannel"]["rightOperand"])
        )
    for name, channel in policy.channels.items():
        for kind in channel.recipient_kinds or offered:
            assert f"urn:mappa-hub:channel:{name}" in offered[kind], (name, kind)
    # Email carries notifications only: everything else is prohibited on it.
    email = next(p for p in doc["prohibition"] if p["uid"].endswith("channels.email"))
    assert email["constraint"] == [
        {
            "leftOperand": "deliveryChannel",
            "operator": "eq",
            "rightOperand": {"@id": "urn:mappa-hub:channel:email"},
        }
    ]
    assert {t["uid"] for t in email["target"]} == {
        f"urn:mappa-hub:data-category:{c}" for c in policy.categories if c != "notification"
    }


def test_every_hub_term_is_in_the_hub_vocabulary(expanded: dict[str, Any]) -> None:
    used = set()
    for node in nodes(expanded):
        for key, value in node.items():
            candidates = [key]
            if key in ("@id", "@type"):
                candidates = value if isinstance(value, list) else [value]
            used.update(c[len(HUB) :] for c in candidates if c.startswith(HUB))
    assert used == set(odrl.HUB_TERMS)


# The DPV terms on a decision.


def test_decision_carries_dpv_terms(policy: PolicySet) -> None:
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
        "purpose": "dpv:ProtectionOfPublicSecurity",
        "legal_basis": "dpv:LegalObligation",
        "personal_data": ["pd:Criminal", "pd:MentalHealth"],
    }
